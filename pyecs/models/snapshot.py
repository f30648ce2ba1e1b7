"""A service as the planner and the service features see it: one frozen snapshot of values.

The service takes a :class:`ServiceSnapshot` at each reconcile pass; the pure planner
(:func:`pyecs.service._plan.make_plan`) decides from it alone, and each service feature
judges the service's tasks from it. Nothing in here refers to a live object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs

from pyecs.models.instance import ContainerInstance
from pyecs.models.service import DeploymentConfiguration, RolloutState
from pyecs.models.task import Task

__all__ = ["DeploymentState", "ServiceSnapshot"]


@attrs.frozen
class DeploymentState:
    """One deployment of the service, as the planner needs it.

    Attributes:
        id: ``ecs-svc/...``; the service's tasks carry it as ``started_by``.
        status: PRIMARY (the first of the snapshot's deployments), ACTIVE or INACTIVE.
        rollout_state: IN_PROGRESS, COMPLETED or FAILED.
        rollback_of: The deployment a circuit-breaker rollback returns to: its tasks
            count as this deployment's.
    """

    id: str
    status: Literal["PRIMARY", "ACTIVE", "INACTIVE"]
    rollout_state: RolloutState
    rollback_of: str | None = None


@attrs.frozen
class ServiceSnapshot:
    """The values one reconcile pass decides from.

    Attributes:
        name: The service name.
        status: ACTIVE, DRAINING or INACTIVE.
        scheduling_strategy: REPLICA or DAEMON.
        desired_count: Tasks to keep (DAEMON: one per eligible instance).
        deployment_configuration: The rolling-deployment bounds.
        deployments: PRIMARY first.
        tasks: The service's tasks that are not STOPPED, oldest first.
        instances: The cluster's container instances, when the snapshot's maker lists
            them (a service leaves it empty and fills ``displaced_instances``: listing
            thousands of instances at each pass costs more than the pass).
        daemon_instances: The instances a DAEMON service runs on (ACTIVE, connected,
            meeting its memberOf constraints).
        now: The event loop's clock, in seconds.
        running_since: When the service saw each task RUNNING (event-loop seconds).
        serving: Tasks seen answering on their port (they count as healthy at once).
        held_back: Tasks a service feature does not count as healthy yet (a load
            balancer target that has not passed its health check).
        healthy_delay: Seconds a task without health checks runs before it is healthy.
        health_check_grace_period: Seconds after RUNNING during which failing health
            checks are ignored.
        next_launch_at: No task starts before this time (ECS's start throttling).
        backoff_holds: When each replacement held back by the restart backoff may start:
            one task fewer is started per hold still in the future.
        scale_in_order: The current deployment's healthy tasks in the order the placement
            strategy would stop them (filled only when the service has too many).
        displaced_instances: The ids of the instances the service's tasks are on that are
            not ACTIVE (DRAINING...) or no longer registered: their tasks are replaced.
            None: worked out from ``instances``.
    """

    name: str
    status: Literal["ACTIVE", "DRAINING", "INACTIVE"]
    scheduling_strategy: Literal["REPLICA", "DAEMON"]
    desired_count: int
    deployment_configuration: DeploymentConfiguration
    deployments: tuple[DeploymentState, ...]
    tasks: tuple[Task, ...]
    instances: tuple[ContainerInstance, ...]
    daemon_instances: tuple[ContainerInstance, ...]
    now: float
    running_since: Mapping[str, float]
    serving: frozenset[str] = frozenset()
    held_back: frozenset[str] = frozenset()
    healthy_delay: float = 40.0
    health_check_grace_period: float = 0.0
    next_launch_at: float = 0.0
    backoff_holds: tuple[float, ...] = ()
    scale_in_order: tuple[str, ...] = ()
    displaced_instances: frozenset[str] | None = None

    @property
    def primary(self) -> DeploymentState:
        """The PRIMARY deployment."""
        return self.deployments[0]

    def running_for(self, task: Task) -> float | None:
        """Seconds since the service saw the task RUNNING (None: not RUNNING)."""
        since = self.running_since.get(task.arn)
        return None if since is None else self.now - since

    @staticmethod
    def has_health_check(task: Task) -> bool:
        """Whether any essential container of the task has a health check."""
        return any(c.essential and c.has_health_check for c in task.containers)

    def is_healthy(self, task: Task) -> bool:
        """ECS: RUNNING and HEALTHY, or RUNNING for ``healthy_delay`` without health
        checks (sooner once seen serving), and not held back by a feature."""
        if task.last_status != "RUNNING" or task.arn in self.held_back:
            return False
        if self.has_health_check(task):
            return task.health_status == "HEALTHY"
        ran = self.running_for(task)
        if ran is None:
            return False
        return ran >= self.healthy_delay or task.arn in self.serving
