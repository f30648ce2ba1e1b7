"""Task-definition actions, and the tag actions of every resource."""

from __future__ import annotations

import pyecs.ecs as ecs
from pyecs.exceptions import PyecsError, TaskDefinitionNotFoundError
from pyecs.server._call import Call, JsonObject, tags_json
from pyecs.server._errors import EcsError, client, invalid
from pyecs.server._params import page

__all__ = ["HANDLERS"]


async def register_task_definition(call: Call) -> JsonObject:
    """RegisterTaskDefinition: the request is the task definition (with its ``tags``)."""
    td = call.region.registry.register(dict(call.p.data))
    arn = str(td.task_definition_arn)
    call.region.tags[arn] = dict(call.p.tags())
    out = ecs.register_task_definition_response(td)
    out["tags"] = tags_json(call.region.tags[arn])
    return out


def _describe(call: Call, ref: str) -> JsonObject:
    try:
        td = call.region.registry.describe(ref)
    except TaskDefinitionNotFoundError as exc:
        raise client(f"Unable to describe task definition. {exc}") from exc
    return call.with_tags(ecs.describe_task_definition_response(td), str(td.task_definition_arn))


async def describe_task_definition(call: Call) -> JsonObject:
    """DescribeTaskDefinition (``include: ["TAGS"]`` adds the tags)."""
    return _describe(call, call.p.text("taskDefinition", required=True))


async def deregister_task_definition(call: Call) -> JsonObject:
    """DeregisterTaskDefinition: INACTIVE; running tasks and services keep it."""
    td = call.region.registry.deregister(call.p.text("taskDefinition", required=True))
    return ecs.deregister_task_definition_response(td)


async def delete_task_definitions(call: Call) -> JsonObject:
    """DeleteTaskDefinitions: INACTIVE revisions only; others are failures."""
    refs = call.p.strings("taskDefinitions", required=True, limit=10)
    if not refs:
        raise invalid("DeleteTaskDefinitions: taskDefinitions must name 1 to 10 revisions")
    return ecs.delete_task_definitions_response(call.region.registry.delete(refs))


async def list_task_definitions(call: Call) -> JsonObject:
    """ListTaskDefinitions (familyPrefix, status, sort), paginated."""
    arns = call.region.registry.list_arns(
        family_prefix=call.p.text("familyPrefix"),
        status=call.p.choice("status", ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"), "ACTIVE"),
        sort=call.p.choice("sort", ("ASC", "DESC"), "ASC"),
    )
    chunk, token = page(call.p, arns)
    return ecs.list_task_definitions_response(chunk, token)


async def list_task_definition_families(call: Call) -> JsonObject:
    """ListTaskDefinitionFamilies (familyPrefix, status), paginated."""
    families = call.region.registry.list_families(
        family_prefix=call.p.text("familyPrefix"),
        status=call.p.choice("status", ("ACTIVE", "INACTIVE", "ALL"), "ACTIVE"),
    )
    chunk, token = page(call.p, families)
    return ecs.list_task_definition_families_response(chunk, token)


# -- tags ------------------------------------------------------------------------------------


def _resource(call: Call, arn: str) -> None:
    """Check that ``arn`` names a resource of this region that exists.

    Raises:
        EcsError: InvalidParameterException (not an ECS ARN of this region),
            ResourceNotFoundException or ClusterNotFoundException.
    """
    prefix = f"arn:aws:ecs:{call.region.name}:{call.region.account}:"
    if not arn.startswith(prefix):
        raise invalid(
            f"resourceArn {arn!r} is not an ECS ARN of {call.region.name} and account "
            f"{call.region.account}"
        )
    kind, _, rest = arn[len(prefix) :].partition("/")
    try:
        if kind == "cluster":
            if rest not in call.region.clusters:
                raise EcsError(
                    "ResourceNotFoundException",
                    f"The specified resource could not be found: no cluster {rest!r}",
                )
        elif kind == "task-definition":
            call.region.registry.describe(arn)
        elif kind in ("service", "task", "container-instance"):
            cluster, _, name = rest.partition("/")
            c = call.region.entry(cluster).cluster
            if kind == "service":
                c.service(name)
            elif kind == "task":
                c.describe_task(name)
            else:
                c.describe_container_instance(name)
        else:
            raise invalid(f"resourceArn {arn!r}: ECS cannot tag a {kind!r}")
    except PyecsError as exc:
        raise EcsError(
            "ResourceNotFoundException", f"The specified resource could not be found: {exc}"
        ) from exc


async def tag_resource(call: Call) -> JsonObject:
    """TagResource: adds or replaces tags (at most 50 per resource, ECS's rule)."""
    arn = call.p.text("resourceArn", required=True)
    _resource(call, arn)
    new = call.p.tags()
    tags = {**call.region.tags.get(arn, {}), **new}
    for key in new:
        if key.lower().startswith("aws:"):
            raise invalid(f"tag key {key!r}: the aws: prefix is reserved")
    if len(tags) > 50:
        raise invalid(f"{arn} would have {len(tags)} tags; ECS allows 50")
    call.region.tags[arn] = tags
    _sync_service_tags(call, arn, tags)
    return {}


async def untag_resource(call: Call) -> JsonObject:
    """UntagResource."""
    arn = call.p.text("resourceArn", required=True)
    _resource(call, arn)
    keys = call.p.strings("tagKeys", required=True)
    tags = {k: v for k, v in call.region.tags.get(arn, {}).items() if k not in keys}
    call.region.tags[arn] = tags
    _sync_service_tags(call, arn, tags)
    return {}


def _sync_service_tags(call: Call, arn: str, tags: dict[str, str]) -> None:
    # A service's tags are also part of the library's Service (its tasks get them).
    if ":service/" in arn:
        cluster, _, name = arn.split(":service/", 1)[1].partition("/")
        service = call.region.entry(cluster).cluster.service(name)
        service.tags.clear()
        service.tags.update(tags)


async def list_tags_for_resource(call: Call) -> JsonObject:
    """ListTagsForResource."""
    arn = call.p.text("resourceArn", required=True)
    _resource(call, arn)
    return {"tags": tags_json(call.region.tags.get(arn, {}))}


HANDLERS = {
    "RegisterTaskDefinition": register_task_definition,
    "DescribeTaskDefinition": describe_task_definition,
    "DeregisterTaskDefinition": deregister_task_definition,
    "DeleteTaskDefinitions": delete_task_definitions,
    "ListTaskDefinitions": list_task_definitions,
    "ListTaskDefinitionFamilies": list_task_definition_families,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
