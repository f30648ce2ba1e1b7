"""The data path: accept a client, pick a target, connect (retrying on refusal), splice.

A client connection is tried on the targets the algorithm offers, in turn, until one
accepts the TCP connection: a refused (or timed-out) connect is invisible to the client,
which has not been sent a byte yet. Each open connection counts against its target
(``outstanding``, which least-outstanding balancing and draining read) and can be closed
by the target's owner (the deregistration delay ran out, the task is gone).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import anyio.abc
import attrs
from anyio.abc import SocketAttribute

import pyecs.lb._fastpath as fastpath
import pyecs.lb._reactor as reactor
from pyecs.lb._algorithms import LeastOutstanding, RoundRobin
from pyecs.lb._health import TargetHealth
from pyecs.lb._proxy import nodelay, splice

__all__ = ["Forwarder", "LoadBalancerStats", "Target"]

C = TypeVar("C")


@attrs.define
class LoadBalancerStats:
    """Counters since the listener opened.

    Attributes:
        connections: Client connections accepted.
        retried: Connection attempts a target refused (each then went to another target).
        rejected: Client connections closed because no target could take them.
        requests: Connections handed to a target (ELB ``RequestCount``: the balancer
            forwards TCP, so a keep-alive connection counts as one request).
        responses: Exchanges whose target answered at least one byte.
        response_time: Seconds, summed over ``responses``, from the connection to the
            target until its first byte (ELB ``TargetResponseTime``).
        target_5xx: Answers that began with an HTTP 5xx status line
            (``HTTPCode_Target_5XX_Count``).
    """

    connections: int = 0
    retried: int = 0
    rejected: int = 0
    requests: int = 0
    responses: int = 0
    response_time: float = 0.0
    target_5xx: int = 0

    def observer(self) -> Callable[[bytes], None]:
        """A callback for the first bytes of one answer: counts its time and status."""
        started = time.perf_counter()

        def first(data: bytes) -> None:
            self.responses += 1
            self.response_time += time.perf_counter() - started
            if data.startswith(b"HTTP/") and data[8:10] == b" 5":
                self.target_5xx += 1

        return first


@attrs.define(eq=False)
class Target:
    """A registered target: where it is, its health, its open connections."""

    task_arn: str
    task_id: str
    host: str
    port: int
    health: TargetHealth
    outstanding: int = 0
    closers: set[Callable[[], None]] = attrs.field(factory=set)
    checks: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    idle: anyio.Event = attrs.field(factory=anyio.Event)
    drain_started: float | None = None

    @property
    def key(self) -> str:
        return self.task_arn

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def close_connections(self) -> None:
        """Close every connection open to this target now."""
        for close in list(self.closers):
            close()


class Forwarder:
    """Moves client connections to targets, for one listener."""

    def __init__(
        self,
        picker: RoundRobin | LeastOutstanding,
        eligible: Callable[[], list[Target]],
        connect_timeout: float,
    ) -> None:
        self.stats = LoadBalancerStats()
        self._picker = picker
        self._eligible = eligible
        self._timeout = connect_timeout
        self._links_now: reactor.Links | None = None

    async def serve(self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup) -> None:
        """Accept clients until the listener closes; each one is handled in ``tg``."""
        if fastpath.on_asyncio():
            links = self._links_now = reactor.Links()
            try:
                await self._serve_fast(listener.extra(SocketAttribute.raw_socket), tg)
                await links.wait_closed()  # the listener closed: let them finish
            finally:
                links.abort_all()
            return
        while True:
            try:
                client = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError:  # out of file descriptors...: back off, keep serving
                await anyio.sleep(0.05)
                continue
            self.stats.connections += 1
            tg.start_soon(self._handle, client)

    async def _serve_fast(self, listening: socket.socket, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                client = await fastpath.accept(listening)
            except OSError:
                if listening.fileno() < 0:
                    return  # closed
                await anyio.sleep(0.05)  # out of file descriptors...: back off, keep serving
                continue
            while True:  # take every client already waiting, then wait again
                self.stats.connections += 1
                self._handle_link(client, tg)
                try:
                    client, _ = listening.accept()
                except OSError:  # BlockingIOError: none left
                    break

    # -- connecting ------------------------------------------------------------------------

    async def _connect(
        self, connect: Callable[[str, int], Awaitable[C]]
    ) -> tuple[Target, C] | None:
        tried: set[str] = set()
        while True:
            target = self._picker.pick(self._eligible(), tried)
            if target is None:
                return None
            target.outstanding += 1
            try:
                stream = await connect(target.host, target.port)
            except (OSError, TimeoutError):
                self._release(target)
                tried.add(target.key)
                self.stats.retried += 1
                continue
            except BaseException:
                self._release(target)
                raise
            return target, stream

    async def _connect_stream(self, host: str, port: int) -> anyio.abc.SocketStream:
        with anyio.fail_after(self._timeout):
            return await anyio.connect_tcp(host, port)

    async def _connect_fast(self, host: str, port: int) -> fastpath.Half:
        async with asyncio.timeout(self._timeout):  # cheaper than a cancel scope, per connect
            return await fastpath.connect(host, port)

    @staticmethod
    def _release(target: Target) -> None:
        target.outstanding -= 1
        if target.outstanding == 0:
            target.idle.set()
            target.idle = anyio.Event()

    # -- handling --------------------------------------------------------------------------

    def _handle_link(self, client: socket.socket, tg: anyio.abc.TaskGroup) -> None:
        """Connect ``client`` to a target with loop callbacks only (see ``_reactor``)."""
        links = self._links_now
        assert links is not None
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = links.add(client)
        tried: set[str] = set()

        def attempt() -> None:
            target = self._picker.pick(self._eligible(), tried)
            if target is None:
                self.stats.rejected += 1
                link.abort()
                return
            family = reactor.numeric_family(target.host)
            if family is None:  # a name to resolve: the task-based path does that
                links.discard(link)
                tg.start_soon(self._handle_fast, client)
                return
            target.outstanding += 1

            def connected(upstream: socket.socket | None) -> None:
                link.cancel_connect = None
                if upstream is None:
                    self._release(target)
                    tried.add(target.key)
                    self.stats.retried += 1
                    attempt()
                    return

                def closed() -> None:
                    target.closers.discard(link.abort)
                    self._release(target)

                target.closers.add(link.abort)
                self.stats.requests += 1
                link.pair(upstream, closed, self.stats.observer())

            cancel = reactor.connect_nonblocking(
                links.loop, family, target.host, target.port, self._timeout, connected
            )

            def cancel_and_release() -> None:  # the link closes while connecting
                cancel()
                self._release(target)

            link.cancel_connect = cancel_and_release

        attempt()

    async def _handle_fast(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            connected = await self._connect(self._connect_fast)
        except BaseException:
            client.close()
            raise
        if connected is None:
            self.stats.rejected += 1
            client.close()
            return
        target, upstream = connected
        self.stats.requests += 1
        upstream.on_first = self.stats.observer()
        try:
            await fastpath.splice(client, upstream, target.closers)
        finally:
            self._release(target)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            connected = await self._connect(self._connect_stream)
            if connected is None:
                self.stats.rejected += 1
                return
            target, upstream = connected
            self.stats.requests += 1
            observe = self.stats.observer()
            scope = anyio.CancelScope()
            target.closers.add(scope.cancel)
            try:
                with scope:
                    nodelay(client)
                    nodelay(upstream)
                    async with upstream:
                        await splice(client, upstream, observe)
            finally:
                target.closers.discard(scope.cancel)
                self._release(target)
