"""Task usage as ECS publishes it in AWS/ECS, from the backend's cumulative counters.

ECS defines a service's CPUUtilization as the CPU its tasks use over the CPU reserved
for them, in percent (and MemoryUtilization alike); pyecs takes the reservation from the
task (its ``cpu``/``memory``, which are the task-level values or the containers' sum). A
task that reserves no CPU counts as reserving one vCPU (1,024 units); one that reserves
no memory has no MemoryUtilization.

Per-task series (the ``TaskId`` dimension, as Container Insights' task level) are kept
while the cluster runs at most :data:`TASK_SERIES_LIMIT` tasks; above that, only the
service and cluster series, which are what AWS/ECS publishes. A round gives the event loop
a turn every :data:`CHUNK` tasks, so a cluster of a million tasks never blocks it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import anyio.lowlevel

from pyecs.abc import Backend
from pyecs.exceptions import BackendError
from pyecs.metrics._collector import Sample
from pyecs.models.task import Task

__all__ = ["TaskUsage"]

_log = logging.getLogger("pyecs.metrics")

#: The CPU a task that reserves none is measured against (one vCPU).
DEFAULT_CPU_UNITS = 1024

#: Running tasks up to which each task has series of its own (4 each: far below the
#: store's 5,000 series, so that task series never push out the services' series).
TASK_SERIES_LIMIT = 1000

#: Tasks handled between two turns of the event loop.
CHUNK = 2000


class TaskUsage:
    """A metrics source: per task, per service and per cluster CPU and memory.

    Args:
        cluster: The cluster name (the ``ClusterName`` dimension).
        backend: Where the counters come from (:meth:`Backend.usage`).
        tasks: The cluster's tasks now.
    """

    def __init__(self, cluster: str, backend: Backend, tasks: Callable[[], Iterable[Task]]) -> None:
        self.cluster = cluster
        self.backend = backend
        self.tasks = tasks
        self._last: dict[str, tuple[float, float]] = {}  # runtime id -> (at, cpu seconds)
        self.enabled = True

    async def __call__(self, at: float, interval: float) -> list[Sample]:
        if not self.enabled:
            return []
        running: list[Task] = []
        for k, t in enumerate(self.tasks(), 1):
            if t.last_status == "RUNNING":
                running.append(t)
            if k % CHUNK == 0:
                await anyio.lowlevel.checkpoint()
        ids = [
            c.runtime_id
            for t in running
            for c in t.containers
            if c.runtime_id is not None and c.last_status == "RUNNING"
        ]
        per_task = len(running) <= TASK_SERIES_LIMIT
        try:
            usage = await self.backend.usage(ids) if ids else {}
        except BackendError as exc:
            _log.info("no task metrics: %s", exc)
            self.enabled = False
            return []
        out: list[Sample] = []
        groups: dict[str, list[tuple[float, float, float, float]]] = {}
        last: dict[str, tuple[float, float]] = {}
        for k, task in enumerate(running, 1):
            if k % CHUNK == 0:
                await anyio.lowlevel.checkpoint()
            cores = 0.0
            memory = 0.0
            measured = False
            for c in task.containers:
                u = usage.get(c.runtime_id or "")
                if u is None:
                    continue
                memory += u.memory_mib
                before = self._last.get(c.runtime_id or "")
                last[c.runtime_id or ""] = (at, u.cpu_seconds)
                if before is not None and at > before[0]:
                    cores += max(0.0, u.cpu_seconds - before[1]) / (at - before[0])
                    measured = True
            if not measured:
                continue
            cpu_reserved = float(task.cpu or DEFAULT_CPU_UNITS)
            units = cores * 1024
            service = task.group[len("service:") :] if task.group.startswith("service:") else None
            if per_task:
                out.extend(self._task_samples(task, service, units, cpu_reserved, memory))
            groups.setdefault(service or "", []).append(
                (units, cpu_reserved, memory, float(task.memory or 0))
            )
        self._last = last  # containers gone are forgotten: the map stays bounded
        everything = [row for rows in groups.values() for row in rows]
        scopes = [(name, rows) for name, rows in groups.items() if name]
        scopes.append(("", everything))
        for name, rows in scopes:
            if not rows:
                continue
            dims = {"ClusterName": self.cluster}
            if name:
                dims["ServiceName"] = name
            used = sum(r[0] for r in rows)
            reserved = sum(r[1] for r in rows)
            out.append(Sample("AWS/ECS", "CPUUtilization", used / reserved * 100, dims, "Percent"))
            mem_reserved = sum(r[3] for r in rows)
            if mem_reserved:
                mem = sum(r[2] for r in rows if r[3])
                out.append(
                    Sample(
                        "AWS/ECS", "MemoryUtilization", mem / mem_reserved * 100, dims, "Percent"
                    )
                )
            if name:
                out.append(Sample("ECS/ContainerInsights", "CpuUtilized", used, dims))
                out.append(
                    Sample(
                        "ECS/ContainerInsights",
                        "MemoryUtilized",
                        sum(r[2] for r in rows),
                        dims,
                        "Megabytes",
                    )
                )
        return out

    def _task_samples(
        self, task: Task, service: str | None, units: float, cpu_reserved: float, memory: float
    ) -> list[Sample]:
        dims = {"ClusterName": self.cluster, "TaskId": task.id}
        if service is not None:
            dims["ServiceName"] = service
        out = [
            Sample("AWS/ECS", "CPUUtilization", units / cpu_reserved * 100, dims, "Percent"),
            Sample("ECS/ContainerInsights", "CpuUtilized", units, dims, "None"),
            Sample("ECS/ContainerInsights", "MemoryUtilized", memory, dims, "Megabytes"),
        ]
        if task.memory:
            out.append(
                Sample("AWS/ECS", "MemoryUtilization", memory / task.memory * 100, dims, "Percent")
            )
        return out
