"""Helpers for the load balancer tests: a tiny HTTP server per task, and a plain client."""

from __future__ import annotations

import collections
import contextlib
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs

import pyecs

#: Answers ``<task id> <REV>``; ``GET /fail`` makes ``/health`` answer 503 from then on.
SERVER = textwrap.dedent(
    """
    import http.server, os, time
    TASK = os.environ["PYECS_TASK_ARN"].rsplit("/", 1)[1]
    REV = os.environ.get("REV", "?")
    state = {"healthy": True}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536  # one send per response (no Nagle / delayed-ACK stall)

        def do_GET(self):
            if self.path == "/fail":
                state["healthy"] = False
            if self.path == "/health" and not state["healthy"]:
                code, body = 503, b"sick"
            elif self.path.startswith("/env/"):
                code, body = 200, os.environ.get(self.path[5:], "").encode()
            elif self.path.startswith("/slow/"):
                time.sleep(float(self.path[6:]))
                code, body = 200, f"{TASK} {REV} slow".encode()
            else:
                code, body = 200, f"{TASK} {REV}".encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

    Server((os.environ["PYECS_HOST"], int(os.environ["PORT"])), Handler).serve_forever()
    """
)


def fast_lb(**overrides: Any) -> pyecs.LoadBalancer:
    """A load balancer on web:8080 with quick HTTP health checks and a short drain."""
    check = {
        "protocol": "HTTP",
        "path": "/health",
        "interval": 0.25,
        "timeout": 0.25,
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,  # a loaded machine may stall one check; not three in a row
        **overrides.pop("health_check", {}),
    }
    settings: dict[str, Any] = {
        "container_name": "web",
        "container_port": 8080,
        "deregistration_delay": 30.0,  # ends early once connections are done
        **overrides,
    }
    return pyecs.LoadBalancer(health_check=pyecs.TargetGroupHealthCheck(**check), **settings)


def web_td(rev: str = "1", *, family: str = "web", health_check: bool = False) -> dict[str, Any]:
    """A one-container task definition running :data:`SERVER` on container port 8080."""
    container: dict[str, Any] = {
        "name": "web",
        "image": "local/web",
        "memory": 32,
        "entryPoint": [sys.executable, "-c", SERVER],
        "portMappings": [{"containerPort": 8080}],
        "environment": [{"name": "REV", "value": rev}],
        "stopTimeout": 5,
    }
    if health_check:
        probe = "import urllib.request, os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health')"
        container["healthCheck"] = {
            "command": ["CMD", sys.executable, "-c", probe],
            "interval": 5,
            "retries": 2,
        }
    return {"family": family, "containerDefinitions": [container]}


async def get(address: str, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
    """One request on a new connection: ``(status, body)``; raises on any failure."""
    host, _, port = address.rpartition(":")
    with anyio.fail_after(timeout):
        async with await anyio.connect_tcp(host, int(port)) as stream:
            request = f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
            await stream.send(request.encode())
            data = b""
            while True:
                try:
                    data += await stream.receive()
                except anyio.EndOfStream:
                    break
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError(f"no HTTP answer (got {data[:80]!r})")
    return int(head.split()[1]), body.decode()


@attrs.define
class Load:
    """What a :func:`load` run saw: answers per body, and every failure."""

    answers: collections.Counter[str] = attrs.field(factory=collections.Counter)
    errors: list[str] = attrs.field(factory=list)
    sent: int = 0
    limit: int = 0

    @property
    def done(self) -> int:
        """Requests answered or failed so far."""
        return sum(self.answers.values()) + len(self.errors)

    async def more(self, count: int = 50, timeout: float = 60.0) -> None:
        """Wait until ``count`` more requests have been answered (or failed)."""
        goal = self.done + count
        with anyio.fail_after(timeout):
            while self.done < goal:
                if self.sent >= self.limit:
                    raise AssertionError(f"the load stopped at its bound of {self.limit}")
                await anyio.sleep(0.01)

    def revisions(self) -> set[str]:
        """The REV values that answered."""
        return {body.split()[1] for body in self.answers}


@contextlib.asynccontextmanager
async def load(
    address: str,
    *,
    workers: int = 4,
    limit: int = 20_000,
    pause: float = 0.005,
    path: str = "/",
) -> AsyncIterator[Load]:
    """Send requests for ``path`` (a new connection each) from ``workers`` clients while inside.

    Stops at the end of the block, or after ``limit`` requests (a bound, not a goal).
    """
    result = Load(limit=limit)

    async def worker() -> None:
        while result.sent < limit:
            result.sent += 1
            try:
                status, body = await get(address, path)
            except Exception as exc:  # every failure counts
                result.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                if status != 200:
                    result.errors.append(f"HTTP {status}: {body}")
                else:
                    result.answers[body] += 1
            await anyio.sleep(pause)

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
        yield result
        tg.cancel_scope.cancel()
