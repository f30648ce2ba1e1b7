"""The console page as an ASGI app: one HTML page, its script and style, and a live stream.

Routes (relative to where it is mounted, ``root_path``):

- ``/`` the page; ``/console.js`` and ``/console.css``, shipped in the wheel (no CDN);
- ``/state`` the current :func:`~pyecs.console.snapshot` as JSON;
- ``/events`` server-sent events: a ``state`` event with the snapshot at once, then again
  whenever a cluster publishes an event or finishes a metrics round (at most one every
  ``min_interval`` seconds), and a comment line every ``heartbeat`` seconds so that
  proxies keep the connection. A stream ends when the client goes, when :meth:`close`
  is called (the server stops), and no more than ``max_streams`` run at once.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

import anyio
import anyio.abc

from pyecs.cluster import Cluster
from pyecs.console._snapshot import snapshot

__all__ = ["ConsoleApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_STATIC: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
}


def _read_static(name: str) -> bytes:
    return importlib.resources.files("pyecs.console").joinpath("static", name).read_bytes()


class _Signal:
    """A level-triggered wake-up: ``set()`` any number of times, ``wait()`` consumes it."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = anyio.Event()


class ConsoleApp:
    """The console: clusters, services, tasks, events and charts, updated live.

    Args:
        clusters: Returns the clusters to show now (called on every update, so clusters
            created later appear).
        max_streams: Live streams served at once; more get HTTP 503.
        heartbeat: Seconds between keep-alive comments on a quiet stream.
        min_interval: Least seconds between two state events of one stream.
    """

    def __init__(
        self,
        clusters: Callable[[], Iterable[Cluster]],
        *,
        max_streams: int = 16,
        heartbeat: float = 15.0,
        min_interval: float = 0.25,
    ) -> None:
        self.clusters = clusters
        self.max_streams = max_streams
        self.heartbeat = heartbeat
        self.min_interval = min_interval
        self._static = {
            path: (_read_static(name), ctype) for path, (name, ctype) in _STATIC.items()
        }
        self._streams: set[anyio.CancelScope] = set()
        self._closed = False

    @property
    def open_streams(self) -> int:
        """How many live streams are being served now."""
        return len(self._streams)

    def close(self) -> None:
        """End every live stream and refuse new ones (the server is stopping)."""
        self._closed = True
        for scope in list(self._streams):
            scope.cancel()

    def _open(self) -> list[Cluster]:
        return [c for c in self.clusters() if c.is_open]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, b"the console only answers GET\n")
        elif path == "":
            location = (root or "") + "/"
            await send(
                {
                    "type": "http.response.start",
                    "status": 308,
                    "headers": [(b"location", location.encode()), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        elif path in self._static:
            body, ctype = self._static[path]
            await _respond(send, 200, ctype, body)
        elif path == "/state":
            body = json.dumps(snapshot(self._open()), separators=(",", ":")).encode()
            await _respond(send, 200, "application/json", body)
        elif path == "/events":
            await self._stream(receive, send)
        else:
            await _plain(send, 404, f"no such console page: {path}\n".encode())

    async def _stream(self, receive: Receive, send: Send) -> None:
        if self._closed or len(self._streams) >= self.max_streams:
            await _plain(send, 503, b"too many console streams open; close a console tab\n")
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        scope = anyio.CancelScope()
        self._streams.add(scope)
        try:
            with scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_until_disconnect, receive, tg.cancel_scope)
                    await self._updates(tg, send)
        finally:
            self._streams.discard(scope)
        with contextlib.suppress(Exception), anyio.CancelScope(shield=True):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _updates(self, tg: anyio.abc.TaskGroup, send: Send) -> None:
        changed = _Signal()
        watching: dict[int, anyio.CancelScope] = {}
        last = b""
        while True:
            clusters = self._open()
            ids = {id(c) for c in clusters}
            for key in [k for k in watching if k not in ids]:
                watching.pop(key).cancel()
            for c in clusters:
                if id(c) not in watching:
                    watching[id(c)] = await tg.start(_watch, c, changed)
            payload = json.dumps(snapshot(clusters), separators=(",", ":")).encode()
            if payload != last:
                last = payload
                await _chunk(send, b"event: state\ndata: " + payload + b"\n\n")
            else:
                await _chunk(send, b": quiet\n\n")
            with anyio.move_on_after(self.heartbeat):
                await changed.wait()
            await anyio.sleep(self.min_interval)  # coalesce a burst of changes


async def _watch(
    cluster: Cluster,
    changed: _Signal,
    *,
    task_status: anyio.abc.TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Set ``changed`` on every event and metrics round of ``cluster``, until cancelled."""
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg, cluster.subscribe() as events:
            task_status.started(scope)

            async def rounds() -> None:
                while True:
                    await cluster.metrics.wait_round()
                    changed.set()

            tg.start_soon(rounds)
            async for _ in events:
                changed.set()
            tg.cancel_scope.cancel()  # the cluster closed


async def _until_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _respond(send: Send, status: int, ctype: str, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-cache"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, body: bytes) -> None:
    await _respond(send, status, "text/plain; charset=utf-8", body)
