"""Carrying async iteration across a blocking portal, for :mod:`pyecs.sync`.

An async iterator cannot be stepped from another thread one ``__anext__`` per portal call
(an async generator holding a cancel scope across ``yield`` would break). Instead one task
in the portal's event loop drives the iterator and sends each item through a bounded memory
stream; the blocking side receives them one portal call at a time. The bound gives
backpressure: a slow reader slows the pump, it never fills memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from typing import Generic, TypeVar

import anyio
import anyio.abc
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from pyecs._checks import check_timeout
from pyecs.exceptions import TimeoutError

__all__ = ["BlockingStream"]

T = TypeVar("T")

#: Items buffered between the pump and a reader that has not asked for them yet.
_BUFFER = 1000


class BlockingStream(Generic[T]):
    """A blocking iterator over an async iterator that lives in a portal's event loop.

    Iterate it (``for item in stream``) or ask with a deadline (``stream.get(timeout=1)``).
    ``close()`` (or leaving ``with stream:``) stops the pump; iteration ends when the
    async iterator ends.
    """

    def __init__(
        self,
        portal: BlockingPortal,
        source: Callable[[], AsyncIterator[T]] | None = None,
        *,
        subscription: Callable[[], AbstractAsyncContextManager[AsyncIterator[T]]] | None = None,
    ) -> None:
        self._portal = portal
        self._closed = False
        send, receive = anyio.create_memory_object_stream[T](_BUFFER)
        self._receive: MemoryObjectReceiveStream[T] = receive
        self._errors: list[Exception] = []
        self._future: Future[None]
        if subscription is not None:
            # Returns once the subscription is in place: no later event is missed.
            self._future, _ = portal.start_task(
                _pump_subscription, subscription, send, self._errors
            )
        elif source is not None:
            self._future = portal.start_task_soon(_pump, source, send, self._errors)
        else:
            raise ValueError("pass a source or a subscription")

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            return self._portal.call(self._receive.receive)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._finish()
            raise StopIteration from None

    def get(self, timeout: float | None = None) -> T:
        """The next item, waiting at most ``timeout`` seconds (None: no limit).

        Raises:
            TimeoutError: when nothing arrived in time.
            StopIteration: when the stream has ended.
            InvalidParameterError: when ``timeout`` is not a number of seconds >= 0.
        """
        if timeout is None:
            return next(self)
        wait = check_timeout(timeout)

        async def receive() -> tuple[bool, T | None]:
            with anyio.move_on_after(wait):
                return True, await self._receive.receive()
            return False, None

        if self._closed:
            raise StopIteration
        try:
            arrived, item = self._portal.call(receive)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._finish()
            raise StopIteration from None
        if not arrived:
            raise TimeoutError(f"nothing arrived within {timeout} s")
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the pump and drop what it buffered. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._future.cancel()
        with contextlib.suppress(RuntimeError):  # the portal has stopped already
            self._portal.call(self._receive.close)

    def _finish(self) -> None:
        self._closed = True
        if self._errors:
            raise self._errors[0]

    def __enter__(self) -> BlockingStream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _pump(
    source: Callable[[], AsyncIterator[T]],
    send: MemoryObjectSendStream[T],
    errors: list[Exception],
) -> None:
    async with send:
        try:
            async for item in source():
                await send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the reader closed the stream
        except Exception as exc:
            errors.append(exc)  # raised to the reader once it has read what came before


async def _pump_subscription(
    subscription: Callable[[], AbstractAsyncContextManager[AsyncIterator[T]]],
    send: MemoryObjectSendStream[T],
    errors: list[Exception],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with send, subscription() as items:
        task_status.started()
        try:
            async for item in items:
                await send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the reader closed the stream
        except Exception as exc:
            errors.append(exc)
