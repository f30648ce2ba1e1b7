"""The scheduler's mutable record of one container instance."""

from __future__ import annotations

import datetime
from collections.abc import KeysView, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from pyecs.models.instance import ContainerInstance, InstanceSpec, Resources

if TYPE_CHECKING:
    from pyecs.placement._index import Bucket

__all__ = ["InstanceNode"]


class InstanceNode:
    """One instance as the scheduler tracks it; a :class:`CandidateInstance` for users.

    Plain attributes rather than properties keep the hot path cheap; only the scheduler
    writes them.
    """

    __slots__ = (
        "_attributes",
        "_snapshot",
        "agent_connected",
        "agent_version",
        "attr_version",
        "attributes",
        "buckets",
        "ec2_instance_id",
        "groups",
        "id",
        "memo",
        "pending_tasks_count",
        "registered_at",
        "registered_cpu",
        "registered_memory",
        "remaining_cpu",
        "remaining_memory",
        "reserved_tcp",
        "reserved_udp",
        "running_tasks_count",
        "status",
        "tasks",
        "used_tcp_ports",
        "used_udp_ports",
        "version",
    )

    def __init__(self, instance_id: str, spec: InstanceSpec, registered_at: datetime.datetime):
        self.id = instance_id
        self.ec2_instance_id = spec.ec2_instance_id or instance_id
        self.status = spec.status
        self.agent_connected = spec.agent_connected
        self.agent_version = spec.agent_version
        self.registered_at = registered_at
        self._attributes: dict[str, str | None] = dict(spec.attributes)
        self.attributes: Mapping[str, str | None] = MappingProxyType(self._attributes)
        self.registered_cpu = spec.cpu
        self.registered_memory = spec.memory
        self.reserved_tcp = spec.reserved_ports
        self.reserved_udp = spec.reserved_ports_udp
        self.remaining_cpu = spec.cpu
        self.remaining_memory = spec.memory
        # Frozen, replaced on a change: most instances never have a host port taken, and
        # then share the spec's set instead of holding two sets of their own.
        self.used_tcp_ports: frozenset[int] = frozenset(spec.reserved_ports)
        self.used_udp_ports: frozenset[int] = frozenset(spec.reserved_ports_udp)
        self.running_tasks_count = 0
        self.pending_tasks_count = 0
        #: Tasks per group on this instance; a group is absent once its count drops to 0.
        self.groups: dict[str, int] = {}
        #: The record (an int: no object per task; see the scheduler) of each task here.
        self.tasks: dict[str, int] = {}
        #: The index buckets holding this instance (one per partition), while placeable.
        self.buckets: list[Bucket] = []
        #: Bumped on every change (status included) / on changes of attributes and agent
        #: only: the stamps of memos and of the cached snapshot.
        self.version = 0
        self.attr_version = 0
        self.memo: dict[object, tuple[int, bool]] = {}
        self._snapshot: tuple[int, ContainerInstance] | None = None

    @property
    def placeable(self) -> bool:
        """Whether new tasks may go here: ACTIVE with a connected agent."""
        return self.status == "ACTIVE" and self.agent_connected

    @property
    def task_groups(self) -> KeysView[str]:
        """The groups with a task here."""
        return self.groups.keys()

    def group_task_count(self, group: str) -> int:
        """Tasks of ``group`` here."""
        return self.groups.get(group, 0)

    def set_attributes(self, changes: Mapping[str, str | None], removed: tuple[str, ...]) -> None:
        """Apply attribute changes (the caller re-indexes)."""
        self._attributes.update(changes)
        for name in removed:
            self._attributes.pop(name, None)
        self.touch_static()

    def touch_static(self) -> None:
        """Record a change of attributes or agent, which invalidates every memo."""
        self.version += 1
        self.attr_version += 1

    def snapshot(self, arn: str, *, keep: bool = True) -> ContainerInstance:
        """A frozen :class:`ContainerInstance` of the current state (cached per version;
        ``keep=False``: not kept, for a one-off such as the answer to a registration, as
        a snapshot is eight objects that every run of the garbage collector walks)."""
        cached = self._snapshot
        if cached is not None and cached[0] == self.version:
            return cached[1]
        snap = ContainerInstance(
            id=self.id,
            arn=arn,
            ec2_instance_id=self.ec2_instance_id,
            status=self.status,
            agent_connected=self.agent_connected,
            agent_version=self.agent_version,
            registered_at=self.registered_at,
            attributes=self._attributes,
            registered_resources=Resources(
                self.registered_cpu, self.registered_memory, self.reserved_tcp, self.reserved_udp
            ),
            # An instance that adopted more than it has (it shrank meanwhile, see
            # PlacementState.reserve) shows nothing left: a Resources amount is never negative.
            remaining_resources=Resources(
                max(0, self.remaining_cpu),
                max(0, self.remaining_memory),
                frozenset(self.used_tcp_ports),
                frozenset(self.used_udp_ports),
            ),
            running_tasks_count=self.running_tasks_count,
            pending_tasks_count=self.pending_tasks_count,
            task_groups=frozenset(self.groups.keys()),
        )
        if keep:
            self._snapshot = (self.version, snap)
        return snap

    def __repr__(self) -> str:
        return (
            f"<InstanceNode {self.id} {self.status} cpu={self.remaining_cpu}/"
            f"{self.registered_cpu} memory={self.remaining_memory}/{self.registered_memory}>"
        )
