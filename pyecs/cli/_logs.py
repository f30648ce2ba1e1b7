"""Streaming every container's output while the CLI runs tasks.

One reader per container, started when the container is created (a task state change
gives its runtime id). The cluster removes a container right after it exits; the backend's
``before_remove`` hook lets the reader finish first, and prints the output itself when no
reader got to the container yet (a program that ran for a millisecond), so no line is lost.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import anyio.abc

from pyecs.cluster._cluster import Cluster
from pyecs.models.task import Task
from pyecs.ops import HookedBackend
from pyecs.runtime._events import TaskStateChange

__all__ = ["LogFollower", "healthy"]

#: How long removal waits for a reader to drain a container's output.
_DRAIN = 5.0


def healthy(task: Task) -> bool:
    """RUNNING, and HEALTHY where an essential container has a health check."""
    if task.last_status != "RUNNING":
        return False
    if any(c.essential and c.has_health_check for c in task.containers):
        return task.health_status == "HEALTHY"
    return True


class LogFollower:
    """Prints each container's output lines through ``write(prefix, line)``.

    Args:
        cluster: The open cluster.
        write: Called with a prefix (``"1b2fdc83 web"``, or "" when ``prefixed`` is
            False) and a line.
        prefixed: Prefix lines with the task id and container name.
    """

    def __init__(
        self, cluster: Cluster, write: Callable[[str, str], None], *, prefixed: bool
    ) -> None:
        self._cluster = cluster
        self._write = write
        self._prefixed = prefixed
        self._done: dict[str, anyio.Event] = {}
        self._prefixes: dict[str, str] = {}
        backend = cluster.backend
        if isinstance(backend, HookedBackend):
            backend.set_before_remove(self._before_remove)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Follow containers as they are created; signals once subscribed to events."""
        async with self._cluster.subscribe() as events, anyio.create_task_group() as tg:
            task_status.started()
            async for event in events:
                if isinstance(event, TaskStateChange):
                    self._check(event.task, tg)

    def _prefix(self, task: Task, container: str) -> str:
        return f"{task.id[:8]} {container}" if self._prefixed else ""

    def _check(self, task: Task, tg: anyio.abc.TaskGroup) -> None:
        for c in task.containers:
            rid = c.runtime_id
            if rid is None or rid in self._done:
                continue
            self._prefixes[rid] = self._prefix(task, c.name)
            done = self._done[rid] = anyio.Event()
            tg.start_soon(self._follow, rid, done)

    async def _follow(self, runtime_id: str, done: anyio.Event) -> None:
        backend = self._cluster.backend
        prefix = self._prefixes.get(runtime_id, "")
        try:
            if backend is not None and backend.capabilities.logs:
                async for line in backend.logs(runtime_id, follow=True):
                    self._write(prefix, line)
        except Exception:
            pass  # removed meanwhile (its lines were printed by _before_remove)
        finally:
            done.set()

    async def _before_remove(self, runtime_id: str) -> None:
        done = self._done.get(runtime_id)
        if done is not None:
            with anyio.move_on_after(_DRAIN):
                await done.wait()
            return
        # No reader yet: print what the container wrote, and let no reader start later.
        finished = self._done[runtime_id] = anyio.Event()
        finished.set()
        backend = self._cluster.backend
        prefix = self._prefix_of(runtime_id)
        if backend is None or not backend.capabilities.logs:
            return
        try:
            async for line in backend.logs(runtime_id):
                self._write(prefix, line)
        except Exception:
            pass

    def _prefix_of(self, runtime_id: str) -> str:
        for arn in self._cluster.list_tasks() + self._cluster.list_tasks(desired_status="STOPPED"):
            task = self._cluster.describe_task(arn)
            for c in task.containers:
                if c.runtime_id == runtime_id:
                    return self._prefix(task, c.name)
        return ""
