"""Small structured-concurrency helpers shared by the runner and the backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel

__all__ = ["Flag", "first_completed"]


async def first_completed(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as any of ``waits`` returns; the others are cancelled."""
    async with anyio.create_task_group() as tg:

        async def one(wait: Callable[[], Awaitable[object]]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for w in waits:
            tg.start_soon(one, w)


class Flag:
    """An ``anyio.Event`` that costs nothing until somebody waits on it.

    A task's runner and a simulated container each hold a few of these; most are set
    without ever being awaited (a million tasks would otherwise carry millions of
    event-loop events). ``wait`` behaves as ``anyio.Event.wait``: it checkpoints even when
    the flag is already set.
    """

    __slots__ = ("_event", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: anyio.Event | None = None

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        self._set = True
        if self._event is not None:
            self._event.set()

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        return self._set

    async def wait(self) -> None:
        """Return once the flag is set."""
        if self._set:
            await anyio.lowlevel.checkpoint()
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()
