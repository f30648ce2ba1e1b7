"""``ClusterRuntime``: the one narrow object a cluster hands to its services.

A service needs the cluster's ARNs, clock, events, task manager, placement state and
task-definition registry, and a few of its settings; it gets them here, through public
attributes, instead of reaching into the ``Cluster`` itself. The cluster owns the
runtime and says when it opens and closes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Literal

from pyecs.exceptions import ClusterClosedError, InvalidParameterError
from pyecs.metrics import MetricStore
from pyecs.models._arn import ArnFactory
from pyecs.models.task_definition import TaskDefinition
from pyecs.placement import constraint_from, strategy_from
from pyecs.placement._scheduler import PlacementState
from pyecs.runtime._capacity import CapacityManager
from pyecs.runtime._events import EventHub
from pyecs.runtime._registry import TaskDefinitionRegistry
from pyecs.runtime._security_groups import SecurityGroupRegistry
from pyecs.runtime._tasks import TaskManager

__all__ = ["ClusterRuntime"]

State = Literal["new", "open", "closed"]


class ClusterRuntime:
    """What services are given: ARNs, clock, events, registry, tasks and placement.

    Attributes:
        name: The cluster name.
        arns: Builds the cluster's ARNs.
        clock: The cluster's wall clock (UTC).
        events: The cluster's event stream.
        registry: The task-definition registry.
        tasks: Places, launches, stops and remembers tasks.
        placement: The container instances and what is placed on them.
        task_healthy_delay: The default ``healthy_delay`` of services.
        max_tasks_per_service: The largest ``desired_count`` a service may have.
        capacity: The capacity providers, the default strategy, Fargate.
        security_groups: The cluster's security groups.
        metrics: The cluster's time series (what auto scaling reads).
    """

    def __init__(
        self,
        name: str,
        *,
        arns: ArnFactory,
        clock: Callable[[], datetime.datetime],
        events: EventHub,
        registry: TaskDefinitionRegistry,
        tasks: TaskManager,
        placement: PlacementState,
        task_healthy_delay: float,
        max_tasks_per_service: int,
        capacity: CapacityManager,
        security_groups: SecurityGroupRegistry | None = None,
        metrics: MetricStore | None = None,
    ) -> None:
        self.name = name
        self.arns = arns
        self.clock = clock
        self.events = events
        self.registry = registry
        self.tasks = tasks
        self.placement = placement
        self.task_healthy_delay = task_healthy_delay
        self.max_tasks_per_service = max_tasks_per_service
        self.capacity = capacity
        self.security_groups = security_groups or SecurityGroupRegistry(f"cluster {name!r}")
        self.metrics = metrics if metrics is not None else MetricStore()
        self.state: State = "new"

    @property
    def is_open(self) -> bool:
        """True between the cluster's open and close."""
        return self.state == "open"

    def require_open(self) -> None:
        """Raise unless the cluster is open.

        Raises:
            ClusterClosedError: saying how to open it.
        """
        if self.state != "open":
            raise ClusterClosedError(
                f"cluster {self.name!r} is {self.state}: use it inside "
                f"`async with Cluster({self.name!r}) as cluster:`"
            )

    def resolve(self, task_definition: str | TaskDefinition) -> TaskDefinition:
        """An ACTIVE registered revision, from a reference or a registered model.

        Raises:
            TaskDefinitionNotFoundError: unknown or INACTIVE.
            InvalidParameterError: a model that was never registered.
        """
        if isinstance(task_definition, TaskDefinition):
            if task_definition.task_definition_arn is None:
                raise InvalidParameterError(
                    "this TaskDefinition is not registered: pass the result of "
                    "register_task_definition(), or its 'family:revision'"
                )
            return self.registry.resolve_active(str(task_definition.task_definition_arn))
        return self.registry.resolve_active(task_definition)

    def check_placement(
        self,
        strategies: Sequence[object] | None,
        constraints: Sequence[object] | None,
        scheduling_strategy: str,
    ) -> list[object]:
        """Check a service's placement strategies and constraints; return the strategies.

        Raises:
            PlacementError: a malformed strategy or constraint.
            InvalidParameterError: too many, or a strategy for a DAEMON service.
        """
        out: list[object] = [strategy_from(s) for s in strategies or ()]
        if out and scheduling_strategy == "DAEMON":
            raise InvalidParameterError("a DAEMON service takes no placement_strategy")
        if len(out) > 5:
            raise InvalidParameterError(f"at most 5 placement strategies, got {len(out)}")
        checked = [constraint_from(c) for c in constraints or ()]
        if len(checked) > 10:
            raise InvalidParameterError(f"at most 10 placement constraints, got {len(checked)}")
        return out
