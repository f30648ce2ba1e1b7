"""Cluster actions and account settings."""

from __future__ import annotations

from pyecs.server._call import Call, JsonObject, tags_json
from pyecs.server._capacity import associate, cluster_capacity_json
from pyecs.server._errors import EcsError, invalid
from pyecs.server._params import page
from pyecs.server._state import ClusterEntry, cluster_name

__all__ = ["HANDLERS"]

_PENDING = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
_SETTING_NAMES = (
    "serviceLongArnFormat",
    "taskLongArnFormat",
    "containerInstanceLongArnFormat",
    "awsvpcTrunking",
    "containerInsights",
    "fargateFIPSMode",
    "tagResourceAuthorization",
    "fargateTaskRetirementWaitPeriod",
    "guardDutyActivate",
    "defaultLogDriverMode",
    "fargateEventWindows",
)
_SETTING_DEFAULTS = {
    "containerInsights": "disabled",
    "awsvpcTrunking": "disabled",
    "fargateFIPSMode": "disabled",
    "guardDutyActivate": "off",
    "fargateTaskRetirementWaitPeriod": "7",
    "defaultLogDriverMode": "blocking",
    "fargateEventWindows": "disabled",
}


def cluster_json(call: Call, entry: ClusterEntry, *, full: bool = False) -> JsonObject:
    """The ECS ``Cluster`` shape of an open cluster (``full``: settings and tags too)."""
    cluster = entry.cluster
    tasks = [t for t in cluster.describe_tasks(cluster.list_tasks()).tasks]
    out: JsonObject = {
        "clusterArn": entry.arn,
        "clusterName": entry.name,
        "status": entry.status,
        "registeredContainerInstancesCount": len(cluster.list_container_instances()),
        "runningTasksCount": sum(t.last_status == "RUNNING" for t in tasks),
        "pendingTasksCount": sum(t.last_status in _PENDING for t in tasks),
        "activeServicesCount": len(
            [
                a
                for a in cluster.list_services()
                if cluster.service(a.rsplit("/", 1)[-1]).status == "ACTIVE"
            ]
        ),
        "statistics": [],
        **cluster_capacity_json(entry),
    }
    if entry.configuration is not None:
        out["configuration"] = entry.configuration
    if full or call.include("SETTINGS"):
        out["settings"] = list(entry.settings)
    if full or call.include("TAGS"):
        out["tags"] = tags_json(call.region.tags.get(entry.arn, {}))
    return out


def _settings(call: Call) -> list[JsonObject] | None:
    items = call.p.array("settings")
    if items is None:
        return None
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("name") != "containerInsights":
            raise invalid(f"settings[{i}].name must be containerInsights")
        value = item.get("value")
        if value not in ("enabled", "disabled", "enhanced"):
            raise invalid(f"settings[{i}].value must be enabled, disabled or enhanced")
        out.append({"name": "containerInsights", "value": value})
    return out


async def create_cluster(call: Call) -> JsonObject:
    """CreateCluster: idempotent for an existing name, as ECS."""
    name = call.p.text("clusterName") or "default"
    settings = _settings(call)
    tags = call.p.tags()
    async with call.region.lock:
        entry = call.region.clusters.get(name)
        if entry is None:
            entry = await call.state.open_cluster(call.region, name)
            if settings is not None:
                entry.settings = settings
            entry.configuration = call.p.obj("configuration")
            call.region.tags[entry.arn] = tags
            providers = call.p.strings("capacityProviders")
            strategy = call.p.array("defaultCapacityProviderStrategy") or []
            if providers or strategy:
                try:
                    await associate(call.region, entry, providers, strategy)
                except Exception:
                    await call.state.close_cluster(entry)  # ECS creates nothing then
                    del call.region.clusters[name]
                    raise
    return {"cluster": cluster_json(call, entry, full=True)}


async def describe_clusters(call: Call) -> JsonObject:
    """DescribeClusters: unknown names are MISSING failures; deleted ones INACTIVE."""
    refs = call.p.strings("clusters", limit=100) or ["default"]
    clusters, failures = [], []
    for ref in refs:
        name = cluster_name(ref)
        entry = call.region.clusters.get(name)
        if entry is not None:
            clusters.append(cluster_json(call, entry))
        elif name in call.region.deleted:
            clusters.append(dict(call.region.deleted[name]))
        else:
            arn = f"arn:aws:ecs:{call.region.name}:{call.region.account}:cluster/{name}"
            failures.append({"arn": arn, "reason": "MISSING"})
    return {"clusters": clusters, "failures": failures}


async def list_clusters(call: Call) -> JsonObject:
    """ListClusters, paginated."""
    arns = sorted(e.arn for e in call.region.clusters.values())
    chunk, token = page(call.p, arns)
    out: JsonObject = {"clusterArns": chunk}
    if token:
        out["nextToken"] = token
    return out


async def delete_cluster(call: Call) -> JsonObject:
    """DeleteCluster: refused while services are ACTIVE/DRAINING or tasks run."""
    async with call.region.lock:
        entry = call.region.entry(call.p.text("cluster", required=True))
        cluster = entry.cluster
        if cluster.list_services():
            raise EcsError(
                "ClusterContainsServicesException",
                f"The Cluster {entry.name} cannot be deleted while Services are active: "
                "delete them first (DeleteService, force if need be)",
            )
        if cluster.list_tasks():
            raise EcsError(
                "ClusterContainsTasksException",
                f"The Cluster {entry.name} cannot be deleted while Tasks are active: stop them "
                "first (StopTask)",
            )
        out = cluster_json(call, entry, full=True)
        out["status"] = "INACTIVE"
        for key in ("registeredContainerInstancesCount", "runningTasksCount"):
            out[key] = 0
        await call.state.close_cluster(entry)
        del call.region.clusters[entry.name]
        call.region.deleted[entry.name] = out
    return {"cluster": out}


async def update_cluster(call: Call) -> JsonObject:
    """UpdateCluster: settings and configuration (kept; no local effect)."""
    entry = call.region.entry(call.p.text("cluster", required=True))
    settings = _settings(call)
    if settings is not None:
        entry.settings = settings
    configuration = call.p.obj("configuration")
    if configuration is not None:
        entry.configuration = configuration
    return {"cluster": cluster_json(call, entry, full=True)}


async def update_cluster_settings(call: Call) -> JsonObject:
    """UpdateClusterSettings."""
    entry = call.region.entry(call.p.text("cluster", required=True))
    settings = _settings(call)
    if settings is None:
        raise invalid("UpdateClusterSettings: settings is required")
    entry.settings = settings
    return {"cluster": cluster_json(call, entry, full=True)}


# -- account settings ----------------------------------------------------------------------


def _root(call: Call) -> str:
    return f"arn:aws:iam::{call.region.account}:root"


def _setting_name(call: Call, required: bool = True) -> str | None:
    name: str | None = call.p.text("name", required=required)
    if name is not None and name not in _SETTING_NAMES:
        raise invalid(f"name must be one of {', '.join(_SETTING_NAMES)}, not {name!r}")
    return name


def _setting(call: Call, name: str, principal: str) -> JsonObject:
    value = call.region.account_settings.get(
        (principal, name),
        call.region.account_settings.get(("", name), _SETTING_DEFAULTS.get(name, "enabled")),
    )
    return {"name": name, "value": value, "principalArn": principal or _root(call)}


async def put_account_setting(call: Call) -> JsonObject:
    """PutAccountSetting: recorded and listed; no local effect."""
    name = _setting_name(call)
    assert name is not None
    value = call.p.text("value", required=True)
    principal = call.p.text("principalArn") or _root(call)
    call.region.account_settings[(principal, name)] = value
    return {"setting": _setting(call, name, principal)}


async def put_account_setting_default(call: Call) -> JsonObject:
    """PutAccountSettingDefault: the default of every principal of the account."""
    name = _setting_name(call)
    assert name is not None
    call.region.account_settings[("", name)] = call.p.text("value", required=True)
    return {"setting": _setting(call, name, "")}


async def delete_account_setting(call: Call) -> JsonObject:
    """DeleteAccountSetting: back to the default."""
    name = _setting_name(call)
    assert name is not None
    principal = call.p.text("principalArn") or _root(call)
    out = _setting(call, name, principal)
    call.region.account_settings.pop((principal, name), None)
    return {"setting": out}


async def list_account_settings(call: Call) -> JsonObject:
    """ListAccountSettings: those set, or every effective one with ``effectiveSettings``."""
    name = _setting_name(call, required=False)
    value = call.p.text("value")
    principal = call.p.text("principalArn") or _root(call)
    if call.p.flag("effectiveSettings"):
        names = [name] if name else list(_SETTING_NAMES)
    else:
        names = [n for (who, n) in call.region.account_settings if who in ("", principal)]
        names = [n for n in dict.fromkeys(names) if name is None or n == name]
    settings = [_setting(call, n, principal) for n in names]
    settings = [s for s in settings if value is None or s["value"] == value]
    chunk, token = page(call.p, settings, default_size=10, max_size=10)
    out: JsonObject = {"settings": chunk}
    if token:
        out["nextToken"] = token
    return out


HANDLERS = {
    "CreateCluster": create_cluster,
    "DescribeClusters": describe_clusters,
    "ListClusters": list_clusters,
    "DeleteCluster": delete_cluster,
    "UpdateCluster": update_cluster,
    "UpdateClusterSettings": update_cluster_settings,
    "PutAccountSetting": put_account_setting,
    "PutAccountSettingDefault": put_account_setting_default,
    "DeleteAccountSetting": delete_account_setting,
    "ListAccountSettings": list_account_settings,
}
