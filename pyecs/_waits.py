"""Small structured-concurrency helpers shared by the runner and the backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["first_completed"]


async def first_completed(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as any of ``waits`` returns; the others are cancelled."""
    async with anyio.create_task_group() as tg:

        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for w in waits:
            tg.start_soon(one, w)
