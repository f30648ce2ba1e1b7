"""Service values: deployment configuration, circuit breaker, deployments."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Literal

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "CircuitBreaker",
    "Deployment",
    "DeploymentConfiguration",
    "RestartBackoff",
    "RolloutState",
    "circuit_breaker_threshold",
    "deployment_bounds",
]

RolloutState = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]


def _percent(lo: int, hi: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise InvalidParameterError(
                f"deployment_configuration.{attribute.name} must be an integer from {lo} to "
                f"{hi}, got {value!r}"
            )

    return check


@attrs.frozen
class CircuitBreaker:
    """ECS deployment circuit breaker: fail (and optionally roll back) a failing rollout."""

    enable: bool = False
    rollback: bool = False


@attrs.frozen
class DeploymentConfiguration:
    """How a rolling deployment may exceed and undercut the desired count (ECS defaults).

    Attributes:
        minimum_healthy_percent: Lower bound of healthy RUNNING tasks, in percent of the
            desired count (rounded up).
        maximum_percent: Upper bound of RUNNING + PENDING tasks, in percent (rounded down).
        circuit_breaker: Fail a deployment whose tasks keep failing.
    """

    minimum_healthy_percent: int = attrs.field(default=100, validator=_percent(0, 100))
    maximum_percent: int = attrs.field(default=200, validator=_percent(100, 200))
    circuit_breaker: CircuitBreaker = attrs.field(factory=CircuitBreaker)


#: Quick exits in a row before the restart backoff holds replacements back (as ECS's start
#: throttling begins with the third task in a row that never starts).
QUICK_EXITS_BEFORE_BACKOFF = 3


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidParameterError(
            f"restart_backoff.{attribute.name} must be a finite number of seconds >= 0, "
            f"got {value!r}"
        )


@attrs.frozen
class RestartBackoff:
    """How long a service waits before replacing tasks that exit soon after they start.

    A local protection, not an ECS feature: ECS throttles only tasks that never reach
    RUNNING (``(service X) is unable to consistently start tasks successfully.``, which
    pyecs does too). A task that reaches RUNNING and exits within ``reset_after`` seconds
    counts as a quick exit. The first two quick exits in a row are replaced at once, as ECS
    does (a task killed once or twice is no crash loop); from the third, the replacement of
    each such task waits, from ``initial`` doubling up to ``maximum``. A task that runs
    ``reset_after`` seconds (the one that exits, or any still running) ends the streak.
    The service event ``(service X) tasks keep exiting soon after they start: ...`` says
    when it applies.

    Attributes:
        initial: The wait after the third quick exit in a row, in seconds.
        maximum: The longest wait, in seconds.
        reset_after: Seconds a task must run to count as started successfully.
        enabled: False turns the backoff off (crash-looping tasks are replaced at once).
    """

    initial: float = attrs.field(default=1.0, validator=_seconds)
    maximum: float = attrs.field(default=60.0, validator=_seconds)
    reset_after: float = attrs.field(default=30.0, validator=_seconds)
    enabled: bool = True

    def __attrs_post_init__(self) -> None:
        if self.maximum < self.initial:
            raise InvalidParameterError(
                f"restart_backoff.maximum ({self.maximum:g} s) must be at least "
                f"restart_backoff.initial ({self.initial:g} s)"
            )

    def delay(self, quick_exits: int) -> float:
        """The wait before the replacement of the last of ``quick_exits`` in a row."""
        if not self.enabled or quick_exits < QUICK_EXITS_BEFORE_BACKOFF:
            return 0.0
        exp = min(quick_exits - QUICK_EXITS_BEFORE_BACKOFF, 64)
        return float(min(self.maximum, self.initial * 2.0**exp))


def deployment_bounds(desired: int, config: DeploymentConfiguration) -> tuple[int, int]:
    """``(lower, upper)``: ceil(desired * min / 100) healthy, floor(desired * max / 100) total.

    Examples from ECS: desired 4, min 50 -> lower 2; desired 2, min 75 -> lower 2;
    desired 3, max 125 -> upper 3.
    """
    lower = math.ceil(desired * config.minimum_healthy_percent / 100)
    upper = math.floor(desired * config.maximum_percent / 100)
    return lower, upper


def circuit_breaker_threshold(desired: int) -> int:
    """Consecutive failed tasks that trip the breaker: clamp(ceil(desired / 2), 3, 200)."""
    return min(200, max(3, math.ceil(desired / 2)))


@attrs.frozen
class Deployment:
    """One deployment of a service (ECS ``Deployment``).

    Attributes:
        id: ``ecs-svc/<19 digits>``; service tasks carry it as ``started_by``.
        status: PRIMARY (the newest), ACTIVE (older, still has tasks), INACTIVE.
        task_definition: The ARN of the task definition it runs.
        rollout_state: IN_PROGRESS, COMPLETED or FAILED.
        failed_tasks: Consecutive failed tasks (the circuit breaker's count).
    """

    id: str
    status: Literal["PRIMARY", "ACTIVE", "INACTIVE"]
    task_definition: str
    desired_count: int
    created_at: datetime.datetime
    updated_at: datetime.datetime
    pending_count: int = 0
    running_count: int = 0
    failed_tasks: int = 0
    rollout_state: RolloutState = "IN_PROGRESS"
    rollout_state_reason: str = "ECS deployment ecs-svc in progress."
