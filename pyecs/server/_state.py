"""The server's state: regions (account + region), each with its clusters and one registry.

In ECS, task definitions belong to an account and a region: every cluster of a region is
given the region's :class:`~pyecs.TaskDefinitionRegistry`. Each cluster is a
:class:`~pyecs.Cluster` opened in the server's task group and closed by DeleteCluster or
when the server stops; all of them run on the backend kind the server was given.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any, Literal

import anyio
import anyio.abc
import attrs

from pyecs.abc import Backend
from pyecs.cluster import Cluster
from pyecs.models.task import AdoptableTask
from pyecs.runtime._registry import TaskDefinitionRegistry
from pyecs.runtime._security_groups import SecurityGroupRegistry
from pyecs.server._errors import EcsError

__all__ = ["ClusterEntry", "Region", "ServerState"]

JsonObject = dict[str, Any]


@attrs.define(eq=False)
class ClusterEntry:
    """One cluster of a region, with what ECS keeps about it beyond the library's cluster."""

    cluster: Cluster
    settings: list[JsonObject] = attrs.field(
        factory=lambda: [{"name": "containerInsights", "value": "disabled"}]
    )
    configuration: JsonObject | None = None
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    stop: anyio.Event = attrs.field(factory=anyio.Event)
    closed: anyio.Event = attrs.field(factory=anyio.Event)

    @property
    def name(self) -> str:
        """The cluster name."""
        return self.cluster.name

    @property
    def arn(self) -> str:
        """The cluster ARN."""
        return self.cluster.arn


@attrs.define(eq=False)
class Region:
    """One account's region: its clusters, task definitions, tags and account settings."""

    name: str
    account: str
    registry: TaskDefinitionRegistry
    clusters: dict[str, ClusterEntry] = attrs.field(factory=dict)
    #: Deleted clusters, still describable (status INACTIVE), as ECS keeps them.
    deleted: dict[str, JsonObject] = attrs.field(factory=dict)
    #: Tags of every taggable resource by ARN (clusters, services, tasks, definitions...).
    tags: dict[str, dict[str, str]] = attrs.field(factory=dict)
    #: Account settings by principal ARN ("" for the account default) and name.
    account_settings: dict[tuple[str, str], str] = attrs.field(factory=dict)
    lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    #: EC2 security groups: a VPC's, not a cluster's; every cluster of the region shares them.
    security_groups: SecurityGroupRegistry = attrs.field(
        default=attrs.Factory(lambda self: SecurityGroupRegistry(f"region {self.name}"), True)
    )
    #: Capacity providers the account created (CreateCapacityProvider), by name, as ECS
    #: shows them; a cluster gets the library's provider when it associates one.
    capacity_providers: dict[str, JsonObject] = attrs.field(factory=dict)

    def entry(self, reference: str | None) -> ClusterEntry:
        """The ACTIVE cluster named (or ARN'd) ``reference``; ``default`` when None.

        Raises:
            EcsError: ClusterNotFoundException.
        """
        name = cluster_name(reference)
        entry = self.clusters.get(name)
        if entry is None:
            known = ", ".join(sorted(self.clusters)) or "none"
            raise EcsError(
                "ClusterNotFoundException",
                f"Cluster not found: {name!r} in {self.name} (clusters: {known}); create it "
                "with CreateCluster",
            )
        return entry


def cluster_name(reference: str | None) -> str:
    """The cluster name of a name or cluster ARN (``default`` for None)."""
    if reference is None:
        return "default"
    if reference.startswith("arn:"):
        return reference.rsplit("/", 1)[-1]
    return reference


class ServerState:
    """Every region the server has seen, and the task group its clusters run in.

    Args:
        backend_factory: Builds the backend of a new cluster (None: clusters without a
            backend keep definitions only).
        account: The account id written into ARNs.
        task_healthy_delay: Passed to each :class:`~pyecs.Cluster`.
        clock: Returns the current UTC time.
    """

    def __init__(
        self,
        backend_factory: Callable[[], Backend] | None,
        *,
        account: str,
        task_healthy_delay: float,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.backend_factory = backend_factory
        self.account = account
        self.task_healthy_delay = task_healthy_delay
        self.clock = clock
        self.regions: dict[str, Region] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Give the state the task group its clusters run in (the server's)."""
        self._tg = tg

    def region(self, name: str) -> Region:
        """The region called ``name``, made on first use."""
        region = self.regions.get(name)
        if region is None:
            registry = TaskDefinitionRegistry(region=name, account=self.account, clock=self.clock)
            region = self.regions[name] = Region(name, self.account, registry)
        return region

    async def open_cluster(
        self, region: Region, name: str, *, adopt: Iterable[AdoptableTask] = ()
    ) -> ClusterEntry:
        """Create and open a cluster of ``region`` (the caller holds ``region.lock``).

        ``adopt``: tasks of the cluster's earlier run, from the state store.

        Raises:
            PyecsError: a bad name, or a backend that cannot open.
        """
        if self._tg is None:
            raise EcsError("ServerException", "the server is not running", 500)
        backend = self.backend_factory() if self.backend_factory is not None else None
        cluster = Cluster(
            name,
            backend=backend,
            region=region.name,
            account=self.account,
            task_definitions=region.registry,
            security_groups=region.security_groups,
            task_healthy_delay=self.task_healthy_delay,
            clock=self.clock,
            adopt=adopt,
        )
        entry = ClusterEntry(cluster)
        await self._tg.start(self._run, entry)
        region.clusters[name] = entry
        region.deleted.pop(name, None)
        return entry

    async def _run(self, entry: ClusterEntry, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        try:
            async with entry.cluster:
                task_status.started()
                await entry.stop.wait()
        finally:
            entry.closed.set()

    async def close_cluster(self, entry: ClusterEntry) -> None:
        """Close one cluster: stop its tasks and remove what it created."""
        entry.stop.set()
        await entry.closed.wait()

    async def aclose(self) -> None:
        """Close every cluster (the server is stopping)."""
        entries = [e for r in self.regions.values() for e in r.clusters.values()]
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for entry in entries:
                    tg.start_soon(self.close_cluster, entry)
