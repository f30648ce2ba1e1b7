"""Capacity provider actions, and the capacity members of RunTask and CreateService.

In ECS a capacity provider belongs to the account and region (CreateCapacityProvider) and
is associated with at most one cluster (PutClusterCapacityProviders); FARGATE and
FARGATE_SPOT always exist. The region keeps what CreateCapacityProvider was given; a
cluster gets the library's provider when it associates one. The Auto Scaling group ARN
names nothing here: with managed scaling the cluster's backend adds and removes instances
(an :class:`~pyecs.abc.InstanceProvider`: the process and simulated backends); without
it the provider has no instances (they would register through the ECS agent, which
``pyecs serve`` does not speak), so tasks placed through it wait in PROVISIONING.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from pyecs.abc import InstanceProvider
from pyecs.exceptions import InvalidParameterError
from pyecs.models.capacity import FARGATE_PROVIDERS, ManagedScaling, check_provider_name
from pyecs.server._call import Call, JsonObject, tags_json
from pyecs.server._errors import EcsError, client, invalid
from pyecs.server._params import page
from pyecs.server._state import ClusterEntry, Region

__all__ = ["HANDLERS", "associate", "capacity_options", "cluster_capacity_json"]

_LAUNCH_TYPES: Final = ("EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES")
_ASG_FLAGS: Final = (("managedTerminationProtection", "DISABLED"), ("managedDraining", "ENABLED"))
_SCALING_KEYS: Final = {
    "status": ("status", None),
    "targetCapacity": ("target_capacity", 100),
    "minimumScalingStepSize": ("minimum_scaling_step_size", 1),
    "maximumScalingStepSize": ("maximum_scaling_step_size", 10_000),
    "instanceWarmupPeriod": ("instance_warmup_period", 300),
}


def capacity_options(call: Call) -> dict[str, Any]:
    """``launchType``, ``capacityProviderStrategy`` and ``networkConfiguration`` as the
    library's arguments (it applies ECS's rules and words)."""
    launch_type = call.p.choice("launchType", _LAUNCH_TYPES)
    if launch_type in ("EXTERNAL", "MANAGED_INSTANCES"):
        raise invalid(
            f"{call.p.action}: launchType {launch_type} is not supported by pyecs: use EC2 "
            "(the backend's instances) or FARGATE"
        )
    return {
        "launch_type": launch_type,
        "capacity_provider_strategy": call.p.array("capacityProviderStrategy"),
        "network_configuration": call.p.obj("networkConfiguration"),
    }


def cluster_capacity_json(entry: ClusterEntry) -> JsonObject:
    """A cluster's ``capacityProviders`` and ``defaultCapacityProviderStrategy``."""
    return {
        "capacityProviders": entry.cluster.capacity_providers,
        "defaultCapacityProviderStrategy": [
            i.to_dict() for i in entry.cluster.default_capacity_provider_strategy
        ],
    }


def _arn(region: Region, name: str) -> str:
    return f"arn:aws:ecs:{region.name}:{region.account}:capacity-provider/{name}"


def _name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1] if reference.startswith("arn:") else reference


def _fargate_json(region: Region, name: str) -> JsonObject:
    return {
        "capacityProviderArn": _arn(region, name),
        "name": name,
        "status": "ACTIVE",
        "tags": [],
        "type": name,
    }


def _scaling(raw: object, base: JsonObject | None) -> JsonObject:
    """ECS ``managedScaling`` with every member, checked by the library's rules."""
    if raw is None:
        return dict(base) if base is not None else {"status": "DISABLED", **_defaults()}
    if not isinstance(raw, dict) or set(raw) - set(_SCALING_KEYS):
        raise invalid(f"managedScaling takes {', '.join(_SCALING_KEYS)}, not {raw!r}")
    out = {**(base or {"status": "ENABLED", **_defaults()}), **raw}
    managed_scaling(out)
    return out


def _defaults() -> JsonObject:
    return {k: d for k, (_, d) in _SCALING_KEYS.items() if d is not None}


def managed_scaling(raw: JsonObject) -> ManagedScaling:
    """The library's value of an ECS ``managedScaling``."""
    try:
        return ManagedScaling(**{_SCALING_KEYS[k][0]: v for k, v in raw.items()})
    except InvalidParameterError as exc:
        raise invalid(f"managedScaling: {exc}") from exc


def _asg(raw: object, base: JsonObject | None) -> JsonObject:
    if not isinstance(raw, dict):
        raise invalid("autoScalingGroupProvider must be an object")
    known = {"autoScalingGroupArn", "managedScaling", "managedTerminationProtection"}
    unknown = set(raw) - known - {"managedDraining"}
    if unknown:
        raise invalid(f"autoScalingGroupProvider has no member(s) {', '.join(sorted(unknown))}")
    out: JsonObject = dict(base or {})
    if base is None:
        arn = raw.get("autoScalingGroupArn")
        if not isinstance(arn, str) or not arn:
            raise invalid("autoScalingGroupProvider.autoScalingGroupArn is required")
        out["autoScalingGroupArn"] = arn
    out["managedScaling"] = _scaling(raw.get("managedScaling"), base and base["managedScaling"])
    for key, default in (
        ("managedTerminationProtection", "DISABLED"),
        ("managedDraining", "ENABLED"),
    ):
        value = raw.get(key, out.get(key, default))
        if value not in ("ENABLED", "DISABLED"):
            raise invalid(f"autoScalingGroupProvider.{key} must be ENABLED or DISABLED")
        out[key] = value
    if out["managedTerminationProtection"] == "ENABLED" and out["managedScaling"]["status"] != (
        "ENABLED"
    ):
        raise invalid(
            "The managed termination protection setting for the capacity provider is invalid. "
            "To enable managed termination protection for a capacity provider, the Auto "
            "Scaling group must have instance protection from scale in enabled (pyecs: it "
            "needs managedScaling ENABLED)"
        )
    return out


def _owner(region: Region, name: str) -> ClusterEntry | None:
    """The cluster a provider is associated with, if any."""
    return next((e for e in region.clusters.values() if name in e.cluster.capacity_providers), None)


def _record(region: Region, reference: str) -> JsonObject:
    record = region.capacity_providers.get(_name(reference))
    if record is None:
        raise invalid(
            f"The specified capacity provider does not exist: {reference!r}; create it with "
            f"CreateCapacityProvider (existing: {', '.join(region.capacity_providers) or 'none'})"
        )
    return record


async def _ensure(entry: ClusterEntry, record: JsonObject) -> None:
    """Give the cluster the library's provider of ``record`` (once)."""
    name = record["name"]
    asg = record["autoScalingGroupProvider"]
    scaling = managed_scaling(asg["managedScaling"])
    protection = asg["managedTerminationProtection"]
    known = {p.name: p for p in entry.cluster.describe_capacity_providers()}
    if name in known:
        have = known[name]
        if (have.managed_scaling, have.managed_termination_protection) != (scaling, protection):
            raise client(
                f"capacity provider {name} was updated after cluster {entry.name} last used it; "
                "pyecs cannot change a provider inside a cluster: create a provider of "
                "another name"
            )
        return
    backend = entry.cluster.backend
    if scaling.enabled and not isinstance(backend, InstanceProvider):
        raise client(
            f"capacity provider {name} has managed scaling, but this server's "
            f"{type(backend).__name__} cannot add instances (only the process and simulated "
            "backends can); serve with --backend process or simulated, or set managedScaling "
            "status DISABLED (UpdateCapacityProvider)"
        )
    await entry.cluster.create_capacity_provider(
        name,
        instance_provider=backend if isinstance(backend, InstanceProvider) else None,
        managed_scaling=scaling,
        managed_termination_protection=protection,
    )


async def associate(
    region: Region, entry: ClusterEntry, providers: list[str], strategy: list[Any]
) -> None:
    """PutClusterCapacityProviders' work: check, give the cluster each provider, associate."""
    names = [_name(p) for p in providers]
    for name in names:
        if name in FARGATE_PROVIDERS:
            continue
        record = _record(region, name)
        owner = _owner(region, name)
        if owner is not None and owner is not entry:
            raise invalid(
                f"The specified capacity provider {name} is already associated with cluster "
                f"{owner.name}: a capacity provider serves one cluster; remove it there first "
                "(PutClusterCapacityProviders)"
            )
        await _ensure(entry, record)
    await entry.cluster.put_cluster_capacity_providers(names, strategy)


def _shown(call: Call, record: JsonObject) -> JsonObject:
    out = copy.deepcopy(record)
    return call.with_tags(out, out["capacityProviderArn"])


async def create_capacity_provider(call: Call) -> JsonObject:
    """CreateCapacityProvider: an Auto Scaling group provider of the account and region."""
    if call.p.obj("managedInstancesProvider") is not None or call.p.text("cluster"):
        raise client(
            "CreateCapacityProvider: ECS Managed Instances (managedInstancesProvider, cluster) "
            "are not implemented by pyecs; give an autoScalingGroupProvider"
        )
    name = call.p.text("name", required=True)
    try:
        check_provider_name(name, creating=True)
    except InvalidParameterError as exc:
        raise invalid(str(exc)) from exc
    raw = call.p.obj("autoScalingGroupProvider")
    if raw is None:
        raise invalid("CreateCapacityProvider: autoScalingGroupProvider is required")
    asg = _asg(raw, None)
    tags = call.p.tags()
    async with call.region.lock:
        if name in call.region.capacity_providers:
            raise client(
                f"The specified capacity provider already exists: {name}; "
                "DescribeCapacityProviders shows it"
            )
        arn = _arn(call.region, name)
        record: JsonObject = {
            "capacityProviderArn": arn,
            "name": name,
            "status": "ACTIVE",
            "autoScalingGroupProvider": asg,
            "type": "EC2_AUTOSCALING",
        }
        call.region.capacity_providers[name] = record
        call.region.tags[arn] = tags
    return {"capacityProvider": {**copy.deepcopy(record), "tags": tags_json(tags)}}


async def update_capacity_provider(call: Call) -> JsonObject:
    """UpdateCapacityProvider: only while no cluster uses the provider."""
    name = _name(call.p.text("name", required=True))
    if name in FARGATE_PROVIDERS:
        raise invalid(f"{name} is managed by ECS and cannot be updated")
    raw = call.p.obj("autoScalingGroupProvider")
    if raw is None:
        raise invalid("UpdateCapacityProvider: autoScalingGroupProvider is required")
    async with call.region.lock:
        record = _record(call.region, name)
        owner = _owner(call.region, name)
        if owner is not None:
            raise client(
                f"capacity provider {name} is associated with cluster {owner.name}, and pyecs "
                "cannot change a provider a cluster uses: remove it from the cluster "
                "(PutClusterCapacityProviders) first"
            )
        record["autoScalingGroupProvider"] = _asg(raw, record["autoScalingGroupProvider"])
        record["updateStatus"] = "UPDATE_COMPLETE"
    return {"capacityProvider": _shown(call, record)}


async def delete_capacity_provider(call: Call) -> JsonObject:
    """DeleteCapacityProvider: only providers no cluster is associated with, as ECS."""
    name = _name(call.p.text("capacityProvider", required=True))
    if name in FARGATE_PROVIDERS:
        raise invalid(f"{name} is reserved by ECS and cannot be deleted")
    async with call.region.lock:
        record = _record(call.region, name)
        owner = _owner(call.region, name)
        if owner is not None:
            raise EcsError(
                "ResourceInUseException",
                f"The specified capacity provider {name} is in use: it is associated with "
                f"cluster {owner.name}; remove it with PutClusterCapacityProviders first",
            )
        out = _shown(call, record)
        del call.region.capacity_providers[name]
        call.region.tags.pop(record["capacityProviderArn"], None)
    out.update(status="INACTIVE", updateStatus="DELETE_COMPLETE")
    return {"capacityProvider": out}


async def describe_capacity_providers(call: Call) -> JsonObject:
    """DescribeCapacityProviders: FARGATE, FARGATE_SPOT and the account's; unknown names
    are MISSING failures; 10 a page."""
    region = call.region
    shown = [_fargate_json(region, n) for n in FARGATE_PROVIDERS] + [
        _shown(call, r) for r in region.capacity_providers.values()
    ]
    failures = []
    refs = call.p.strings("capacityProviders", limit=100)
    if refs:
        by_name = {p["name"]: p for p in shown}
        chosen = []
        for ref in refs:
            if _name(ref) in by_name:
                chosen.append(by_name[_name(ref)])
            else:
                failures.append({"arn": _arn(region, _name(ref)), "reason": "MISSING"})
        shown = chosen
    for item in shown:
        if item["name"] in FARGATE_PROVIDERS:
            call.with_tags(item, item["capacityProviderArn"])
    chunk, token = page(call.p, shown, default_size=10, max_size=10)
    out: JsonObject = {"capacityProviders": chunk, "failures": failures}
    if token:
        out["nextToken"] = token
    return out


HANDLERS = {
    "CreateCapacityProvider": create_capacity_provider,
    "UpdateCapacityProvider": update_capacity_provider,
    "DeleteCapacityProvider": delete_capacity_provider,
    "DescribeCapacityProviders": describe_capacity_providers,
}
