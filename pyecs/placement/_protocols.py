"""The seams of the scheduler: what a user's own strategy or constraint implements.

The built-in :class:`~pyecs.placement.BinPack`, :class:`~pyecs.placement.Spread`,
:class:`~pyecs.placement.Random`, :class:`~pyecs.placement.DistinctInstance` and
:class:`~pyecs.placement.MemberOf` satisfy these protocols too, but the scheduler serves
them from indexes; a user's object is asked about every candidate instance in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Protocol, runtime_checkable

from pyecs.placement._query_ast import QueryTarget
from pyecs.placement._types import PlacedTask, PlacementRequest

__all__ = ["CandidateInstance", "PlacementConstraint", "PlacementStrategy", "PlacementView"]


class CandidateInstance(QueryTarget, Protocol):
    """A live, read-only view of a container instance, as the scheduler sees it.

    It extends the query language's ``QueryTarget`` (ec2_instance_id, agent_connected,
    agent_version, registered_at, running_tasks_count, attributes, task_groups). Do not
    keep it past the call it was given to; take a
    :class:`~pyecs.models.instance.ContainerInstance` snapshot (``state.instance(id)``)
    for that.
    """

    @property
    def id(self) -> str:
        """The container instance id."""

    @property
    def status(self) -> str:
        """ACTIVE, DRAINING..."""

    @property
    def registered_cpu(self) -> int:
        """CPU units the instance offers."""

    @property
    def registered_memory(self) -> int:
        """MiB the instance offers."""

    @property
    def remaining_cpu(self) -> int:
        """CPU units not reserved by tasks."""

    @property
    def remaining_memory(self) -> int:
        """MiB not reserved by tasks."""

    @property
    def used_tcp_ports(self) -> Set[int]:
        """Reserved and taken TCP host ports."""

    @property
    def used_udp_ports(self) -> Set[int]:
        """Reserved and taken UDP host ports."""

    @property
    def pending_tasks_count(self) -> int:
        """Tasks placed on the instance and not yet RUNNING."""

    def group_task_count(self, group: str) -> int:
        """How many tasks of ``group`` the instance holds (pending or running)."""


class PlacementView(Protocol):
    """What a strategy or constraint may ask about the whole cluster."""

    def tasks_in_group(
        self, group: str, attribute: str | None = None, value: str | None = None
    ) -> int:
        """How many placed tasks ``group`` has, in all or on instances where ``attribute``
        has ``value`` (None: the instance lacks the attribute or it has no value)."""

    def candidates(self) -> Iterable[CandidateInstance]:
        """Every registered instance, placeable or not, in id order."""


@runtime_checkable
class PlacementStrategy(Protocol):
    """A placement strategy: an order of preference over instances, and over tasks to stop.

    Strategies are chained (at most 5): instances are compared by the first strategy's key,
    ties by the next one's, and remaining ties by instance id.
    """

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        """Rank ``instance`` for a new task: lower is preferred.

        Only instances that fit the task and meet the constraints are ranked.
        """

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        """Rank a running ``task`` (on ``instance``) for stopping: lower stops first.

        Asked again after each task chosen, with that task already taken away.
        """


@runtime_checkable
class PlacementConstraint(Protocol):
    """A binding placement rule: an instance that it does not allow gets no task.

    Placements it refuses everywhere fail with the ECS reason ``ATTRIBUTE``.
    """

    def allows(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> bool:
        """Whether a copy of ``request`` may go to ``instance``."""
