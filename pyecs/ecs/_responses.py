"""Whole ECS API responses, one function per operation, named after it.

Each returns the response body that the ECS API sends for the operation (botocore's
``<Operation>Response`` shape), built from the pyecs value that the matching
:class:`~pyecs.Cluster` call returns. ``json.dumps`` takes every one as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyecs.ecs._converter import converter
from pyecs.ecs._protocols import (
    FailureLike,
    ServiceLike,
    ServicesAndFailures,
    TaskDefinitionsAndFailures,
    TasksAndFailures,
)
from pyecs.ecs._shapes import task_definition_to_ecs
from pyecs.models.instance import ContainerInstance
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition

__all__ = [
    "create_service_response",
    "delete_service_response",
    "delete_task_definitions_response",
    "deregister_task_definition_response",
    "describe_container_instances_response",
    "describe_services_response",
    "describe_task_definition_response",
    "describe_tasks_response",
    "list_container_instances_response",
    "list_services_response",
    "list_task_definition_families_response",
    "list_task_definitions_response",
    "list_tasks_response",
    "register_task_definition_response",
    "run_task_response",
    "stop_task_response",
    "update_service_response",
]

JsonObject = dict[str, Any]


def _json(value: object) -> Any:
    return converter.unstructure(value)


def _tasks_and_failures(result: TasksAndFailures) -> JsonObject:
    return {
        "tasks": [_json(t) for t in result.tasks],
        "failures": [_json(f) for f in result.failures],
    }


def _listing(key: str, items: Sequence[str], next_token: str | None) -> JsonObject:
    out: JsonObject = {key: list(items)}
    if next_token is not None:
        out["nextToken"] = next_token
    return out


# -- tasks ---------------------------------------------------------------------------------


def run_task_response(result: TasksAndFailures) -> JsonObject:
    """RunTask: ``{"tasks": [...], "failures": [...]}``.

    Args:
        result: What ``cluster.run_task`` returned (a :class:`~pyecs.RunTaskResult`);
            each copy that could not be placed is a failure (``RESOURCE:MEMORY``...).
    """
    return _tasks_and_failures(result)


def describe_tasks_response(result: TasksAndFailures) -> JsonObject:
    """DescribeTasks: ``{"tasks": [...], "failures": [...]}``.

    Args:
        result: What ``cluster.describe_tasks`` returned (a
            :class:`~pyecs.DescribeTasksResult`); unknown tasks are ``MISSING`` failures.
    """
    return _tasks_and_failures(result)


def stop_task_response(task: Task) -> JsonObject:
    """StopTask: ``{"task": {...}}``.

    Args:
        task: What ``cluster.stop_task`` returned.
    """
    return {"task": _json(task)}


def list_tasks_response(task_arns: Sequence[str], next_token: str | None = None) -> JsonObject:
    """ListTasks: ``{"taskArns": [...]}``, with ``nextToken`` when given.

    Args:
        task_arns: What ``cluster.list_tasks`` returned.
        next_token: The token for the next page, if the listing was cut.
    """
    return _listing("taskArns", task_arns, next_token)


# -- services ------------------------------------------------------------------------------


def create_service_response(service: ServiceLike) -> JsonObject:
    """CreateService: ``{"service": {...}}``.

    Args:
        service: What ``cluster.create_service`` returned (a live :class:`~pyecs.Service`,
            described as it is at the call).
    """
    return {"service": _json(service)}


def update_service_response(service: ServiceLike) -> JsonObject:
    """UpdateService: ``{"service": {...}}``, the service after the update.

    Args:
        service: The updated :class:`~pyecs.Service`.
    """
    return {"service": _json(service)}


def delete_service_response(service: ServiceLike) -> JsonObject:
    """DeleteService: ``{"service": {...}}`` (status DRAINING, desired count 0).

    Args:
        service: What ``cluster.delete_service`` or ``svc.delete()`` returned.
    """
    return {"service": _json(service)}


def describe_services_response(result: ServicesAndFailures) -> JsonObject:
    """DescribeServices: ``{"services": [...], "failures": [...]}``.

    Args:
        result: What ``cluster.describe_services`` returned (a
            :class:`~pyecs.DescribeServicesResult`); unknown names are ``MISSING``.
    """
    return {
        "services": [_json(s) for s in result.services],
        "failures": [_json(f) for f in result.failures],
    }


def list_services_response(
    service_arns: Sequence[str], next_token: str | None = None
) -> JsonObject:
    """ListServices: ``{"serviceArns": [...]}``, with ``nextToken`` when given.

    Args:
        service_arns: What ``cluster.list_services`` returned.
        next_token: The token for the next page, if the listing was cut.
    """
    return _listing("serviceArns", service_arns, next_token)


# -- container instances -------------------------------------------------------------------


def describe_container_instances_response(
    instances: Sequence[ContainerInstance], failures: Sequence[FailureLike] = ()
) -> JsonObject:
    """DescribeContainerInstances: ``{"containerInstances": [...], "failures": [...]}``.

    Args:
        instances: Container instances (``cluster.describe_container_instance``, or
            ``cluster.list_container_instances()``).
        failures: Instances asked for and not found, as ``MISSING`` failures (for example
            ``pyecs.TaskFailure(arn, "MISSING")``).
    """
    return {
        "containerInstances": [_json(ci) for ci in instances],
        "failures": [_json(f) for f in failures],
    }


def list_container_instances_response(
    container_instance_arns: Sequence[str], next_token: str | None = None
) -> JsonObject:
    """ListContainerInstances: ``{"containerInstanceArns": [...]}``.

    Args:
        container_instance_arns: The instances' ARNs (``[ci.arn for ci in
            cluster.list_container_instances()]``).
        next_token: The token for the next page, if the listing was cut.
    """
    return _listing("containerInstanceArns", container_instance_arns, next_token)


# -- task definitions ----------------------------------------------------------------------


def _with_tags(td: TaskDefinition) -> JsonObject:
    out: JsonObject = {"taskDefinition": task_definition_to_ecs(td)}
    if td.tags:
        out["tags"] = [_json(tag) for tag in td.tags]
    return out


def register_task_definition_response(td: TaskDefinition) -> JsonObject:
    """RegisterTaskDefinition: ``{"taskDefinition": {...}, "tags": [...]}``.

    The tags sit beside the definition, as in ECS; ``tags`` is left out when there are
    none.

    Args:
        td: What ``cluster.register_task_definition`` returned.
    """
    return _with_tags(td)


def describe_task_definition_response(td: TaskDefinition) -> JsonObject:
    """DescribeTaskDefinition: ``{"taskDefinition": {...}, "tags": [...]}``.

    The same shape :meth:`TaskDefinition.from_dict` accepts back.

    Args:
        td: What ``cluster.describe_task_definition`` returned.
    """
    return _with_tags(td)


def deregister_task_definition_response(td: TaskDefinition) -> JsonObject:
    """DeregisterTaskDefinition: ``{"taskDefinition": {...}}`` (status INACTIVE).

    Args:
        td: What ``cluster.deregister_task_definition`` returned.
    """
    return {"taskDefinition": task_definition_to_ecs(td)}


def delete_task_definitions_response(result: TaskDefinitionsAndFailures) -> JsonObject:
    """DeleteTaskDefinitions: ``{"taskDefinitions": [...], "failures": [...]}``.

    Args:
        result: What ``cluster.delete_task_definitions`` returned (a
            :class:`~pyecs.DeleteTaskDefinitionsResult`).
    """
    return {
        "taskDefinitions": [task_definition_to_ecs(td) for td in result.task_definitions],
        "failures": [_json(f) for f in result.failures],
    }


def list_task_definitions_response(
    task_definition_arns: Sequence[str], next_token: str | None = None
) -> JsonObject:
    """ListTaskDefinitions: ``{"taskDefinitionArns": [...]}``.

    Args:
        task_definition_arns: What ``cluster.list_task_definitions`` returned.
        next_token: The token for the next page, if the listing was cut.
    """
    return _listing("taskDefinitionArns", task_definition_arns, next_token)


def list_task_definition_families_response(
    families: Sequence[str], next_token: str | None = None
) -> JsonObject:
    """ListTaskDefinitionFamilies: ``{"families": [...]}``.

    Args:
        families: What ``cluster.list_task_definition_families`` returned.
        next_token: The token for the next page, if the listing was cut.
    """
    return _listing("families", families, next_token)
