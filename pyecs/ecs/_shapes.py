"""The ECS response shapes (``Task``, ``Service``, ``Failure``...) on the one converter.

Each pyecs value is unstructured into exactly the JSON that the ECS API sends for it:
camelCase member names from botocore's ECS model, ECS's enum words, and timestamps as
the JSON 1.1 protocol carries them (epoch seconds, a number). The output holds only
``dict``, ``list``, ``str``, ``int``, ``float`` and ``bool``: ``json.dumps`` takes it as
it is.

Models are dispatched by class. The results, events and services of the layers above
(:mod:`pyecs.runtime`, :mod:`pyecs.service`) are dispatched by shape (see
:mod:`pyecs.ecs._protocols`): this package may not import them.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs

from pyecs.ecs._converter import converter, unstructure_task_definition
from pyecs.ecs._protocols import (
    FailureLike,
    ServiceEventLike,
    ServiceLike,
    ServicesAndFailures,
    TaskDefinitionsAndFailures,
    TasksAndFailures,
)
from pyecs.models.instance import ContainerInstance, Resources
from pyecs.models.service import CircuitBreaker, Deployment, DeploymentConfiguration
from pyecs.models.task import Container, NetworkBinding, Task
from pyecs.models.task_definition import TaskDefinition

__all__ = ["LAUNCH_TYPE", "epoch_seconds", "task_definition_to_ecs", "to_ecs"]

#: The ECS ``launchType`` of everything pyecs runs: tasks on container instances.
LAUNCH_TYPE = "EC2"

#: Task-definition members that are timestamps on the wire (kept as ISO text in the model).
_TASK_DEFINITION_TIMESTAMPS = ("registeredAt", "deregisteredAt", "deleteRequestedAt")

JsonObject = dict[str, Any]


def epoch_seconds(when: datetime.datetime) -> float:
    """A timestamp as ECS's JSON protocol sends it: seconds since the epoch.

    A naive datetime is taken as UTC (pyecs's clocks are timezone-aware UTC).
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def _wire_timestamp(value: object) -> float | int | None:
    """A task definition's timestamp field (ISO text or a number) as epoch seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime.datetime):
        return epoch_seconds(value)
    if isinstance(value, str):
        try:
            return epoch_seconds(datetime.datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _put(out: JsonObject, key: str, value: object) -> None:
    """Set ``key`` unless ``value`` is None (ECS leaves unset members out)."""
    if value is not None:
        out[key] = value


def _put_time(out: JsonObject, key: str, when: datetime.datetime | None) -> None:
    if when is not None:
        out[key] = epoch_seconds(when)


def _tags(pairs: Sequence[tuple[str, str]]) -> list[JsonObject]:
    return [{"key": key, "value": value} for key, value in pairs]


# -- models, by class ----------------------------------------------------------------------


def _network_binding(b: NetworkBinding) -> JsonObject:
    return {
        "bindIP": b.bind_ip,
        "containerPort": b.container_port,
        "hostPort": b.host_port,
        "protocol": b.protocol,
    }


def container_arn(task_arn: str, name: str) -> str:
    """A stable container ARN in ECS's form: ``...:container/<cluster>/<task id>/<uuid>``."""
    suffix = uuid.uuid5(uuid.NAMESPACE_URL, f"{task_arn}#{name}")
    return f"{task_arn.replace(':task/', ':container/', 1)}/{suffix}"


def _container(c: Container, task_arn: str | None = None) -> JsonObject:
    out: JsonObject = {}
    if task_arn is not None:
        out["containerArn"] = container_arn(task_arn, c.name)
        out["taskArn"] = task_arn
    out["name"] = c.name
    out["image"] = c.image
    _put(out, "runtimeId", c.runtime_id)
    out["lastStatus"] = c.last_status
    _put(out, "exitCode", c.exit_code)
    _put(out, "reason", c.reason)
    out["networkBindings"] = [converter.unstructure(b) for b in c.network_bindings]
    out["networkInterfaces"] = []
    out["healthStatus"] = c.health_status
    return out


def _eni_status(t: Task) -> str:
    if t.last_status == "STOPPED":
        return "DELETED"
    if t.last_status in ("DEPROVISIONING",):
        return "DELETING"
    if t.last_status == "PROVISIONING":
        return "PRECREATED"
    return "ATTACHED"


def _attachments(t: Task) -> list[JsonObject]:
    """The ENI of an awsvpc task, as ECS shows it (``ElasticNetworkInterface``)."""
    eni = t.network_interface
    if eni is None:
        return []
    details = [
        {"name": "subnetId", "value": eni.subnet_id},
        {"name": "networkInterfaceId", "value": f"eni-{t.id[:17]}"},
    ]
    if eni.private_ipv4 is not None:
        details.append({"name": "privateIPv4Address", "value": eni.private_ipv4})
    return [
        {
            "id": eni.id,
            "type": "ElasticNetworkInterface",
            "status": _eni_status(t),
            "details": details,
        }
    ]


def _task(t: Task) -> JsonObject:
    out: JsonObject = {"attachments": _attachments(t)}
    _put(out, "availabilityZone", t.availability_zone)
    _put(out, "capacityProviderName", t.capacity_provider_name)
    out["clusterArn"] = t.cluster_arn
    if t.launch_type != "FARGATE":  # a Fargate task has no container instance
        _put(out, "containerInstanceArn", t.container_instance_arn or None)
    out["containers"] = [_container(c, t.arn) for c in t.containers]
    out["cpu"] = str(t.cpu)
    _put_time(out, "createdAt", t.created_at)
    out["desiredStatus"] = t.desired_status
    out["enableExecuteCommand"] = False
    _put_time(out, "executionStoppedAt", t.execution_stopped_at)
    out["group"] = t.group
    out["healthStatus"] = t.health_status
    out["lastStatus"] = t.last_status
    out["launchType"] = t.launch_type
    out["memory"] = str(t.memory)
    if t.platform_version is not None:
        out["platformVersion"] = t.platform_version
        out["platformFamily"] = "Linux"
    _put_time(out, "pullStartedAt", t.pull_started_at)
    _put_time(out, "pullStoppedAt", t.pull_stopped_at)
    _put_time(out, "startedAt", t.started_at)
    _put(out, "startedBy", t.started_by)
    _put(out, "stopCode", t.stop_code)
    _put_time(out, "stoppedAt", t.stopped_at)
    _put(out, "stoppedReason", t.stopped_reason)
    _put_time(out, "stoppingAt", t.stopping_at)
    if t.tags:
        out["tags"] = _tags(t.tags)
    out["taskArn"] = t.arn
    out["taskDefinitionArn"] = t.task_definition_arn
    out["version"] = t.version
    return out


def _resources(r: Resources) -> list[JsonObject]:
    """ECS's four resources, each with every value member as ECS sends them."""

    def resource(name: str, integer: int = 0, ports: frozenset[int] | None = None) -> JsonObject:
        out: JsonObject = {
            "name": name,
            "type": "INTEGER" if ports is None else "STRINGSET",
            "doubleValue": 0.0,
            "longValue": 0,
            "integerValue": integer,
        }
        if ports is not None:
            out["stringSetValue"] = [str(p) for p in sorted(ports)]
        return out

    return [
        resource("CPU", r.cpu),
        resource("MEMORY", r.memory),
        resource("PORTS", ports=r.ports),
        resource("PORTS_UDP", ports=r.ports_udp),
    ]


def _container_instance(ci: ContainerInstance) -> JsonObject:
    attributes: list[JsonObject] = []
    for name, value in ci.attributes.items():
        attribute: JsonObject = {"name": name}
        _put(attribute, "value", value)
        attributes.append(attribute)
    return {
        "containerInstanceArn": ci.arn,
        "ec2InstanceId": ci.ec2_instance_id,
        "versionInfo": {"agentVersion": ci.agent_version},
        "remainingResources": converter.unstructure(ci.remaining_resources),
        "registeredResources": converter.unstructure(ci.registered_resources),
        "status": ci.status,
        "agentConnected": ci.agent_connected,
        "runningTasksCount": ci.running_tasks_count,
        "pendingTasksCount": ci.pending_tasks_count,
        "attributes": attributes,
        "registeredAt": epoch_seconds(ci.registered_at),
        "attachments": [],
    }


def _deployment(d: Deployment) -> JsonObject:
    return {
        "id": d.id,
        "status": d.status,
        "taskDefinition": d.task_definition,
        "desiredCount": d.desired_count,
        "pendingCount": d.pending_count,
        "runningCount": d.running_count,
        "failedTasks": d.failed_tasks,
        "createdAt": epoch_seconds(d.created_at),
        "updatedAt": epoch_seconds(d.updated_at),
        "launchType": LAUNCH_TYPE,
        "rolloutState": d.rollout_state,
        "rolloutStateReason": d.rollout_state_reason,
    }


def _circuit_breaker(cb: CircuitBreaker) -> JsonObject:
    return {"enable": cb.enable, "rollback": cb.rollback}


def _deployment_configuration(dc: DeploymentConfiguration) -> JsonObject:
    return {
        "deploymentCircuitBreaker": converter.unstructure(dc.circuit_breaker),
        "maximumPercent": dc.maximum_percent,
        "minimumHealthyPercent": dc.minimum_healthy_percent,
    }


def task_definition_to_ecs(td: TaskDefinition) -> JsonObject:
    """The ECS ``TaskDefinition`` shape of a describe or register response.

    Unlike :meth:`TaskDefinition.to_dict` (the ``--cli-input-json`` form), ``tags`` are
    not in it (responses carry them beside the definition) and ``registeredAt``,
    ``deregisteredAt`` and ``deleteRequestedAt`` are epoch seconds; one that is no
    timestamp (hand-written text) is left out.
    """
    out = unstructure_task_definition(td)
    out.pop("tags", None)
    for key in _TASK_DEFINITION_TIMESTAMPS:
        if key in out:
            value = _wire_timestamp(out[key])
            if value is None:
                del out[key]
            else:
                out[key] = value
    return out


# -- the layers above, by shape ------------------------------------------------------------


def _failure(f: FailureLike) -> JsonObject:
    out: JsonObject = {}
    _put(out, "arn", f.arn)
    out["reason"] = f.reason
    if f.detail:
        out["detail"] = f.detail
    return out


def _service_event(e: ServiceEventLike) -> JsonObject:
    return {"id": e.id, "createdAt": epoch_seconds(e.created_at), "message": e.message}


def _tasks_and_failures(r: TasksAndFailures) -> JsonObject:
    return {
        "tasks": [converter.unstructure(t, Task) for t in r.tasks],
        "failures": [_failure(f) for f in r.failures],
    }


def _services_and_failures(r: ServicesAndFailures) -> JsonObject:
    return {
        "services": [_service(s) for s in r.services],
        "failures": [_failure(f) for f in r.failures],
    }


def _task_definitions_and_failures(r: TaskDefinitionsAndFailures) -> JsonObject:
    return {
        "taskDefinitions": [task_definition_to_ecs(td) for td in r.task_definitions],
        "failures": [_failure(f) for f in r.failures],
    }


def _placement_items(items: Sequence[object]) -> list[JsonObject]:
    """The ECS forms of the built-in strategies or constraints (their ``to_dict()``).

    A user's own strategy or constraint has no ECS form unless it offers ``to_dict()``
    too; it is left out.
    """
    out: list[JsonObject] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append(dict(item))
            continue
        to_dict = getattr(item, "to_dict", None)
        if callable(to_dict):
            value = to_dict()
            if isinstance(value, Mapping):
                out.append(dict(value))
    return out


def cluster_arn_of(service_arn: str) -> str:
    """``...:service/<cluster>/<name>`` -> ``...:cluster/<cluster>``."""
    prefix, _, resource = service_arn.partition(":service/")
    cluster = resource.split("/", 1)[0]
    return f"{prefix}:cluster/{cluster}"


def _service(s: ServiceLike) -> JsonObject:
    out: JsonObject = {
        "serviceArn": s.arn,
        "serviceName": s.name,
        "clusterArn": cluster_arn_of(s.arn),
        "loadBalancers": [
            {
                "targetGroupArn": lb.target_group_arn,
                "containerName": lb.config.container_name,
                "containerPort": lb.config.container_port,
            }
            for lb in s.load_balancers
        ],
        "serviceRegistries": [],
        "status": s.status,
        "desiredCount": s.desired_count,
        "runningCount": s.running_count,
        "pendingCount": s.pending_count,
        "taskDefinition": s.task_definition.task_definition_arn or s.task_definition.ref,
        "deploymentConfiguration": converter.unstructure(s.deployment_configuration),
        "deployments": [converter.unstructure(d, Deployment) for d in s.deployments],
        "events": [_service_event(e) for e in s.events],
        "createdAt": epoch_seconds(s.created_at),
        "placementConstraints": _placement_items(s.placement_constraints),
        "placementStrategy": _placement_items(s.placement_strategy),
        "healthCheckGracePeriodSeconds": round(s.health_check_grace_period),
        "schedulingStrategy": s.scheduling_strategy,
        "deploymentController": {"type": "ECS"},
    }
    strategy = getattr(s, "capacity_provider_strategy", ())
    if strategy:
        out["capacityProviderStrategy"] = [i.to_dict() for i in strategy]
    else:
        out["launchType"] = getattr(s, "launch_type", LAUNCH_TYPE)
    network = getattr(s, "network_configuration", None)
    if network is not None:
        out["networkConfiguration"] = network.to_dict()
    if getattr(s, "platform_version", None):
        out["platformVersion"] = s.platform_version  # type: ignore[attr-defined]
        out["platformFamily"] = "Linux"
    if s.tags:
        out["tags"] = _tags(list(s.tags.items()))
    out["enableECSManagedTags"] = False
    out["propagateTags"] = "NONE"
    out["enableExecuteCommand"] = False
    return out


def _field_names(cls: type) -> frozenset[str]:
    return frozenset(a.name for a in attrs.fields(cls)) if attrs.has(cls) else frozenset()


def _has_fields(*names: str) -> Callable[[Any], bool]:
    wanted = frozenset(names)

    def predicate(cls: Any) -> bool:
        return isinstance(cls, type) and wanted <= _field_names(cls)

    return predicate


def _is_service_class(cls: Any) -> bool:
    """A live service: not a value, with the properties ECS describes."""
    return (
        isinstance(cls, type)
        and not attrs.has(cls)
        and all(
            hasattr(cls, name)
            for name in ("deployments", "events", "desired_count", "running_count")
        )
    )


_BY_CLASS: dict[type, Callable[[Any], Any]] = {
    NetworkBinding: _network_binding,
    Container: _container,
    Task: _task,
    Resources: _resources,
    ContainerInstance: _container_instance,
    Deployment: _deployment,
    CircuitBreaker: _circuit_breaker,
    DeploymentConfiguration: _deployment_configuration,
}

_BY_SHAPE: tuple[tuple[Callable[[Any], bool], Callable[[Any], JsonObject]], ...] = (
    (_has_fields("arn", "reason", "detail"), _failure),
    (_has_fields("id", "message", "created_at"), _service_event),
    (_has_fields("tasks", "failures"), _tasks_and_failures),
    (_has_fields("services", "failures"), _services_and_failures),
    (_has_fields("task_definitions", "failures"), _task_definitions_and_failures),
    (_is_service_class, _service),
)


def _register() -> None:
    for cls, hook in _BY_CLASS.items():
        converter.register_unstructure_hook(cls, hook)
    for predicate, hook in _BY_SHAPE:
        converter.register_unstructure_hook_func(predicate, hook)


_register()


def _is_ecs_value(cls: type) -> bool:
    return (cls in _BY_CLASS and cls is not Resources) or any(
        predicate(cls) for predicate, _ in _BY_SHAPE
    )


def to_ecs(value: object) -> dict[str, Any]:
    """The ECS JSON of a pyecs value, exactly as the ECS API sends it.

    Dispatches on the value's type, through the one converter of :mod:`pyecs.ecs`:

    - :class:`~pyecs.Task`, :class:`~pyecs.Container`, :class:`~pyecs.NetworkBinding`;
    - a :class:`~pyecs.Service` and its :class:`~pyecs.Deployment` values,
      :class:`~pyecs.DeploymentConfiguration` and :class:`~pyecs.ServiceEvent` values;
    - :class:`~pyecs.ContainerInstance` (with its resources and attributes);
    - :class:`~pyecs.TaskDefinition` (the response shape: see
      :func:`task_definition_to_ecs`);
    - :class:`~pyecs.TaskFailure` and :class:`~pyecs.TaskDefinitionFailure` (an ECS
      ``Failure``);
    - the results :class:`~pyecs.RunTaskResult` and :class:`~pyecs.DescribeTasksResult`
      (``{"tasks", "failures"}``), :class:`~pyecs.DescribeServicesResult`
      (``{"services", "failures"}``) and :class:`~pyecs.DeleteTaskDefinitionsResult`
      (``{"taskDefinitions", "failures"}``).

    Timestamps are epoch seconds (numbers), as botocore's JSON protocol carries them;
    ``json.dumps`` takes the result as it is. A :class:`~pyecs.Container` alone has no
    ``containerArn``/``taskArn`` (they come from its task).

    Args:
        value: One of the values above.

    Returns:
        A fresh dict of plain JSON values.

    Raises:
        TypeError: for anything else, naming the type.
    """
    cls = type(value)
    if isinstance(value, TaskDefinition):
        return task_definition_to_ecs(value)
    if not _is_ecs_value(cls):
        raise TypeError(
            f"pyecs.ecs.to_ecs() cannot write a {cls.__module__}.{cls.__qualname__}: it "
            "takes a Task, Container, NetworkBinding, Service, Deployment, ServiceEvent, "
            "ContainerInstance, TaskDefinition, a failure or a describe/run result"
        )
    return cast("dict[str, Any]", converter.unstructure(value))
