"""The clusters the pytest fixtures hand out: :class:`pyecs.Cluster` plus ``up()``.

:class:`ClusterFixture` is an async :class:`pyecs.Cluster`; :class:`SyncClusterFixture` is a
blocking :class:`pyecs.sync.Cluster`. Both add ``up()`` and ``logs_report()``, the text
the plugin attaches to a failing test's report. They work outside pytest too.
"""

from __future__ import annotations

import collections
import datetime
from collections.abc import Mapping
from typing import Any

import anyio

from pyecs.cluster._cluster import Cluster
from pyecs.models.task import Task
from pyecs.ops import HookedBackend
from pyecs.runtime._registry import TaskDefinitionSource
from pyecs.service._service import Service
from pyecs.sync import Cluster as SyncCluster
from pyecs.sync._service import Service as SyncService
from pyecs.testing._up import ServiceUp, bring_up

__all__ = ["ClusterFixture", "SyncClusterFixture", "logs_report"]

#: Output lines per container in a failure report.
REPORT_LINES = 50


def _removed_logs(cluster: Cluster) -> Mapping[str, list[str]]:
    backend = cluster.backend
    return backend.removed_logs if isinstance(backend, HookedBackend) else {}


class ClusterFixture(Cluster):
    """A :class:`pyecs.Cluster` with :meth:`up` (what ``pyecs_cluster`` yields)."""

    async def up(
        self,
        task_definition: TaskDefinitionSource,
        *,
        desired_count: int = 1,
        service_name: str | None = None,
        container: str | None = None,
        port: int | None = None,
        timeout: float = 120.0,
        http_path: str | None = None,
        scheme: str = "http",
        **service_options: Any,
    ) -> ServiceUp[Service]:
        """Run a service from a task definition and wait until it is stable.

        Args:
            task_definition: A ``task-definition.json`` path, ECS JSON as a dict, or a
                :class:`pyecs.TaskDefinition`; it is registered as a new revision.
            desired_count: Tasks to run.
            service_name: Default: the family (``web-2``... when taken).
            container: The container whose port the endpoints reach (default: the first
                essential container with a port mapping).
            port: Its container port (default: its first mapping).
            timeout: Seconds to wait for the steady state (and ``http_path``).
            http_path: Also wait until every endpoint answers ``GET <path>`` below 500.
            scheme: The scheme of ``.url``.
            **service_options: More :meth:`pyecs.Cluster.create_service` arguments.

        Returns:
            The service, its endpoints (``"127.0.0.1:49153"``) and ``.url``.

        Raises:
            TimeoutError: with the service events and why tasks stopped (exit codes,
                last log lines).
        """
        svc, td, c, p = await bring_up(
            self,
            task_definition,
            desired_count=desired_count,
            service_name=service_name,
            container=container,
            port=port,
            timeout=timeout,
            http_path=http_path,
            removed_logs=_removed_logs(self),
            **service_options,
        )
        return ServiceUp(svc, td, c, p, scheme)

    async def logs_report(self, since: datetime.datetime | None = None) -> str:
        """The tasks' status and last output lines, for a test report.

        Args:
            since: Only tasks still running, or stopped at or after this time.
        """
        return await logs_report(self, since)


class SyncClusterFixture(SyncCluster):
    """A :class:`pyecs.sync.Cluster` with :meth:`up` (what the sync fixtures yield)."""

    def up(
        self,
        task_definition: TaskDefinitionSource,
        *,
        desired_count: int = 1,
        service_name: str | None = None,
        container: str | None = None,
        port: int | None = None,
        timeout: float = 120.0,
        http_path: str | None = None,
        scheme: str = "http",
        **service_options: Any,
    ) -> ServiceUp[SyncService]:
        """Run a service and block until it is stable; see :meth:`ClusterFixture.up`."""
        cluster = self.async_cluster
        svc, td, c, p = self.portal.call(
            lambda: bring_up(
                cluster,
                task_definition,
                desired_count=desired_count,
                service_name=service_name,
                container=container,
                port=port,
                timeout=timeout,
                http_path=http_path,
                removed_logs=_removed_logs(cluster),
                **service_options,
            )
        )
        return ServiceUp(self._service(svc), td, c, p, scheme)

    def logs_report(self, since: datetime.datetime | None = None) -> str:
        """The tasks' status and last output lines, for a test report."""
        cluster = self.async_cluster
        return self.portal.call(lambda: logs_report(cluster, since))


def _all_tasks(cluster: Cluster) -> list[Task]:
    arns = cluster.list_tasks() + cluster.list_tasks(desired_status="STOPPED")
    return list(cluster.describe_tasks(arns).tasks) if arns else []


async def logs_report(cluster: Cluster, since: datetime.datetime | None = None) -> str:
    """Every task of ``cluster`` (or those live since ``since``): status and output tail."""
    removed = _removed_logs(cluster)
    lines: list[str] = []
    for task in _all_tasks(cluster):
        if since is not None and task.stopped_at is not None and task.stopped_at < since:
            continue
        head = f"task {task.id} ({task.task_definition_arn.rsplit('/', 1)[-1]}, {task.group}): "
        head += f"{task.last_status}, health {task.health_status}"
        if task.stop_code:
            head += f", {task.stop_code}: {task.stopped_reason}"
        lines.append(head)
        for c in task.containers:
            detail = f"  container {c.name}: {c.last_status}"
            if c.exit_code is not None:
                detail += f", exit code {c.exit_code}"
            if c.reason:
                detail += f", {c.reason}"
            lines.append(detail)
            tail = await _container_tail(cluster, task, c.runtime_id, removed)
            lines.extend(f"    | {line}" for line in tail)
    return "\n".join(lines)


async def _container_tail(
    cluster: Cluster, task: Task, runtime_id: str | None, removed: Mapping[str, list[str]]
) -> list[str]:
    if runtime_id is None:
        return []
    if runtime_id in removed:
        return removed[runtime_id][-REPORT_LINES:]
    backend = cluster.backend
    if task.last_status == "STOPPED" or backend is None or not backend.capabilities.logs:
        return []
    out: collections.deque[str] = collections.deque(maxlen=REPORT_LINES)
    with anyio.move_on_after(5):
        try:
            async for line in backend.logs(runtime_id):
                out.append(line)
        except Exception as exc:
            out.append(f"(logs unavailable: {exc})")
    return list(out)
