"""``pyecs.server.Server``: the ECS API served on the caller's event loop (asyncio or trio)."""

from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from pyecs.abc import Backend
from pyecs.exceptions import InvalidParameterError
from pyecs.models._arn import DEFAULT_ACCOUNT
from pyecs.ops import make_backend, resolve_backend
from pyecs.server._app import MAX_BODY, EcsApp
from pyecs.server._persist import Persister, restore_region
from pyecs.server._state import ServerState
from pyecs.server._store import MEMORY, StateStore

__all__ = ["Server"]

log = logging.getLogger("pyecs.server")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _backend_factory(backend: str | Callable[[], Backend] | None) -> Callable[[], Backend] | None:
    if backend is None or callable(backend):
        return backend
    choice = resolve_backend(backend)
    return functools.partial(make_backend, choice.name)


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
        self.store = StateStore(state) if state is not None and str(state) != MEMORY else None
        self._persister = Persister(self.store, self.state) if self.store is not None else None
        if self._persister is not None:
            self.app.after_write = self._persister.after_write
        self._persister_scope: anyio.CancelScope | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._stop = anyio.Event()
        self._stopped = anyio.Event()

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
        try:
            import hypercorn  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "pyecs serve needs the server extra: pip install 'pyecs[server]' "
                f"(hypercorn is missing: {exc})"
            ) from exc
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
            sock.listen(128)
            self._port = sock.getsockname()[1]
            # hypercorn takes its own descriptor of the listening socket.
            fd = os.dup(sock.fileno())
        except OSError as exc:
            sock.close()
            raise InvalidParameterError(
                f"cannot listen on {self.host}:{self._port}: {exc.strerror or exc}; choose "
                "another --port (0 picks a free one)"
            ) from exc
        sock.close()
        rows = {}
        try:
            if self.store is not None:
                await self.store.open()
                try:
                    rows = await self.store.load()
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await self.store.aclose()
                    raise
        except BaseException:
            os.close(fd)
            raise
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self.state.attach(tg)
        try:
            for region, region_rows in rows.items():
                await restore_region(self.state, region, region_rows)
        except BaseException:
            os.close(fd)
            await self._close(serving=False)
            raise
        if self._persister is not None:
            tg.start_soon(self._follow_tasks, self._persister)
        tg.start_soon(self._serve, fd)
        return self

    async def _follow_tasks(self, persister: Persister) -> None:
        with anyio.CancelScope() as self._persister_scope:
            await persister.follow_tasks()

    async def _serve(self, fd: int) -> None:
        import sniffio
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{fd}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.graceful_timeout = 1.0
        config.keep_alive_timeout = 75.0
        config.max_app_queue_size = 100
        serve: Any
        if sniffio.current_async_library() == "trio":
            from hypercorn.trio import serve
        else:
            from hypercorn.asyncio import serve
        try:
            await serve(self.app, config, shutdown_trigger=self._stop.wait)
        finally:
            self._stopped.set()

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
        await self._close(serving=True)

    async def _close(self, *, serving: bool) -> None:
        tg, self._tg = self._tg, None
        if tg is None:
            return
        self._stop.set()
        with anyio.CancelScope(shield=True):
            if serving:
                with anyio.move_on_after(5):
                    await self._stopped.wait()
            self.app.after_write = None  # closing clusters is no change of state
            if self._persister_scope is not None:
                self._persister_scope.cancel()
            await self.state.aclose()
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
        if self.store is not None:
            with anyio.CancelScope(shield=True):
                await self.store.aclose()
