"""Service actions: Create, Update, Delete (force), Describe, List."""

from __future__ import annotations

from typing import Any

import attrs

import pyecs.ecs as ecs
from pyecs.exceptions import TaskDefinitionNotFoundError
from pyecs.models.service import CircuitBreaker, DeploymentConfiguration
from pyecs.server._call import Call, JsonObject
from pyecs.server._capacity import capacity_options
from pyecs.server._errors import EcsError, invalid
from pyecs.server._params import page
from pyecs.server._tasks import task_definition_error
from pyecs.service._service import Service

__all__ = ["HANDLERS"]


def _deployment_configuration(
    call: Call, base: DeploymentConfiguration | None
) -> DeploymentConfiguration | None:
    raw = call.p.obj("deploymentConfiguration")
    if raw is None:
        return None
    base = base or DeploymentConfiguration()
    changes: dict[str, Any] = {}
    for key, field in (
        ("maximumPercent", "maximum_percent"),
        ("minimumHealthyPercent", "minimum_healthy_percent"),
    ):
        value = raw.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(f"deploymentConfiguration.{key} must be an integer, not {value!r}")
            changes[field] = value
    breaker = raw.get("deploymentCircuitBreaker")
    if breaker is not None:
        if not isinstance(breaker, dict) or not all(
            isinstance(breaker.get(k), bool) for k in ("enable", "rollback")
        ):
            raise invalid(
                "deploymentConfiguration.deploymentCircuitBreaker must be "
                "{'enable': bool, 'rollback': bool}"
            )
        changes["circuit_breaker"] = CircuitBreaker(breaker["enable"], breaker["rollback"])
    try:
        return attrs.evolve(base, **changes)
    except (ValueError, TypeError) as exc:
        # The library names its snake_case fields; the caller sent ECS's names.
        message = str(exc).replace("deployment_configuration.", "deploymentConfiguration.")
        for snake, camel in (
            ("maximum_percent", "maximumPercent"),
            ("minimum_healthy_percent", "minimumHealthyPercent"),
        ):
            message = message.replace(snake, camel)
        raise invalid(message) from exc


def _service_json(call: Call, service: Service) -> JsonObject:
    return call.with_tags(ecs.to_ecs(service), service.arn)


def _service(call: Call, ref: str | None = None) -> tuple[Any, Service]:
    entry = call.region.entry(call.p.text("cluster"))
    ref = ref or call.p.text("service", required=True)
    return entry, entry.cluster.service(ref.rsplit("/", 1)[-1])


async def create_service(call: Call) -> JsonObject:
    """CreateService: a REPLICA or DAEMON service keeping its tasks running."""
    entry = call.region.entry(call.p.text("cluster"))
    name = call.p.text("serviceName", required=True)
    td = call.p.text("taskDefinition", required=True)
    count = call.p.integer("desiredCount")
    strategy = call.p.choice("schedulingStrategy", ("REPLICA", "DAEMON"), "REPLICA")
    if count is None and strategy == "REPLICA":
        raise invalid(
            "CreateService: desiredCount is required for a REPLICA service (the default "
            "schedulingStrategy); pass desiredCount, or schedulingStrategy DAEMON"
        )
    tags = call.p.tags()
    try:
        service = await entry.cluster.create_service(
            name,
            task_definition=td,
            desired_count=count or 0,
            scheduling_strategy=strategy,
            placement_strategy=call.p.array("placementStrategy"),
            placement_constraints=call.p.array("placementConstraints"),
            deployment_configuration=_deployment_configuration(call, None),
            health_check_grace_period=call.p.integer("healthCheckGracePeriodSeconds") or 0,
            tags=tags or None,
            load_balancers=call.p.array("loadBalancers"),
            **capacity_options(call),
        )
    except TaskDefinitionNotFoundError as exc:
        raise task_definition_error(exc) from exc
    call.region.tags[service.arn] = dict(tags)
    return {"service": _service_json(call, service)}


async def update_service(call: Call) -> JsonObject:
    """UpdateService: a new deployment on a new task definition or forceNewDeployment."""
    _, service = _service(call)
    if service.status != "ACTIVE":
        raise EcsError(
            "ServiceNotActiveException",
            f"Service was not ACTIVE: {service.name} is {service.status}; create it again",
        )
    try:
        await service.update(
            desired_count=call.p.integer("desiredCount"),
            task_definition=call.p.text("taskDefinition"),
            force_new_deployment=call.p.flag("forceNewDeployment"),
            deployment_configuration=_deployment_configuration(
                call, service.deployment_configuration
            ),
            placement_strategy=call.p.array("placementStrategy"),
            placement_constraints=call.p.array("placementConstraints"),
            health_check_grace_period=call.p.integer("healthCheckGracePeriodSeconds"),
            capacity_provider_strategy=call.p.array("capacityProviderStrategy"),
            network_configuration=call.p.obj("networkConfiguration"),
        )
    except TaskDefinitionNotFoundError as exc:
        raise task_definition_error(exc) from exc
    return {"service": _service_json(call, service)}


async def delete_service(call: Call) -> JsonObject:
    """DeleteService: desiredCount 0 first, or ``force``; DRAINING, then INACTIVE."""
    _, service = _service(call)
    await service.delete(force=call.p.flag("force"))
    return {"service": _service_json(call, service)}


async def describe_services(call: Call) -> JsonObject:
    """DescribeServices: up to 10; unknown ones are MISSING failures."""
    entry = call.region.entry(call.p.text("cluster"))
    refs = call.p.strings("services", required=True, limit=10)
    result = entry.cluster.describe_services(refs)
    out = ecs.describe_services_response(result)
    out["services"] = [_service_json(call, s) for s in result.services]
    return out


async def list_services(call: Call) -> JsonObject:
    """ListServices (schedulingStrategy), paginated (10 a page by default, as ECS)."""
    entry = call.region.entry(call.p.text("cluster"))
    strategy = call.p.choice("schedulingStrategy", ("REPLICA", "DAEMON"))
    arns = [
        arn
        for arn in entry.cluster.list_services()
        if strategy is None
        or entry.cluster.service(arn.rsplit("/", 1)[-1]).scheduling_strategy == strategy
    ]
    chunk, token = page(call.p, arns, default_size=10)
    return ecs.list_services_response(chunk, token)


HANDLERS = {
    "CreateService": create_service,
    "UpdateService": update_service,
    "DeleteService": delete_service,
    "DescribeServices": describe_services,
    "ListServices": list_services,
}
