"""The argument checks that create_service and Service.update share."""

from __future__ import annotations

from pyecs.exceptions import InvalidParameterError
from pyecs.models.service import DeploymentConfiguration, RestartBackoff

__all__ = ["check_backoff", "check_count", "check_daemon_config", "check_grace"]


def check_count(count: object, limit: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidParameterError(f"desired_count must be an integer >= 0, got {count!r}")
    if count > limit:
        raise InvalidParameterError(
            f"desired_count {count} is above the limit of {limit} tasks per service (ECS's "
            "quota); lower it, or raise the limit with "
            "Cluster(..., max_tasks_per_service=N)"
        )


def check_backoff(value: object) -> None:
    if value is not None and not isinstance(value, RestartBackoff):
        raise InvalidParameterError(
            f"restart_backoff must be a pyecs.RestartBackoff, got {type(value).__name__}"
        )


def check_grace(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 2147483647
    ):
        raise InvalidParameterError(
            f"health_check_grace_period must be seconds from 0, got {value!r}"
        )


def check_daemon_config(strategy: str, config: DeploymentConfiguration) -> None:
    if strategy == "DAEMON" and config.maximum_percent != 100:
        raise InvalidParameterError(
            "a DAEMON service needs deployment_configuration.maximum_percent == 100 "
            f"(got {config.maximum_percent}): it runs one task per instance"
        )
