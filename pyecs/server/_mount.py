"""Route requests by path prefix to the apps mounted there, as ASGI mounting does.

A request to ``/console/events`` reaches the app mounted at ``/console`` with
``root_path`` ``/console`` (and ``path`` unchanged, as the ASGI spec has it since 3.0);
everything else goes to the default app (the ECS API at ``/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyecs.server._http import ASGIApp

__all__ = ["Mounts"]


class Mounts:
    """An ASGI app: ``mounts`` by path prefix, else ``default``."""

    def __init__(self, default: ASGIApp, mounts: Mapping[str, ASGIApp]) -> None:
        self.default = default
        self.mounts = dict(mounts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, app in self.mounts.items():
                if path == prefix or path.startswith(prefix + "/"):
                    root = scope.get("root_path", "") + prefix
                    await app({**scope, "root_path": root}, receive, send)
                    return
        await self.default(scope, receive, send)
