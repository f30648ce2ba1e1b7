"""Container-instance and attribute actions."""

from __future__ import annotations

import pyecs.ecs as ecs
from pyecs.exceptions import PyecsError
from pyecs.models.instance import ContainerInstance
from pyecs.server._call import Call, JsonObject
from pyecs.server._errors import EcsError, invalid
from pyecs.server._params import page
from pyecs.server._state import ClusterEntry

__all__ = ["HANDLERS"]

_TARGET = "container-instance"


def _instance(entry: ClusterEntry, ref: str) -> ContainerInstance | None:
    try:
        return entry.cluster.describe_container_instance(ref)
    except PyecsError:
        return None


async def list_container_instances(call: Call) -> JsonObject:
    """ListContainerInstances (filter in the cluster query language, status), paginated."""
    entry = call.region.entry(call.p.text("cluster"))
    status = call.p.choice(
        "status", ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED")
    )
    instances = entry.cluster.list_container_instances(filter=call.p.text("filter"), status=status)
    chunk, token = page(call.p, [ci.arn for ci in instances])
    return ecs.list_container_instances_response(chunk, token)


async def describe_container_instances(call: Call) -> JsonObject:
    """DescribeContainerInstances: unknown ones are MISSING failures."""
    entry = call.region.entry(call.p.text("cluster"))
    refs = call.p.strings("containerInstances", required=True, limit=100)
    found, missing = [], []
    for ref in refs:
        ci = _instance(entry, ref)
        if ci is None:
            missing.append({"arn": ref, "reason": "MISSING"})
        else:
            found.append(ci)
    out = ecs.describe_container_instances_response(found)
    out["failures"] = missing
    for ci_json in out["containerInstances"]:
        call.with_tags(ci_json, ci_json["containerInstanceArn"])
    return out


async def update_container_instances_state(call: Call) -> JsonObject:
    """UpdateContainerInstancesState: ACTIVE or DRAINING; unknown ones are failures."""
    entry = call.region.entry(call.p.text("cluster"))
    refs = call.p.strings("containerInstances", required=True, limit=10)
    status = call.p.choice("status", ("ACTIVE", "DRAINING"))
    if status is None:
        raise invalid("UpdateContainerInstancesState: status is required (ACTIVE or DRAINING)")
    known = [r for r in refs if _instance(entry, r) is not None]
    failures = [{"arn": r, "reason": "MISSING"} for r in refs if r not in known]
    updated = await entry.cluster.update_container_instances_state(known, status)
    out = ecs.describe_container_instances_response(updated)
    out["failures"] = failures
    return out


async def deregister_container_instance(call: Call) -> JsonObject:
    """DeregisterContainerInstance (force: its tasks keep running, orphaned)."""
    entry = call.region.entry(call.p.text("cluster"))
    ref = call.p.text("containerInstance", required=True)
    if _instance(entry, ref) is None:
        raise invalid(f"container instance {ref!r} is not registered in {entry.name}")
    ci = await entry.cluster.deregister_container_instance(ref, force=call.p.flag("force"))
    return {"containerInstance": ecs.to_ecs(ci)}


# -- attributes ------------------------------------------------------------------------------


def _attributes(call: Call) -> list[tuple[str, str, str | None]]:
    """``(target, name, value)`` of each attribute of the request."""
    out = []
    for i, item in enumerate(call.p.array("attributes", required=True) or []):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise invalid(f"attributes[{i}] must be an object with a name")
        if item.get("targetType", _TARGET) != _TARGET:
            raise invalid(f"attributes[{i}].targetType must be {_TARGET}")
        target = item.get("targetId")
        if not isinstance(target, str):
            raise invalid(f"attributes[{i}].targetId (a container instance) is required")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise invalid(f"attributes[{i}].value must be a string")
        out.append((target, item["name"], value))
    if len(out) > 10:
        raise invalid(f"at most 10 attributes per call, not {len(out)}")
    return out


def _attribute_json(name: str, value: str | None, target: str) -> JsonObject:
    out: JsonObject = {"name": name, "targetType": _TARGET, "targetId": target}
    if value is not None:
        out["value"] = value
    return out


def _targets(call: Call, entry: ClusterEntry) -> list[tuple[ContainerInstance, str, str | None]]:
    out = []
    for target, name, value in _attributes(call):
        ci = _instance(entry, target)
        if ci is None:
            raise EcsError(
                "TargetNotFoundException",
                f"Could not find {target}: no container instance {target!r} in {entry.name}",
            )
        out.append((ci, name, value))
    return out


async def put_attributes(call: Call) -> JsonObject:
    """PutAttributes on container instances."""
    entry = call.region.entry(call.p.text("cluster"))
    done = []
    for ci, name, value in _targets(call, entry):
        await entry.cluster.put_attributes(ci.id, {name: value})
        done.append(_attribute_json(name, value, ci.arn))
    return {"attributes": done}


async def delete_attributes(call: Call) -> JsonObject:
    """DeleteAttributes of container instances."""
    entry = call.region.entry(call.p.text("cluster"))
    done = []
    for ci, name, value in _targets(call, entry):
        await entry.cluster.delete_attributes(ci.id, [name])
        done.append(_attribute_json(name, value, ci.arn))
    return {"attributes": done}


async def list_attributes(call: Call) -> JsonObject:
    """ListAttributes (targetType container-instance; attributeName, attributeValue)."""
    entry = call.region.entry(call.p.text("cluster"))
    if call.p.choice("targetType", (_TARGET,)) is None:
        raise invalid(f"ListAttributes: targetType is required ({_TARGET})")
    name = call.p.text("attributeName")
    value = call.p.text("attributeValue")
    if value is not None and name is None:
        raise invalid("ListAttributes: attributeValue needs attributeName")
    rows = [
        _attribute_json(n, v, ci.arn)
        for ci in entry.cluster.list_container_instances()
        for n, v in sorted(ci.attributes.items())
        if (name is None or n == name) and (value is None or v == value)
    ]
    chunk, token = page(call.p, rows)
    out: JsonObject = {"attributes": chunk}
    if token:
        out["nextToken"] = token
    return out


HANDLERS = {
    "ListContainerInstances": list_container_instances,
    "DescribeContainerInstances": describe_container_instances,
    "UpdateContainerInstancesState": update_container_instances_state,
    "DeregisterContainerInstance": deregister_container_instance,
    "PutAttributes": put_attributes,
    "DeleteAttributes": delete_attributes,
    "ListAttributes": list_attributes,
}
