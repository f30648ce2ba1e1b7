"""One ASGI app served by hypercorn on the caller's event loop (asyncio or trio).

:class:`HttpServer` binds its socket at once (so a busy port is an error before anything
starts, and port 0 is resolved), serves in a task group of its own, and stops when its
block ends: hypercorn gets ``graceful_timeout`` seconds to finish the requests it has,
then they are cancelled.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from pyecs.exceptions import InvalidParameterError

__all__ = ["ASGIApp", "HttpServer", "require_hypercorn"]

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


def require_hypercorn(what: str) -> None:
    """Raise an ImportError that names the extra when hypercorn is missing."""
    try:
        import hypercorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the server extra: pip install 'pyecs[server]' (hypercorn is "
            f"missing: {exc})"
        ) from exc


class HttpServer:
    """Serve ``app`` on ``host:port`` while the ``async with`` block runs.

    Raises:
        InvalidParameterError: (on enter) the address cannot be bound.
        ImportError: (on enter) hypercorn is not installed.
    """

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, graceful: float = 1.0
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.graceful = graceful
        self._tg: anyio.abc.TaskGroup | None = None
        self._stop: anyio.Event | None = None
        self._stopped: anyio.Event | None = None

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def __aenter__(self) -> HttpServer:
        require_hypercorn("serving HTTP")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            self.port = sock.getsockname()[1]
            # hypercorn takes its own descriptor of the listening socket.
            fd = os.dup(sock.fileno())
        except OSError as exc:
            raise InvalidParameterError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; choose "
                "another port (0 picks a free one)"
            ) from exc
        finally:
            sock.close()
        self._stop = anyio.Event()
        self._stopped = anyio.Event()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._serve, fd, self._stop, self._stopped)
        return self

    async def _serve(self, fd: int, stop: anyio.Event, stopped: anyio.Event) -> None:
        import sniffio
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{fd}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.graceful_timeout = self.graceful
        config.keep_alive_timeout = 75.0
        config.max_app_queue_size = 100
        serve: Any
        if sniffio.current_async_library() == "trio":
            from hypercorn.trio import serve
        else:
            from hypercorn.asyncio import serve
        try:
            await serve(self.app, config, shutdown_trigger=stop.wait)
        finally:
            stopped.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving (idempotent)."""
        tg, self._tg = self._tg, None
        if tg is None:
            return
        assert self._stop is not None and self._stopped is not None
        self._stop.set()
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.graceful + 4):
            await self._stopped.wait()
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
