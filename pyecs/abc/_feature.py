"""The service-feature seam: what a service does beyond keeping its tasks.

A feature (load balancing, discovery; auto scaling and capacity providers next) is attached
to a service when it is created and lives as long as the service. It never reaches into
the service: it is told of the service's tasks, judges them from a frozen
:class:`~pyecs.models.snapshot.ServiceSnapshot`, and answers with verdicts and event
messages that the service applies. A new feature adds no parameter to ``Service``.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import attrs

from pyecs.models.security_group import SecurityPolicy
from pyecs.models.snapshot import ServiceSnapshot
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition

__all__ = ["FeatureContext", "FeatureStop", "FeatureVerdicts", "ServiceFeature"]


@attrs.frozen
class FeatureContext:
    """What a feature is told about the service it is attached to.

    Attributes:
        service_name: The service name.
        service_arn: The service ARN.
        region: The region of the cluster's ARNs.
        account: The account of the cluster's ARNs.
        wake: Ask the service to reconcile now (a target changed state...).
        cluster_open: Whether the cluster is still open (False while it closes).
        security_policy: The cluster's security groups now.
        cluster_name: The cluster name.
        snapshot: The service now, as frozen values.
        set_desired_count: Change the service's desired count (as UpdateService does;
            auto scaling uses it). Raises ``InvalidParameterError`` for a bad count.
    """

    service_name: str
    service_arn: str
    region: str
    account: str
    wake: Callable[[], None]
    cluster_open: Callable[[], bool]
    security_policy: Callable[[], SecurityPolicy] = SecurityPolicy
    cluster_name: str = ""
    snapshot: Callable[[], ServiceSnapshot] | None = None
    set_desired_count: Callable[[int], None] | None = None


@attrs.frozen
class FeatureStop:
    """A task the feature wants replaced.

    Attributes:
        task_arn: The task.
        reason: Its ``stoppedReason`` (ECS's text, e.g. ``Task failed ELB health checks
            in (target-group ...)``).
        message: The service event written before it is stopped.
    """

    task_arn: str
    reason: str
    message: str


@attrs.frozen
class FeatureVerdicts:
    """A feature's judgement of one snapshot.

    Attributes:
        stop: Tasks to stop and replace.
        recheck_at: Look again no later than this (event-loop seconds), or None.
    """

    stop: tuple[FeatureStop, ...] = ()
    recheck_at: float | None = None


class ServiceFeature(abc.ABC):  # noqa: B024 - every hook has a default: override what you need
    """A capability attached to one service. Override only the hooks the feature needs.

    The service calls, in its life: :meth:`bind` once; :meth:`check_task_definition`
    for each task definition it is given; :meth:`running` around its reconcile loop;
    :meth:`prepare_launch` for each task definition it launches; :meth:`task_changed`
    with every snapshot of its tasks; :meth:`allows_healthy` and :meth:`verdicts` at each
    reconcile pass; :meth:`stopping` when it stops tasks; :meth:`deactivate` when a task
    enters DEACTIVATING; :meth:`messages` to collect service events.
    """

    context: FeatureContext | None = None

    def bind(self, context: FeatureContext) -> None:
        """Attach the feature to its service (called once, before anything else)."""
        self.context = context

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Entered before the service's loop starts and left after it ends.

        A feature with background work (a listener) sets it up here; the service is
        reported as created only once every feature has entered.
        """
        yield

    def check_task_definition(self, task_definition: TaskDefinition) -> None:  # noqa: B027
        """Refuse a task definition the feature cannot serve (on create and on update).

        Raises:
            InvalidParameterError: saying what the definition lacks.
        """

    def prepare_launch(self, task_definition: TaskDefinition) -> TaskDefinition:
        """The definition a new task of the service is launched with (default: as it is)."""
        return task_definition

    def task_changed(self, task: Task) -> None:  # noqa: B027 - optional hook
        """A new snapshot of one of the service's tasks (started, healthy, stopping...)."""

    def allows_healthy(self, task: Task) -> bool:
        """Whether the feature lets the task count as healthy (default: yes)."""
        return True

    def vouches_healthy(self, task: Task) -> bool:
        """Whether the feature saw the task healthy itself (default: no).

        A load balancer whose target groups all passed the task's health check does: ECS
        then counts a task without container health checks at once, instead of 40 s after
        RUNNING (``DeploymentConfiguration``: "the service scheduler will wait for the load
        balancer target group health check to return a healthy status").
        """
        return False

    def verdicts(self, snapshot: ServiceSnapshot) -> FeatureVerdicts:
        """Tasks to replace, and when to look again (default: none)."""
        return FeatureVerdicts()

    def stopping(self, task_arns: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """The scheduler is stopping these tasks now."""

    async def deactivate(self, task: Task) -> None:  # noqa: B027 - optional hook
        """The task is DEACTIVATING: its containers stop once every feature returns."""

    def messages(self) -> list[str]:
        """Service event messages since the last call (default: none)."""
        return []
