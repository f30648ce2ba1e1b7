"""What the state store keeps of a region, and how a region comes back from it.

A region's snapshot is its clusters (settings, configuration, status, capacity providers
and default strategy; deleted ones as DescribeClusters shows them), every task-definition
revision with its status (deleted revisions too: their numbers are never given again), the
ACTIVE services with their create and update parameters (launch type, capacity provider
strategy and network configuration included), custom container-instance attributes,
account settings, tags, the EC2 security groups and capacity providers of the region, and
the RUNNING tasks of ACTIVE services (to adopt after a restart). It is built on
the event loop from in-memory state (cheap) and written as a whole.
"""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
from typing import Any

import anyio

import pyecs.ecs as ecs
from pyecs.exceptions import PyecsError, StateStoreError
from pyecs.models.security_group import SecurityGroup, ingress_rules_from
from pyecs.models.service import CircuitBreaker, DeploymentConfiguration
from pyecs.models.task import AdoptableTask, Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._events import TaskStateChange
from pyecs.server._call import Call
from pyecs.server._capacity import associate, cluster_capacity_json
from pyecs.server._errors import EcsError
from pyecs.server._state import ClusterEntry, Region, ServerState
from pyecs.server._store import Rows, StateStore
from pyecs.service._service import Service

__all__ = ["Persister", "restore_region", "snapshot"]

log = logging.getLogger("pyecs.server")

JsonObject = dict[str, Any]


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _service_body(service: Service) -> JsonObject:
    body = ecs.to_ecs(service)
    return {
        "taskDefinition": body["taskDefinition"],
        "desiredCount": body["desiredCount"],
        "schedulingStrategy": body["schedulingStrategy"],
        "placementStrategy": body.get("placementStrategy") or [],
        "placementConstraints": body.get("placementConstraints") or [],
        "deploymentConfiguration": body.get("deploymentConfiguration") or {},
        "healthCheckGracePeriodSeconds": body.get("healthCheckGracePeriodSeconds") or 0,
        "loadBalancers": [
            {"containerName": lb["containerName"], "containerPort": lb["containerPort"]}
            for lb in body.get("loadBalancers") or ()
        ],
        "launchType": body.get("launchType") if "capacityProviderStrategy" not in body else None,
        "capacityProviderStrategy": body.get("capacityProviderStrategy"),
        "networkConfiguration": body.get("networkConfiguration"),
    }


def _task_body(task: Task) -> JsonObject:
    return {
        "arn": task.arn,
        "taskDefinitionArn": task.task_definition_arn,
        "group": task.group,
        "startedBy": task.started_by,
        "tags": [list(kv) for kv in task.tags],
        "createdAt": task.created_at.isoformat() if task.created_at else None,
        "startedAt": task.started_at.isoformat() if task.started_at else None,
    }


def snapshot(region: Region) -> Rows:
    """The rows of ``region`` as it is now."""
    rows: Rows = {
        "clusters": [],
        "task_definitions": [],
        "services": [],
        "attributes": [],
        "account_settings": [],
        "tags": [],
        "tasks": [],
        "security_groups": [],
        "capacity_providers": [],
    }
    registry = region.registry
    for status in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
        for arn in registry.list_arns(status=status):
            td = registry.describe(arn)
            rows["task_definitions"].append((td.family, td.revision, _dump(td.to_dict())))
    for name, described in region.deleted.items():
        rows["clusters"].append((name, "INACTIVE", _dump(described)))
    for name, entry in region.clusters.items():
        body = {
            "settings": entry.settings,
            "configuration": entry.configuration,
            **cluster_capacity_json(entry),
        }
        rows["clusters"].append((name, "ACTIVE", _dump(body)))
        cluster = entry.cluster
        services = [cluster.service(arn.rsplit("/", 1)[-1]) for arn in cluster.list_services()]
        active = [s for s in services if s.status == "ACTIVE"]
        for service in active:
            rows["services"].append((name, service.name, _dump(_service_body(service))))
            for task in service.tasks:
                if task.last_status == "RUNNING" and task.desired_status == "RUNNING":
                    rows["tasks"].append((name, task.arn, _dump(_task_body(task))))
        for instance in cluster.list_container_instances():
            for key, value in instance.attributes.items():
                if not key.startswith("ecs."):
                    rows["attributes"].append((name, instance.id, key, value))
    for (principal, setting), value in region.account_settings.items():
        rows["account_settings"].append((principal, setting, value))
    for arn, tags in region.tags.items():
        rows["tags"].append((arn, _dump(tags)))
    for group in region.security_groups.describe():
        rows["security_groups"].append((group.group_id, _dump(group.to_ec2(region.account))))
    for name, record in region.capacity_providers.items():
        rows["capacity_providers"].append((name, _dump(record)))
    return rows


def _security_group(body: JsonObject) -> SecurityGroup:
    return SecurityGroup(
        group_id=body["GroupId"],
        group_name=body["GroupName"],
        description=body.get("Description") or "",
        ingress=ingress_rules_from(body.get("IpPermissions") or []),
        vpc_id=body.get("VpcId") or "vpc-local",
    )


def _adoptable(body: JsonObject) -> AdoptableTask:
    def when(text: str | None) -> datetime.datetime | None:
        return datetime.datetime.fromisoformat(text) if text else None

    return AdoptableTask(
        arn=body["arn"],
        task_definition_arn=body["taskDefinitionArn"],
        group=body["group"],
        started_by=body.get("startedBy"),
        tags=tuple((str(k), str(v)) for k, v in body.get("tags") or ()),
        created_at=when(body.get("createdAt")),
        started_at=when(body.get("startedAt")),
    )


def _deployment_configuration(raw: JsonObject) -> DeploymentConfiguration:
    breaker = raw.get("deploymentCircuitBreaker") or {}
    return DeploymentConfiguration(
        maximum_percent=raw.get("maximumPercent", 200),
        minimum_healthy_percent=raw.get("minimumHealthyPercent", 100),
        circuit_breaker=CircuitBreaker(
            bool(breaker.get("enable", False)), bool(breaker.get("rollback", False))
        ),
    )


async def restore_region(state: ServerState, name: str, rows: Rows) -> Region:
    """Bring ``name`` back: definitions, clusters (adopting their services' tasks),
    services, attributes, settings and tags. What cannot come back is logged."""
    region = state.region(name)
    for _family, _revision, body in rows.get("task_definitions", ()):
        region.registry.restore(TaskDefinition.from_dict(json.loads(body)))
    region.tags.update({arn: json.loads(body) for arn, body in rows.get("tags", ())})
    for principal, setting, value in rows.get("account_settings", ()):
        region.account_settings[(principal, setting)] = value
    # Groups and providers before the clusters: their tasks and strategies name them.
    region.security_groups.restore(
        _security_group(json.loads(body)) for _gid, body in rows.get("security_groups", ())
    )
    for name, body in rows.get("capacity_providers", ()):
        region.capacity_providers[name] = json.loads(body)
    tasks: dict[str, list[AdoptableTask]] = {}
    for cluster, _arn, body in rows.get("tasks", ()):
        tasks.setdefault(cluster, []).append(_adoptable(json.loads(body)))
    for cluster_name, status, body in rows.get("clusters", ()):
        data = json.loads(body)
        if status != "ACTIVE":
            region.deleted[cluster_name] = data
            continue
        async with region.lock:
            entry = await state.open_cluster(
                region, cluster_name, adopt=tasks.get(cluster_name, ())
            )
        entry.settings = data.get("settings") or entry.settings
        entry.configuration = data.get("configuration")
        providers = data.get("capacityProviders") or []
        if providers:
            try:
                async with region.lock:
                    await associate(
                        region, entry, providers, data.get("defaultCapacityProviderStrategy") or []
                    )
            except (PyecsError, EcsError) as exc:
                log.warning("capacity providers of %s not restored: %s", cluster_name, exc)
    for cluster_name, service_name, body in rows.get("services", ()):
        await _restore_service(region, cluster_name, service_name, json.loads(body))
    for cluster_name, instance, attribute, value in rows.get("attributes", ()):
        found = region.clusters.get(cluster_name)
        try:
            if found is not None:
                await found.cluster.put_attributes(instance, {attribute: value})
        except PyecsError as exc:
            log.warning("attribute %s of %s not restored: %s", attribute, instance, exc)
    return region


async def _restore_service(region: Region, cluster: str, name: str, body: JsonObject) -> None:
    entry = region.clusters.get(cluster)
    if entry is None:
        log.warning("service %s/%s not restored: its cluster is gone", cluster, name)
        return
    arn = f"arn:aws:ecs:{region.name}:{region.account}:service/{cluster}/{name}"
    try:
        await entry.cluster.create_service(
            name,
            task_definition=body["taskDefinition"],
            desired_count=body["desiredCount"],
            scheduling_strategy=body["schedulingStrategy"],
            placement_strategy=body["placementStrategy"] or None,
            placement_constraints=body["placementConstraints"] or None,
            deployment_configuration=_deployment_configuration(body["deploymentConfiguration"]),
            health_check_grace_period=body["healthCheckGracePeriodSeconds"],
            tags=region.tags.get(arn) or None,
            load_balancers=body["loadBalancers"] or None,
            launch_type=body.get("launchType"),
            capacity_provider_strategy=body.get("capacityProviderStrategy"),
            network_configuration=body.get("networkConfiguration"),
        )
    except (PyecsError, KeyError, TypeError, ValueError) as exc:
        log.warning("service %s/%s could not be restored: %s", cluster, name, exc)


def _running_service_tasks(region: Region) -> frozenset[str]:
    out: set[str] = set()
    for entry in region.clusters.values():
        cluster = entry.cluster
        for arn in cluster.list_services():
            service = cluster.service(arn.rsplit("/", 1)[-1])
            if service.status == "ACTIVE":
                out.update(t.arn for t in service.tasks if t.last_status == "RUNNING")
    return frozenset(out)


class Persister:
    """Writes regions to the store: at once after each API write (before the answer),
    and when the RUNNING tasks of services change (a replacement, a scale-out).

    The second is event-driven: :meth:`follow_tasks` subscribes to each open cluster's
    events, and a state change of a service's task wakes it to compare the services'
    RUNNING tasks with what was saved last (a comparison, so events a slow subscriber
    lost cost nothing). Clusters made by a request are followed from that request's
    :meth:`after_write` on.
    """

    def __init__(self, store: StateStore, state: ServerState) -> None:
        self.store = store
        self.state = state
        self._lock = anyio.Lock()
        self._tasks: dict[str, frozenset[str]] = {}
        self._changed = anyio.Event()
        self._followed: set[int] = set()
        self._tg: anyio.abc.TaskGroup | None = None

    async def save(self, region: Region) -> None:
        """Write ``region`` as it is now; returns once it is committed."""
        async with self._lock:  # the snapshot taken last is the one written last
            tasks = _running_service_tasks(region)
            await self.store.save(region.name, snapshot(region))
            self._tasks[region.name] = tasks

    async def after_write(self, action: str, call: Call) -> None:
        """The app's hook: the request's region, durable before the response.

        Raises:
            EcsError: ServerException (500) when the store cannot write: the client must
                not take the change as kept.
        """
        self._follow_new()
        try:
            await self.save(call.region)
        except (sqlite3.Error, OSError, StateStoreError) as exc:
            log.exception("%s: saving the state failed", action)
            raise EcsError(
                "ServerException",
                f"{action} was applied in memory but could not be saved to "
                f"{self.store.path}: {exc}; it will not survive a restart",
                500,
            ) from exc

    async def follow_tasks(self) -> None:
        """Save regions whose services' RUNNING tasks changed, until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            try:
                self._follow_new()
                while True:
                    await self._changed.wait()
                    self._changed = anyio.Event()
                    await self._save_changed()
            finally:
                self._tg = None

    async def _save_changed(self) -> None:
        for region in list(self.state.regions.values()):
            if _running_service_tasks(region) != self._tasks.get(region.name, frozenset()):
                try:
                    await self.save(region)
                except Exception:
                    log.exception("saving the tasks of %s failed", region.name)
                    self._changed.set()  # try again at the next change
                    await anyio.sleep(1)  # ...not at once: the store may stay broken a while

    def _follow_new(self) -> None:
        """Subscribe to the events of every open cluster not followed yet."""
        if self._tg is None:
            return
        for region in self.state.regions.values():
            for entry in region.clusters.values():
                if id(entry) not in self._followed and not entry.closed.is_set():
                    self._followed.add(id(entry))
                    self._tg.start_soon(self._follow, entry)

    async def _follow(self, entry: ClusterEntry) -> None:
        try:
            async with anyio.create_task_group() as tg:

                async def until_closed() -> None:
                    await entry.closed.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(until_closed)
                async with entry.cluster.subscribe() as events:
                    async for event in events:
                        if isinstance(event, TaskStateChange) and event.task.group.startswith(
                            "service:"
                        ):
                            self._changed.set()
                tg.cancel_scope.cancel()
        finally:
            self._followed.discard(id(entry))
            self._changed.set()  # its tasks are gone from what is running
