"""Task actions: RunTask, StartTask, StopTask, DescribeTasks, ListTasks."""

from __future__ import annotations

from typing import Any

import pyecs.ecs as ecs
from pyecs.exceptions import PyecsError, TaskDefinitionNotFoundError
from pyecs.models.task import Task
from pyecs.runtime._tasks import RunTaskResult
from pyecs.server._call import Call, JsonObject
from pyecs.server._capacity import capacity_options
from pyecs.server._errors import EcsError, from_pyecs, invalid
from pyecs.server._params import page

__all__ = ["HANDLERS", "task_definition_error"]

#: ECS's limit on RunTask's count.
MAX_RUN_TASK_COUNT = 10


def task_definition_error(exc: TaskDefinitionNotFoundError) -> EcsError:
    """How ECS refuses a task definition it cannot start tasks of (RunTask, CreateService...)."""
    return invalid(f"TaskDefinition not found or not ACTIVE: {exc}")


def _placement(call: Call) -> dict[str, Any]:
    return {
        "placement_strategy": call.p.array("placementStrategy"),
        "placement_constraints": call.p.array("placementConstraints"),
    }


async def _run(call: Call, **extra: Any) -> RunTaskResult:
    entry = call.region.entry(call.p.text("cluster"))
    td = call.p.text("taskDefinition", required=True)
    tags = call.p.tags()
    try:
        result = await entry.cluster.run_task(
            td,
            group=call.p.text("group"),
            started_by=call.p.text("startedBy"),
            overrides=call.p.obj("overrides"),
            tags=tags or None,
            **capacity_options(call),
            **extra,
        )
    except TaskDefinitionNotFoundError as exc:
        raise task_definition_error(exc) from exc
    for task in result.tasks:
        call.region.tags[task.arn] = dict(tags)
    return result


async def run_task(call: Call) -> JsonObject:
    """RunTask: count (1-10, ECS's limit), group, overrides, placement, startedBy, tags."""
    count = call.p.integer("count")
    count = 1 if count is None else count
    if not 1 <= count <= MAX_RUN_TASK_COUNT:
        raise invalid(f"RunTask: count must be from 1 to {MAX_RUN_TASK_COUNT}, not {count}")
    result = await _run(call, count=count, **_placement(call))
    return ecs.run_task_response(result)


async def start_task(call: Call) -> JsonObject:
    """StartTask: one task on each container instance named (1-10)."""
    refs = call.p.strings("containerInstances", required=True, limit=10)
    if not refs:
        raise invalid("StartTask: containerInstances must name 1 to 10 instances")
    entry = call.region.entry(call.p.text("cluster"))
    tasks: list[Task] = []
    failures: list[JsonObject] = []
    for ref in refs:
        try:
            instance = entry.cluster.describe_container_instance(ref)
        except PyecsError:
            failures.append({"arn": ref, "reason": "MISSING"})
            continue
        constraint = {
            "type": "memberOf",
            "expression": f"ec2InstanceId == {instance.ec2_instance_id}",
        }
        result = await _run(call, count=1, placement_constraints=[constraint])
        tasks.extend(result.tasks)
        failures.extend(
            {"arn": instance.arn, "reason": f.reason, "detail": f.detail} for f in result.failures
        )
    out = ecs.run_task_response(RunTaskResult(tuple(tasks), ()))
    out["failures"] = failures
    return out


async def stop_task(call: Call) -> JsonObject:
    """StopTask (reason as given, else ``Task stopped by user``)."""
    entry = call.region.entry(call.p.text("cluster"))
    ref = call.p.text("task", required=True)
    try:
        task = await entry.cluster.stop_task(ref, reason=call.p.text("reason"))
    except PyecsError as exc:
        raise invalid(f"The referenced task was not found: {exc}") from exc
    return ecs.stop_task_response(task)


async def describe_tasks(call: Call) -> JsonObject:
    """DescribeTasks: up to 100; unknown ones are MISSING failures."""
    entry = call.region.entry(call.p.text("cluster"))
    refs = call.p.strings("tasks", required=True, limit=100)
    result = entry.cluster.describe_tasks(refs)
    out = ecs.describe_tasks_response(result)
    for task_json in out["tasks"]:
        call.with_tags(task_json, task_json["taskArn"])
    return out


async def list_tasks(call: Call) -> JsonObject:
    """ListTasks: family, serviceName, desiredStatus, containerInstance, startedBy."""
    entry = call.region.entry(call.p.text("cluster"))
    instance = call.p.text("containerInstance")
    if instance is not None:
        try:
            instance = entry.cluster.describe_container_instance(instance).arn
        except PyecsError as exc:
            raise from_pyecs(exc) from exc
    service = call.p.text("serviceName")
    if service is not None and service.startswith("arn:"):
        service = service.rsplit("/", 1)[-1]
    arns = entry.cluster.list_tasks(
        family=call.p.text("family"),
        service_name=service,
        desired_status=call.p.choice(
            "desiredStatus", ("RUNNING", "PENDING", "STOPPED"), "RUNNING"
        ).replace("PENDING", "RUNNING"),
        container_instance=instance,
        started_by=call.p.text("startedBy"),
    )
    chunk, token = page(call.p, arns)
    return ecs.list_tasks_response(chunk, token)


HANDLERS = {
    "RunTask": run_task,
    "StartTask": start_task,
    "StopTask": stop_task,
    "DescribeTasks": describe_tasks,
    "ListTasks": list_tasks,
}
