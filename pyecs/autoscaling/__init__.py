"""Application Auto Scaling for services: scalable targets, target tracking and step
policies, scheduled actions and scaling activities, on the cluster's metrics."""

from pyecs.autoscaling._model import (
    DEFAULT_COOLDOWN,
    Alarm,
    CustomizedMetricSpecification,
    MetricAlarm,
    PredefinedMetricSpecification,
    ScalableTarget,
    ScalableTargetAction,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    StepAdjustment,
    StepScalingPolicyConfiguration,
    SuspendedState,
    TargetTrackingScalingPolicyConfiguration,
)
from pyecs.autoscaling._policies import check_steps, step_capacity, tracking_capacity
from pyecs.autoscaling._scaler import ServiceScaler, TrackedMetric, new_alarms
from pyecs.autoscaling._schedule import Schedule, parse_schedule

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
    "Schedule",
    "ScheduledAction",
    "ServiceScaler",
    "StepAdjustment",
    "StepScalingPolicyConfiguration",
    "SuspendedState",
    "TargetTrackingScalingPolicyConfiguration",
    "TrackedMetric",
    "check_steps",
    "new_alarms",
    "parse_schedule",
    "step_capacity",
    "tracking_capacity",
]
