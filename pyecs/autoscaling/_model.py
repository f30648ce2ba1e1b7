"""Application Auto Scaling's shapes for ECS services, as frozen values (snake_case).

Field names follow the API (``RegisterScalableTarget``, ``PutScalingPolicy``...); times
are UTC datetimes; cooldowns and periods are seconds. Fields marked *pyecs* do not exist
in AWS: they let a test with a real clock shorten what AWS fixes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Literal

import attrs

__all__ = [
    "DEFAULT_COOLDOWN",
    "Alarm",
    "CustomizedMetricSpecification",
    "MetricAlarm",
    "PredefinedMetricSpecification",
    "ScalableTarget",
    "ScalableTargetAction",
    "ScalingActivity",
    "ScalingPolicy",
    "ScheduledAction",
    "StepAdjustment",
    "StepScalingPolicyConfiguration",
    "SuspendedState",
    "TargetTrackingScalingPolicyConfiguration",
]

#: ScaleOutCooldown / ScaleInCooldown / Cooldown default for ECS services (seconds).
DEFAULT_COOLDOWN = 300.0

PredefinedMetricType = Literal[
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
]
AdjustmentType = Literal["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]
ComparisonOperator = Literal[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
StatusCode = Literal["Pending", "InProgress", "Successful", "Overridden", "Unfulfilled", "Failed"]


def _frozen_map(value: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (value or {}).items()))


@attrs.frozen
class SuspendedState:
    """Which scaling is suspended on a scalable target."""

    dynamic_scaling_in_suspended: bool = False
    dynamic_scaling_out_suspended: bool = False
    scheduled_scaling_suspended: bool = False


@attrs.frozen
class ScalableTarget:
    """A service's desired count as a scalable target (``DescribeScalableTargets``)."""

    service_namespace: str
    resource_id: str
    scalable_dimension: str
    min_capacity: int
    max_capacity: int
    creation_time: datetime.datetime
    scalable_target_arn: str
    suspended_state: SuspendedState = SuspendedState()


@attrs.frozen
class PredefinedMetricSpecification:
    """``ECSServiceAverageCPUUtilization``, ``ECSServiceAverageMemoryUtilization`` or
    ``ALBRequestCountPerTarget`` (whose ``resource_label`` names the target group; None:
    the service's first load balancer)."""

    predefined_metric_type: PredefinedMetricType
    resource_label: str | None = None


@attrs.frozen
class CustomizedMetricSpecification:
    """Any metric of the cluster's store, a user metric included.

    ``source`` (*pyecs*): a plain or async callable returning a number; when given, it is
    added as the user metric ``namespace``/``metric_name`` and sampled each period.
    """

    metric_name: str
    namespace: str = "pyecs/Custom"
    dimensions: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_frozen_map)
    statistic: Literal["Average", "Minimum", "Maximum", "Sum", "SampleCount"] = "Average"
    unit: str | None = None
    source: Callable[[], object] | None = attrs.field(default=None, eq=False)


@attrs.frozen
class TargetTrackingScalingPolicyConfiguration:
    """A target tracking policy.

    ``alarm_period`` (*pyecs*): the period of the two alarms Application Auto Scaling
    creates, 60 s in AWS; set it lower only in tests that run on a real clock.
    """

    target_value: float
    predefined_metric_specification: PredefinedMetricSpecification | None = None
    customized_metric_specification: CustomizedMetricSpecification | None = None
    scale_out_cooldown: float = DEFAULT_COOLDOWN
    scale_in_cooldown: float = DEFAULT_COOLDOWN
    disable_scale_in: bool = False
    alarm_period: float = 60.0


@attrs.frozen
class StepAdjustment:
    """One step: bounds relative to the alarm threshold (None: unbounded)."""

    scaling_adjustment: int
    metric_interval_lower_bound: float | None = None
    metric_interval_upper_bound: float | None = None


@attrs.frozen
class StepScalingPolicyConfiguration:
    """A step scaling policy (invoked by the alarms that name it in ``alarm_actions``)."""

    adjustment_type: AdjustmentType
    step_adjustments: tuple[StepAdjustment, ...] = attrs.field(converter=tuple)
    min_adjustment_magnitude: int | None = None
    cooldown: float = DEFAULT_COOLDOWN
    metric_aggregation_type: Literal["Average", "Minimum", "Maximum"] = "Average"


@attrs.frozen
class Alarm:
    """An alarm a policy is attached to (name and ARN)."""

    alarm_name: str
    alarm_arn: str


@attrs.frozen
class ScalingPolicy:
    """A scaling policy (``DescribeScalingPolicies``)."""

    policy_arn: str
    policy_name: str
    service_namespace: str
    resource_id: str
    scalable_dimension: str
    policy_type: Literal["TargetTrackingScaling", "StepScaling"]
    creation_time: datetime.datetime
    step_scaling_policy_configuration: StepScalingPolicyConfiguration | None = None
    target_tracking_scaling_policy_configuration: (
        TargetTrackingScalingPolicyConfiguration | None
    ) = None
    alarms: tuple[Alarm, ...] = ()


@attrs.frozen
class MetricAlarm:
    """A CloudWatch metric alarm (``PutMetricAlarm``) whose actions are step policies."""

    alarm_name: str
    alarm_arn: str
    metric_name: str
    namespace: str
    statistic: Literal["Average", "Minimum", "Maximum", "Sum", "SampleCount"]
    period: float
    evaluation_periods: int
    threshold: float
    comparison_operator: ComparisonOperator
    dimensions: tuple[tuple[str, str], ...] = ()
    datapoints_to_alarm: int | None = None
    alarm_actions: tuple[str, ...] = ()
    state_value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"] = "INSUFFICIENT_DATA"


@attrs.frozen
class ScalableTargetAction:
    """What a scheduled action sets."""

    min_capacity: int | None = None
    max_capacity: int | None = None


@attrs.frozen
class ScheduledAction:
    """A scheduled action (``DescribeScheduledActions``)."""

    scheduled_action_name: str
    scheduled_action_arn: str
    service_namespace: str
    schedule: str
    resource_id: str
    scalable_dimension: str
    scalable_target_action: ScalableTargetAction
    creation_time: datetime.datetime
    timezone: str = "UTC"
    start_time: datetime.datetime | None = None
    end_time: datetime.datetime | None = None


@attrs.frozen
class ScalingActivity:
    """A scaling activity (``DescribeScalingActivities``), with AWS's codes and texts."""

    activity_id: str
    service_namespace: str
    resource_id: str
    scalable_dimension: str
    description: str
    cause: str
    start_time: datetime.datetime
    status_code: StatusCode
    status_message: str
    end_time: datetime.datetime | None = None
