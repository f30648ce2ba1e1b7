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
        # The last round's time and each container's CPU seconds then, by runtime id.
        self._last_at: float | None = None
        self._last: dict[str, float] = {}
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
        # By service ("" for standalone tasks): CPU units used, CPU units reserved,
        # memory used, memory used by the tasks that reserve memory, memory reserved.
        groups: dict[str, list[float]] = {}
        previous = self._last
        since = self._last_at
        elapsed = at - since if since is not None and at > since else None
        last: dict[str, float] = {}
        for k, task in enumerate(running, 1):
            if k % CHUNK == 0:
                await anyio.lowlevel.checkpoint()
            cores = 0.0
            memory = 0.0
            measured = False
            for c in task.containers:
                rid = c.runtime_id
                if rid is None:
                    continue
                u = usage.get(rid)
                if u is None:
                    continue
                memory += u.memory_mib
                last[rid] = u.cpu_seconds
                if elapsed is not None:
                    before = previous.get(rid)
                    if before is not None:
                        cores += max(0.0, u.cpu_seconds - before) / elapsed
                        measured = True
            if not measured:
                continue
            cpu_reserved = float(task.cpu or DEFAULT_CPU_UNITS)
            mem_reserved = float(task.memory or 0)
            units = cores * 1024
            service = task.group[len("service:") :] if task.group.startswith("service:") else None
            if per_task:
                out.extend(self._task_samples(task, service, units, cpu_reserved, memory))
            sums = groups.get(service or "")
            if sums is None:
                sums = groups[service or ""] = [0.0, 0.0, 0.0, 0.0, 0.0]
            sums[0] += units
            sums[1] += cpu_reserved
            sums[2] += memory
            if mem_reserved:
                sums[3] += memory
                sums[4] += mem_reserved
        # Containers gone are forgotten: the map stays bounded.
        self._last, self._last_at = last, at
        everything = [sum(g[i] for g in groups.values()) for i in range(5)]
        scopes = [(name, sums) for name, sums in groups.items() if name]
        if groups:
            scopes.append(("", everything))
        for name, (used, reserved, mem_used, mem_of_reserving, mem_reserved) in scopes:
            dims = {"ClusterName": self.cluster}
            if name:
                dims["ServiceName"] = name
            out.append(Sample("AWS/ECS", "CPUUtilization", used / reserved * 100, dims, "Percent"))
            if mem_reserved:
                out.append(
                    Sample(
                        "AWS/ECS",
                        "MemoryUtilization",
                        mem_of_reserving / mem_reserved * 100,
                        dims,
                        "Percent",
                    )
                )
            if name:
                out.append(Sample("ECS/ContainerInsights", "CpuUtilized", used, dims))
                out.append(
                    Sample("ECS/ContainerInsights", "MemoryUtilized", mem_used, dims, "Megabytes")
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
