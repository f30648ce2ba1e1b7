"""``ServiceLoadBalancer`` on its own, in front of in-test servers, under asyncio and trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

import pyecs
from pyecs.lb import ServiceLoadBalancer

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])]


@asynccontextmanager
async def server(name: str) -> AsyncIterator[anyio.abc.SocketListener]:
    """Reads until EOF or a blank line, then answers ``name:<what it read>`` and closes."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            try:
                while not data.endswith(b"\n\n"):
                    data += await stream.receive()
            except anyio.EndOfStream:
                pass
            await stream.send(name.encode() + b":" + data.strip())

    async def serve() -> None:
        try:
            await listener.serve(handle)
        except* anyio.ClosedResourceError:
            pass  # the test closed it: it refuses connections from now on

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        yield listener.listeners[0]  # type: ignore[misc]
        tg.cancel_scope.cancel()


def port(listener: anyio.abc.SocketListener) -> int:
    return int(listener.extra(anyio.abc.SocketAttribute.local_port))


@asynccontextmanager
async def balancer(**settings: object) -> AsyncIterator[ServiceLoadBalancer]:
    check = pyecs.TargetGroupHealthCheck(interval=60, timeout=1, healthy_threshold=1)
    config = pyecs.LoadBalancer(
        container_name="web",
        container_port=80,
        health_check=check,
        **settings,  # type: ignore[arg-type]
    )
    lb = ServiceLoadBalancer(
        config,
        service_name="web-app",
        target_group_name="web-app-80",
        target_group_arn="arn:tg",
        on_change=lambda: None,
    )
    async with lb.listening(), anyio.create_task_group() as tg:
        tg.start_soon(lb.serve)
        yield lb
        tg.cancel_scope.cancel()


async def ask(lb: ServiceLoadBalancer, text: bytes = b"hi\n\n") -> bytes:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp("127.0.0.1", lb.port) as stream:
            await stream.send(text)
            out = b""
            try:
                while True:
                    out += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return out


async def healthy(lb: ServiceLoadBalancer, count: int) -> None:
    with anyio.fail_after(5):
        while sum(t.state == "healthy" for t in lb.targets()) < count:
            await anyio.sleep(0.01)


async def test_a_refusing_target_is_skipped_unnoticed() -> None:
    async with server("a") as a, server("b") as b, balancer() as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        lb.register("task-b", "b", f"127.0.0.1:{port(b)}")
        await healthy(lb, 2)
        await a.aclose()  # still "healthy" for the next minute of checks
        answers = [await ask(lb) for _ in range(10)]
        assert answers == [b"b:hi"] * 10
        assert lb.stats.retried >= 5


async def test_client_half_close_still_gets_the_answer() -> None:
    async with server("a") as a, balancer() as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        await healthy(lb, 1)
        with anyio.fail_after(5):
            async with await anyio.connect_tcp("127.0.0.1", lb.port) as stream:
                await stream.send(b"ping")
                await stream.send_eof()
                assert await stream.receive() == b"a:ping"


async def test_without_a_healthy_target_the_connection_is_closed() -> None:
    async with balancer() as lb:
        assert await ask(lb) == b""
        assert lb.stats.rejected == 1
        lb.register("task-x", "x", "127.0.0.1:1")  # nothing listens there: never healthy
        await anyio.sleep(0.1)
        assert lb.targets()[0].state == "initial"
        assert await ask(lb) == b""


async def test_fails_open_when_every_target_is_unhealthy() -> None:
    async with server("a") as a, balancer() as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        await healthy(lb, 1)
        lb._targets["task-a"].health.record(False)
        lb._targets["task-a"].health.record(False)
        assert lb.state_of("task-a") == "unhealthy"
        assert await ask(lb) == b"a:hi"  # ELB: all unhealthy -> route to all


async def test_drain_waits_for_open_connections_up_to_the_delay() -> None:
    async with server("a") as a, balancer(deregistration_delay=0.3) as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        await healthy(lb, 1)
        async with await anyio.connect_tcp("127.0.0.1", lb.port) as idle:
            with anyio.fail_after(5):
                while lb.targets()[0].connections != 1:
                    await anyio.sleep(0.01)
            start = anyio.current_time()
            await lb.drain("task-a")
            assert 0.25 < anyio.current_time() - start < 2
            assert lb.targets() == []
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await idle.receive()


async def test_drain_ends_early_once_connections_are_done() -> None:
    async with server("a") as a, balancer(deregistration_delay=60) as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        await healthy(lb, 1)
        with anyio.fail_after(5):
            async with await anyio.connect_tcp("127.0.0.1", lb.port) as stream:
                while lb.targets()[0].connections != 1:
                    await anyio.sleep(0.01)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(lb.drain, "task-a")
                    await anyio.sleep(0.1)
                    assert lb.state_of("task-a") == "draining"
                    assert await ask(lb) == b""  # no new connections
                    await stream.send(b"last\n\n")
                    assert await stream.receive() == b"a:last"
        assert lb.targets() == []
        assert lb.take_messages() == [
            "(service web-app) registered 1 targets in (target-group arn:tg)",
            "(service web-app) deregistered 1 targets in (target-group arn:tg)",
        ]
