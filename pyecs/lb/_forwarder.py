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
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

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

    def answer(self, started: float, data: bytes) -> None:
        """Count one answer: ``data`` its first bytes, ``started`` the ``perf_counter()``
        when its target accepted the connection."""
        self.responses += 1
        self.response_time += time.perf_counter() - started
        if data.startswith(b"HTTP/") and data[8:10] == b" 5":
            self.target_5xx += 1

    def observer(self) -> Callable[[bytes], None]:
        """A callback for the first bytes of one answer: counts its time and status."""
        started = time.perf_counter()

        def first(data: bytes) -> None:
            self.answer(started, data)

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
    #: ``AF_INET``/``AF_INET6`` for a numeric host (the callback path connects to it
    #: without a resolver), else None; and the address tuple, built once.
    family: int | None = attrs.field(init=False)
    sockaddr: tuple[str, int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.family = reactor.numeric_family(self.host)
        self.sockaddr = (self.host, self.port)

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


def release(target: Target) -> None:
    """A connection to ``target`` ended (or never began)."""
    target.outstanding -= 1
    if target.outstanding == 0:
        target.idle.set()
        target.idle = anyio.Event()


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
        self._closing: anyio.Event | None = None
        self._acceptor: reactor.Acceptor | None = None

    async def serve(self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup) -> None:
        """Accept clients until the listener closes; each one is handled in ``tg``."""
        if fastpath.on_asyncio():
            await self._serve_callbacks(listener.extra(SocketAttribute.raw_socket), tg)
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

    def close(self) -> None:
        """The listener is about to close: accept no more (the open links may finish)."""
        if self._acceptor is not None:
            self._acceptor.stop()  # now: the socket closes before the serving task runs
        if self._closing is not None:
            self._closing.set()

    async def _serve_callbacks(self, listening: socket.socket, tg: anyio.abc.TaskGroup) -> None:
        """Serve with loop callbacks only (see ``_reactor``) until :meth:`close`."""
        links = _Router(
            self.stats, self._picker, self._eligible, self._timeout, self._handle_fast, tg
        )
        acceptor = self._acceptor = reactor.Acceptor(links.loop, listening, links.accept)
        self._closing = closing = anyio.Event()
        try:
            # Accepted sockets inherit TCP_NODELAY from the listening one on Linux: one
            # system call per client fewer. Elsewhere each client gets it.
            listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            acceptor.start()
            await closing.wait()
            acceptor.stop()
            await links.wait_closed()  # the listener closes: let them finish
        finally:
            acceptor.stop()
            links.close()

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
                release(target)
                tried.add(target.key)
                self.stats.retried += 1
                continue
            except BaseException:
                release(target)
                raise
            return target, stream

    async def _connect_stream(self, host: str, port: int) -> anyio.abc.SocketStream:
        with anyio.fail_after(self._timeout):
            return await anyio.connect_tcp(host, port)

    async def _connect_fast(self, host: str, port: int) -> fastpath.Half:
        async with asyncio.timeout(self._timeout):  # cheaper than a cancel scope, per connect
            return await fastpath.connect(host, port)

    # -- handling --------------------------------------------------------------------------

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
            release(target)

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
                release(target)


#: Accepted sockets inherit TCP_NODELAY from the listening socket (Linux does).
_NODELAY_INHERITED = sys.platform == "linux"


class _Router(reactor.Links):
    """The forwarder's side of the callback path: which target, what to count.

    Per client: pick a target, count it (``outstanding``), connect; a refusal tries the
    next target the picker offers; once connected the link is the target's to close
    (``closers``) until it ends.
    """

    def __init__(
        self,
        stats: LoadBalancerStats,
        picker: RoundRobin | LeastOutstanding,
        eligible: Callable[[], list[Target]],
        timeout: float,
        hand_over: Callable[[socket.socket], Coroutine[Any, Any, None]],
        tg: anyio.abc.TaskGroup,
    ) -> None:
        super().__init__()
        self.stats, self.pick, self.eligible, self.timeout = stats, picker.pick, eligible, timeout
        #: Serves a client with a task instead (a target known by name: to resolve).
        self.hand_over, self.tg = hand_over, tg

    def accept(self, client: socket.socket) -> None:
        self.stats.connections += 1
        client.setblocking(False)
        if not _NODELAY_INHERITED:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.attempt(self.add(client))

    def attempt(self, link: reactor.Link) -> None:
        target = self.pick(self.eligible(), link.tried or ())
        if target is None:
            self.stats.rejected += 1
            link.abort()
            return
        if target.family is None:  # a name to resolve: the task-based path does that
            self.discard(link)
            self.tg.start_soon(self.hand_over, link.client)
            return
        target.outstanding += 1
        link.target = target
        link.connect(target.family, target.sockaddr, self.timeout)

    def connected(self, link: reactor.Link) -> None:
        link.started = time.perf_counter()
        link.target.closers.add(link.abort)
        self.stats.requests += 1
        link.pair()

    def refused(self, link: reactor.Link) -> None:
        target: Target = link.target
        link.target = None
        release(target)
        if link.tried is None:
            link.tried = set()
        link.tried.add(target.key)
        self.stats.retried += 1
        self.attempt(link)

    def answered(self, link: reactor.Link, data: bytes) -> None:
        self.stats.answer(link.started, data)

    def ended(self, link: reactor.Link) -> None:
        target: Target | None = link.target
        if target is not None:
            link.target = None
            target.closers.discard(link.abort)
            release(target)
