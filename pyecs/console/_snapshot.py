"""What the console page shows, as one JSON-able value built from the clusters' state.

Everything is bounded: at most :data:`MAX_TASKS` tasks and :data:`MAX_EVENTS` events per
service, and :data:`MAX_POINTS` points per chart series, so one snapshot of a busy
cluster stays small enough to send on every change.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from pyecs.cluster import Cluster
from pyecs.exceptions import ServiceNotFoundError
from pyecs.models.task import Task
from pyecs.service._service import Service

__all__ = ["CHARTS", "MAX_EVENTS", "MAX_POINTS", "MAX_TASKS", "snapshot"]

#: Tasks shown per service (the newest first).
MAX_TASKS = 100
#: Service events shown per service (the newest first).
MAX_EVENTS = 50
#: Points per chart series (the newest).
MAX_POINTS = 300

#: The charts of a service: (title, namespace, metric, dimensions kind, unit).
CHARTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("CPU utilization", "AWS/ECS", "CPUUtilization", "service", "%"),
    ("Memory utilization", "AWS/ECS", "MemoryUtilization", "service", "%"),
    ("Request count", "AWS/ApplicationELB", "RequestCount", "balancer", ""),
    ("Desired count", "ECS/ContainerInsights", "DesiredTaskCount", "service", "tasks"),
)

JsonObject = dict[str, Any]


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _task(task: Task) -> JsonObject:
    ports = [
        f"{b.bind_ip}:{b.host_port}->{b.container_port}"
        for c in task.containers
        for b in c.network_bindings
    ]
    return {
        "id": task.id,
        "arn": task.arn,
        "lastStatus": task.last_status,
        "desiredStatus": task.desired_status,
        "healthStatus": task.health_status,
        "taskDefinition": task.task_definition_arn.rsplit("/", 1)[-1],
        "containerInstance": task.container_instance_id,
        "availabilityZone": task.availability_zone,
        "ports": ports,
        "startedAt": _iso(task.started_at),
        "stoppedReason": task.stopped_reason,
        "containers": [
            {"name": c.name, "lastStatus": c.last_status, "healthStatus": c.health_status}
            for c in task.containers
        ],
    }


def _series(cluster: Cluster, svc: Service) -> list[JsonObject]:
    store = cluster.metrics
    service_dims = {"ClusterName": cluster.name, "ServiceName": svc.name}
    charts = []
    for title, namespace, metric, kind, unit in CHARTS:
        dims: dict[str, str] | None = service_dims
        if kind == "balancer":
            lbs = svc.load_balancers
            if not lbs:
                continue
            group = lbs[0].target_group_arn.rpartition(":")[2]
            dims = {"TargetGroup": group, "LoadBalancer": f"app/{svc.name}/local"}
        points = store.points(namespace, metric, dims)[-MAX_POINTS:]
        charts.append(
            {
                "title": title,
                "namespace": namespace,
                "metric": metric,
                "unit": unit,
                "points": [[round(t, 3), round(v, 3)] for t, v in points],
            }
        )
    return charts


def _service(cluster: Cluster, svc: Service) -> JsonObject:
    tasks = sorted(svc.tasks, key=lambda t: t.created_at or datetime.datetime.min, reverse=True)
    return {
        "name": svc.name,
        "arn": svc.arn,
        "status": svc.status,
        "desiredCount": svc.desired_count,
        "runningCount": svc.running_count,
        "pendingCount": svc.pending_count,
        "taskDefinition": f"{svc.task_definition.family}:{svc.task_definition.revision}",
        "deployments": [
            {
                "id": d.id,
                "status": d.status,
                "taskDefinition": d.task_definition.rsplit("/", 1)[-1],
                "desiredCount": d.desired_count,
                "runningCount": d.running_count,
                "pendingCount": d.pending_count,
                "failedTasks": d.failed_tasks,
                "rolloutState": d.rollout_state,
                "rolloutStateReason": d.rollout_state_reason,
            }
            for d in svc.deployments
        ],
        "tasks": [_task(t) for t in tasks[:MAX_TASKS]],
        "events": [
            {"id": e.id, "createdAt": _iso(e.created_at), "message": e.message}
            for e in svc.events[:MAX_EVENTS]
        ],
        "charts": _series(cluster, svc),
    }


def snapshot(clusters: Iterable[Cluster]) -> JsonObject:
    """The console's view of ``clusters`` now (open clusters only).

    ``time`` is the anyio clock of the newest metrics round, so that the page can place
    chart points (stamped in anyio seconds) on a time axis.
    """
    out = []
    now = 0.0
    for cluster in clusters:
        if not cluster.is_open:
            continue
        last = cluster.metrics.last_round
        if last is not None:
            now = max(now, last)
        services = []
        for arn in cluster.list_services():
            try:
                svc = cluster.service(arn.rsplit("/", 1)[-1])
            except ServiceNotFoundError:  # deleted meanwhile
                continue
            services.append(_service(cluster, svc))
        standalone = [
            t
            for t in cluster.describe_tasks(cluster.list_tasks()).tasks
            if not t.group.startswith("service:")
        ]
        out.append(
            {
                "name": cluster.name,
                "arn": cluster.arn,
                "region": cluster.arn.split(":")[3],
                "metricsResolution": cluster.metrics_resolution,
                "services": services,
                "tasks": [_task(t) for t in standalone[:MAX_TASKS]],
            }
        )
    return {"time": now, "clusters": out}
