"""PutClusterCapacityProviders: a cluster's providers and default strategy."""

from __future__ import annotations

from pyecs.server._call import Call, JsonObject
from pyecs.server._capacity import associate
from pyecs.server._clusters import cluster_json

__all__ = ["HANDLERS"]


async def put_cluster_capacity_providers(call: Call) -> JsonObject:
    """PutClusterCapacityProviders: replace the cluster's providers and default strategy."""
    entry = call.region.entry(call.p.text("cluster", required=True))
    providers = call.p.strings("capacityProviders", required=True)
    strategy = call.p.array("defaultCapacityProviderStrategy", required=True) or []
    async with call.region.lock:
        await associate(call.region, entry, providers, strategy)
    return {"cluster": cluster_json(call, entry, full=True)}


HANDLERS = {"PutClusterCapacityProviders": put_cluster_capacity_providers}
