"""``ServiceLoadBalancer`` on its own, in front of in-test servers, under asyncio (with its
own loop and with uvloop, whose data path is the same callbacks on another loop) and trio."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

import pyecs
from pyecs.lb import ServiceLoadBalancer

UVLOOP = pytest.param(
    ("asyncio", {"use_uvloop": True}),
    id="uvloop",
    marks=pytest.mark.skipif(
        importlib.util.find_spec("uvloop") is None or sys.platform == "win32",
        reason="uvloop is not installed (the test extra installs it)",
    ),
)
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.parametrize("anyio_backend", ["asyncio", UVLOOP, "trio"]),
]


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


@asynccontextmanager
async def http_server(codes: list[int]) -> AsyncIterator[tuple[int, list[float]]]:
    """Answers each request with the status ``codes[0]`` (change it to change the answer);
    yields the port and the time each request arrived."""
    arrivals: list[float] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return
            arrivals.append(anyio.current_time())
            await stream.send(f"HTTP/1.1 {codes[0]} X\r\nContent-Length: 0\r\n\r\n".encode())

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield port(listener.listeners[0]), arrivals  # type: ignore[arg-type]
        tg.cancel_scope.cancel()
    await listener.aclose()


def port(listener: anyio.abc.SocketListener) -> int:
    return int(listener.extra(anyio.abc.SocketAttribute.local_port))


@asynccontextmanager
async def balancer(**settings: object) -> AsyncIterator[ServiceLoadBalancer]:
    # ELB's thresholds (5 and 2): a new target needs one passing check, the one sent at
    # registration; the next comes a minute later.
    check = pyecs.TargetGroupHealthCheck(interval=60, timeout=1)
    settings.setdefault("health_check", check)
    config = pyecs.LoadBalancer(
        container_name="web",
        container_port=80,
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


async def test_a_new_target_is_checked_at_registration_and_one_pass_makes_it_healthy() -> None:
    """ELB: "After your target is registered, it must pass one health check to be considered
    healthy" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
    The first check goes out at registration, not one interval (here a minute) later."""
    async with server("a") as a, balancer() as lb:  # interval 60 s, healthy_threshold 5
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        assert lb.state_of("task-a") == "initial"
        await healthy(lb, 1)  # within 5 s
        assert await ask(lb) == b"a:hi"


async def test_a_new_target_failing_its_first_check_is_checked_again_an_interval_later() -> None:
    """Still ``initial`` after one failure (UnhealthyThresholdCount is 2): the next check,
    one interval later, passes and is enough."""
    check = pyecs.TargetGroupHealthCheck(protocol="HTTP", interval=2, timeout=1)
    codes = [503]
    async with http_server(codes) as (target_port, arrivals), balancer(health_check=check) as lb:
        registered = anyio.current_time()
        lb.register("task-a", "a", f"127.0.0.1:{target_port}")
        with anyio.fail_after(1):  # at registration: well before the 2 s interval
            while lb.targets()[0].reason == "":
                await anyio.sleep(0.01)
        target = lb.targets()[0]
        assert (target.state, target.reason) == (
            "initial",
            "Health checks failed with these codes: [503]",
        )
        codes[0] = 200  # the application is up now
        with anyio.fail_after(5):
            while lb.state_of("task-a") != "healthy":
                await anyio.sleep(0.01)
        assert len(arrivals) == 2  # two checks: one failed, one passed
        assert arrivals[1] - arrivals[0] == pytest.approx(check.interval, abs=0.5)
        assert arrivals[0] - registered < 1


async def test_drain_without_connections_completes_at_once() -> None:
    """ELB: "If a deregistering target has no in-flight requests and no active connections,
    Elastic Load Balancing immediately completes the deregistration process, without waiting
    for the deregistration delay to elapse" (Deregistration delay,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/modify-target-group-health-settings.html)."""
    async with server("a") as a, balancer(deregistration_delay=300) as lb:
        lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
        await healthy(lb, 1)
        assert await ask(lb) == b"a:hi"
        with anyio.fail_after(5):
            while lb.targets()[0].connections:
                await anyio.sleep(0.01)
        with anyio.fail_after(2):  # not 300 s
            await lb.drain("task-a")
        assert lb.targets() == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_statistics_count_requests_answers_and_5xx(host: str) -> None:
    """They feed the ELB metrics and request-count auto scaling, on every data path: asyncio's
    callbacks (a numeric address), its task-based path (a name to resolve), uvloop, trio."""
    codes = [200]
    request = b"GET / HTTP/1.1\r\nHost: lb\r\n\r\n"
    async with http_server(codes) as (target_port, _), balancer() as lb:
        lb.register("task-a", "a", f"{host}:{target_port}")
        await healthy(lb, 1)
        assert (await ask(lb, request)).startswith(b"HTTP/1.1 200 ")
        codes[0] = 503
        assert (await ask(lb, request)).startswith(b"HTTP/1.1 503 ")
        with anyio.fail_after(5):  # the link is released just after the client saw the end
            while lb.targets()[0].connections:
                await anyio.sleep(0.01)
        stats = lb.stats
        assert (stats.connections, stats.requests, stats.responses) == (2, 2, 2)
        assert stats.target_5xx == 1
        assert 0 < stats.response_time < 5


async def test_a_target_slow_to_accept_is_skipped_after_the_connect_timeout() -> None:
    """A connect still in progress waits (at most ``connect_timeout``), then the next target
    takes the client, who notices nothing but the wait."""
    async with server("b") as b, balancer(connect_timeout=0.3) as lb:
        with socket.socket() as stuck:
            stuck.bind(("127.0.0.1", 0))
            stuck.listen(0)
            lb.register("task-a", "a", f"127.0.0.1:{stuck.getsockname()[1]}")
            await healthy(lb, 1)  # its check's connection now fills the accept queue
            lb.register("task-b", "b", f"127.0.0.1:{port(b)}")
            await healthy(lb, 2)
            started = anyio.current_time()
            answers = [await ask(lb) for _ in range(4)]
            assert answers == [b"b:hi"] * 4
            assert lb.stats.retried >= 1  # round robin offers the stuck one first
            assert 0.3 <= anyio.current_time() - started < 0.3 * 4 + 2


async def test_a_closed_listener_refuses_new_clients_and_lets_open_ones_finish() -> None:
    check = pyecs.TargetGroupHealthCheck(interval=60, timeout=1)
    lb = ServiceLoadBalancer(
        pyecs.LoadBalancer(container_name="web", container_port=80, health_check=check),
        service_name="web-app",
        target_group_name="web-app-80",
        target_group_arn="arn:tg",
        on_change=lambda: None,
    )
    async with server("a") as a, anyio.create_task_group() as tg:
        async with lb.listening():
            tg.start_soon(lb.serve)
            lb.register("task-a", "a", f"127.0.0.1:{port(a)}")
            await healthy(lb, 1)
            stream = await anyio.connect_tcp("127.0.0.1", lb.port)
            with anyio.fail_after(5):
                while lb.targets()[0].connections != 1:
                    await anyio.sleep(0.01)
        # The listener is closed; the balancer still serves what it had accepted.
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", lb.port)
        async with stream:
            await stream.send(b"still here\n\n")
            with anyio.fail_after(5):
                assert await stream.receive() == b"a:still here"
        tg.cancel_scope.cancel()
