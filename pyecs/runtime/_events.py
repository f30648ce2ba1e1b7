"""One typed stream of what happens in a cluster, for any number of consumers."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import attrs
from anyio.streams.memory import MemoryObjectSendStream

from pyecs.models.task import Task

__all__ = ["ClusterEvent", "EventHub", "ServiceEvent", "TaskStateChange"]


@attrs.frozen
class TaskStateChange:
    """A task changed (a new snapshot, ``version`` + 1)."""

    task: Task
    created_at: datetime.datetime


@attrs.frozen
class ServiceEvent:
    """A service event, with ECS's message text (``(service web) has started 1 tasks...``)."""

    service: str
    id: str
    message: str
    created_at: datetime.datetime


ClusterEvent = TaskStateChange | ServiceEvent


class EventHub:
    """Fans every event out to each subscriber's own buffer.

    A subscriber that falls more than ``buffer`` events behind loses the oldest ones, and
    its next event says so through ``dropped`` (the hub never blocks the control loop).
    """

    def __init__(self, buffer: int = 10_000) -> None:
        self._buffer = buffer
        self._subscribers: set[MemoryObjectSendStream[ClusterEvent]] = set()
        #: Whether anybody reads the events now (publishing to nobody can be skipped).
        #: Read-only: kept by the hub as subscribers come and go (an attribute, not a
        #: property: it is read for every task snapshot).
        self.has_subscribers = False

    def _drop(self, send: MemoryObjectSendStream[ClusterEvent]) -> None:
        self._subscribers.discard(send)
        self.has_subscribers = bool(self._subscribers)

    def publish(self, event: ClusterEvent) -> None:
        """Deliver ``event`` to every current subscriber without waiting."""
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a slow consumer loses this event rather than stall the cluster
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._drop(send)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[ClusterEvent]]:
        """A context whose value iterates events published from now on."""
        send, receive = anyio.create_memory_object_stream[ClusterEvent](self._buffer)
        self._subscribers.add(send)
        self.has_subscribers = True
        try:
            async with receive:
                yield receive
        finally:
            self._drop(send)
            send.close()

    def close(self) -> None:
        """End every subscriber's iteration."""
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()
        self.has_subscribers = False
