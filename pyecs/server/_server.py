"""``pyecs.server.Server``: the ECS API served on the caller's event loop (asyncio or trio)."""

from __future__ import annotations

import datetime
import functools
import logging
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from pyecs.abc import Backend
from pyecs.cluster import Cluster
from pyecs.console import ConsoleApp
from pyecs.exceptions import InvalidParameterError, PyecsError
from pyecs.metrics import MetricStore, metrics_asgi_app
from pyecs.models._arn import DEFAULT_ACCOUNT
from pyecs.ops import make_backend, resolve_backend
from pyecs.server._app import MAX_BODY, EcsApp
from pyecs.server._http import ASGIApp, HttpServer, require_hypercorn
from pyecs.server._mount import Mounts
from pyecs.server._persist import Persister, restore_region
from pyecs.server._state import ServerState
from pyecs.server._store import MEMORY, StateStore

__all__ = ["Server", "console_and_metrics"]

log = logging.getLogger("pyecs.server")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _backend_factory(backend: str | Callable[[], Backend] | None) -> Callable[[], Backend] | None:
    if backend is None or callable(backend):
        return backend
    choice = resolve_backend(backend)
    return functools.partial(make_backend, choice.name)


def console_and_metrics(
    console: ConsoleApp,
    stores: Callable[[], list[MetricStore]],
    default: ASGIApp | None = None,
) -> ASGIApp:
    """``console`` at ``/console/``, Prometheus ``/metrics`` of ``stores()``, else ``default``
    (404 when None)."""
    return Mounts(default or _not_found, {"/console": console, "/metrics": _metrics_app(stores)})


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"not found: the console is at /console/ and the metrics at /metrics\n"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _metrics_app(stores: Callable[[], list[MetricStore]]) -> ASGIApp:
    try:
        return metrics_asgi_app(stores)
    except PyecsError as exc:  # prometheus-client is not installed
        message = f"{exc}\n".encode()

        async def missing(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 501,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": message})

        return missing


class Server:
    """The ECS API over HTTP, for boto3, the aws CLI and their waiters.

    ``async with Server(backend="process") as server:`` serves on ``server.url`` until the
    block ends; leaving it stops every cluster's tasks and removes what they created.

    Args:
        host: The address to listen on; 127.0.0.1 unless you mean to expose it.
        port: The port; 0 picks a free one (read it from :attr:`url`).
        backend: ``auto`` (Docker when an engine answers, else local processes),
            ``docker``, ``process``, ``simulated``, a function that builds a backend for
            each new cluster, or None (clusters keep task definitions only).
        account: The account id written into ARNs.
        credentials: Access key id -> secret key; when given, every request must carry a
            valid SigV4 signature made with one of them.
        task_healthy_delay: Seconds a task without health checks must run before a
            service counts it as healthy (ECS: 40).
        max_body: The largest request body accepted, in bytes.
        state: A directory for the state store (clusters, task definitions, services,
            tags, attributes and account settings survive a restart there, and the
            RUNNING tasks of services are adopted on Docker), or None (also
            ``":memory:"``) to keep nothing: the default here, for tests and embedding.
            ``pyecs serve`` defaults to :func:`default_state_dir`.

    Raises:
        InvalidParameterError: a bad backend name or port.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backend: str | Callable[[], Backend] | None = "auto",
        account: str = DEFAULT_ACCOUNT,
        credentials: Mapping[str, str] | None = None,
        task_healthy_delay: float = 40.0,
        max_body: int = MAX_BODY,
        clock: Callable[[], datetime.datetime] = _utcnow,
        state: str | os.PathLike[str] | None = None,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidParameterError(f"port must be from 0 to 65535, got {port!r}")
        if not (isinstance(account, str) and account.isdigit() and len(account) == 12):
            raise InvalidParameterError(f"account must be 12 digits, got {account!r}")
        self.host = host
        self._port = port
        self.state = ServerState(
            _backend_factory(backend),
            account=account,
            task_healthy_delay=task_healthy_delay,
            clock=clock,
        )
        self.app = EcsApp(
            self.state,
            credentials=dict(credentials) if credentials is not None else None,
            max_body=max_body,
        )
        self.console = ConsoleApp(self._clusters)
        #: What the server answers: the ECS API at ``/``, the console page at
        #: ``/console/`` and the Prometheus metrics of every cluster at ``/metrics``.
        self.root = console_and_metrics(self.console, self._stores, self.app)
        self.store = StateStore(state) if state is not None and str(state) != MEMORY else None
        self._persister = Persister(self.store, self.state) if self.store is not None else None
        if self._persister is not None:
            self.app.after_write = self._persister.after_write
        self._persister_scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._http: HttpServer | None = None

    def _clusters(self) -> list[Cluster]:
        return [e.cluster for r in self.state.regions.values() for e in r.clusters.values()]

    def _stores(self) -> list[MetricStore]:
        return [c.metrics for c in self._clusters() if c.is_open]

    @property
    def port(self) -> int:
        """The port it listens on (known once the server is open)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: the endpoint URL for boto3 and the aws CLI."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    async def __aenter__(self) -> Server:
        require_hypercorn("pyecs serve")
        rows = {}
        if self.store is not None:
            await self.store.open()
            try:
                rows = await self.store.load()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self.store.aclose()
                raise
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self.state.attach(tg)
        try:
            # What the store holds comes back before the first request is answered.
            for region, region_rows in rows.items():
                await restore_region(self.state, region, region_rows)
            http = HttpServer(self.root, host=self.host, port=self._port)
            await http.__aenter__()  # its task group nests in ours: closed first
        except BaseException:
            await self.aclose()
            raise
        self._port = http.port
        self._http = http
        if self._persister is not None:
            tg.start_soon(self._follow_tasks, self._persister)
        return self

    async def _follow_tasks(self, persister: Persister) -> None:
        with anyio.CancelScope() as self._persister_scope:
            await persister.follow_tasks()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving, then close every cluster (stopping its tasks). Idempotent.

        With a state store, what it holds stays as it was before the clusters closed:
        the next start brings the clusters and services back.
        """
        tg, self._tg = self._tg, None
        http, self._http = self._http, None
        if tg is None:
            return
        self.console.close()  # live console streams would hold the graceful shutdown
        if http is not None:
            await http.aclose()  # shielded inside; its task group must close at this level
        with anyio.CancelScope(shield=True):
            self.app.after_write = None  # closing clusters is no change of state
            if self._persister_scope is not None:
                self._persister_scope.cancel()
            await self.state.aclose()
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
        if self.store is not None:
            with anyio.CancelScope(shield=True):
                await self.store.aclose()
