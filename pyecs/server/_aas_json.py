"""Application Auto Scaling JSON (PascalCase, as botocore sends and parses it) to and from
the values of :mod:`pyecs.autoscaling`.

Timestamps are epoch seconds, as the JSON 1.1 protocol carries them. Every malformed
member is an ``AasError`` ``ValidationException`` that names it.
"""

from __future__ import annotations

import datetime
import math
from typing import Any, Final

from pyecs.autoscaling import (
    CustomizedMetricSpecification,
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
from pyecs.server._errors import EcsError

__all__ = [
    "AasError",
    "activity_json",
    "policy_json",
    "scheduled_json",
    "step_config",
    "suspended_state",
    "target_json",
    "timestamp",
    "tracking_config",
    "validation",
]

JsonObject = dict[str, Any]

#: The role Application Auto Scaling uses for ECS services (its service-linked role).
ROLE: Final = (
    "arn:aws:iam::{account}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_ECSService"
)


class AasError(EcsError):
    """An Application Auto Scaling error: ``{"__type", "message"}`` with HTTP 400."""


def validation(message: str) -> AasError:
    """A ``ValidationException``."""
    return AasError("ValidationException", message)


def _epoch(value: datetime.datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def timestamp(data: JsonObject, name: str) -> datetime.datetime | None:
    """A timestamp member (epoch seconds) as a UTC datetime, or None."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise validation(f"{name} must be a timestamp (epoch seconds), not {value!r}")
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def _number(data: JsonObject, name: str, where: str, *, integer: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        return None
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise validation(f"{where}{name} must be {'an integer' if integer else 'a number'}")
    return value


def _flag(data: JsonObject, name: str, where: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise validation(f"{where}{name} must be true or false")
    return value


def _object(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise validation(f"{where} must be an object")
    return value


def suspended_state(raw: object, old: SuspendedState) -> SuspendedState:
    """``SuspendedState``: members given replace those of ``old``."""
    data = _object(raw, "SuspendedState")
    fields = {}
    for member, field in (
        ("DynamicScalingInSuspended", "dynamic_scaling_in_suspended"),
        ("DynamicScalingOutSuspended", "dynamic_scaling_out_suspended"),
        ("ScheduledScalingSuspended", "scheduled_scaling_suspended"),
    ):
        value = _flag(data, member, "SuspendedState.")
        fields[field] = getattr(old, field) if value is None else value
    return SuspendedState(**fields)


def tracking_config(raw: object) -> TargetTrackingScalingPolicyConfiguration:
    """``TargetTrackingScalingPolicyConfiguration`` (AWS's 60 s alarm period)."""
    where = "TargetTrackingScalingPolicyConfiguration."
    data = _object(raw, where.rstrip("."))
    target = _number(data, "TargetValue", where)
    if target is None:
        raise validation(f"{where}TargetValue is required")
    pre_raw, custom_raw = (
        data.get("PredefinedMetricSpecification"),
        data.get("CustomizedMetricSpecification"),
    )
    pre = custom = None
    if pre_raw is not None:
        pre_data = _object(pre_raw, f"{where}PredefinedMetricSpecification")
        kind = pre_data.get("PredefinedMetricType")
        if kind not in (
            "ECSServiceAverageCPUUtilization",
            "ECSServiceAverageMemoryUtilization",
            "ALBRequestCountPerTarget",
        ):
            raise validation(
                f"PredefinedMetricType {kind!r} is not a metric of ECS services: use "
                "ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or "
                "ALBRequestCountPerTarget"
            )
        label = pre_data.get("ResourceLabel")
        if label is not None and not isinstance(label, str):
            raise validation("PredefinedMetricSpecification.ResourceLabel must be a string")
        pre = PredefinedMetricSpecification(kind, label)
    if custom_raw is not None:
        c = _object(custom_raw, f"{where}CustomizedMetricSpecification")
        if c.get("Metrics") is not None:
            raise validation(
                "CustomizedMetricSpecification.Metrics (metric math) is not supported by pyecs; "
                "give MetricName, Namespace, Dimensions and Statistic"
            )
        name, namespace = c.get("MetricName"), c.get("Namespace")
        if not isinstance(name, str) or not isinstance(namespace, str):
            raise validation("CustomizedMetricSpecification needs MetricName and Namespace")
        statistic = c.get("Statistic", "Average")
        if statistic not in ("Average", "Minimum", "Maximum", "Sum", "SampleCount"):
            raise validation(f"CustomizedMetricSpecification.Statistic {statistic!r} is unknown")
        dims = {}
        for d in c.get("Dimensions") or []:
            if not isinstance(d, dict) or not all(
                isinstance(d.get(k), str) for k in ("Name", "Value")
            ):
                raise validation("CustomizedMetricSpecification.Dimensions: {Name, Value} each")
            dims[d["Name"]] = d["Value"]
        custom = CustomizedMetricSpecification(
            metric_name=name,
            namespace=namespace,
            dimensions=dims,
            statistic=statistic,
            unit=c.get("Unit"),
        )
    optional: dict[str, Any] = {}
    for member, field in (
        ("ScaleOutCooldown", "scale_out_cooldown"),
        ("ScaleInCooldown", "scale_in_cooldown"),
    ):
        value = _number(data, member, where, integer=True)
        if value is not None:
            if value < 0:
                raise validation(f"{where}{member} must be >= 0")
            optional[field] = float(value)
    disable = _flag(data, "DisableScaleIn", where)
    if disable is not None:
        optional["disable_scale_in"] = disable
    return TargetTrackingScalingPolicyConfiguration(
        target_value=float(target),
        predefined_metric_specification=pre,
        customized_metric_specification=custom,
        **optional,
    )


def step_config(raw: object) -> StepScalingPolicyConfiguration:
    """``StepScalingPolicyConfiguration``."""
    where = "StepScalingPolicyConfiguration."
    data = _object(raw, where.rstrip("."))
    kind = data.get("AdjustmentType")
    if kind not in ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"):
        raise validation(
            f"{where}AdjustmentType must be ChangeInCapacity, PercentChangeInCapacity or "
            f"ExactCapacity, not {kind!r}"
        )
    steps = []
    for i, s in enumerate(data.get("StepAdjustments") or []):
        s = _object(s, f"{where}StepAdjustments[{i}]")
        adjustment = _number(s, "ScalingAdjustment", f"{where}StepAdjustments[{i}].", integer=True)
        if adjustment is None:
            raise validation(f"{where}StepAdjustments[{i}].ScalingAdjustment is required")
        steps.append(
            StepAdjustment(
                adjustment,
                _number(s, "MetricIntervalLowerBound", f"{where}StepAdjustments[{i}]."),
                _number(s, "MetricIntervalUpperBound", f"{where}StepAdjustments[{i}]."),
            )
        )
    optional: dict[str, Any] = {}
    magnitude = _number(data, "MinAdjustmentMagnitude", where, integer=True)
    if magnitude is not None:
        optional["min_adjustment_magnitude"] = magnitude
    cooldown = _number(data, "Cooldown", where, integer=True)
    if cooldown is not None:
        optional["cooldown"] = float(cooldown)
    aggregation = data.get("MetricAggregationType")
    if aggregation is not None:
        if aggregation not in ("Average", "Minimum", "Maximum"):
            raise validation(f"{where}MetricAggregationType must be Average, Minimum or Maximum")
        optional["metric_aggregation_type"] = aggregation
    # attrs types the converted field by the converter (tuple), which mypy cannot resolve.
    return StepScalingPolicyConfiguration(kind, tuple(steps), **optional)  # type: ignore[arg-type]


def target_action(raw: object) -> ScalableTargetAction:
    """``ScalableTargetAction``."""
    data = _object(raw, "ScalableTargetAction")
    lo = _number(data, "MinCapacity", "ScalableTargetAction.", integer=True)
    hi = _number(data, "MaxCapacity", "ScalableTargetAction.", integer=True)
    return ScalableTargetAction(lo, hi)


def _drop_none(out: JsonObject) -> JsonObject:
    return {k: v for k, v in out.items() if v is not None}


def target_json(t: ScalableTarget, account: str) -> JsonObject:
    """A ``ScalableTarget``."""
    s = t.suspended_state
    return {
        "ServiceNamespace": t.service_namespace,
        "ResourceId": t.resource_id,
        "ScalableDimension": t.scalable_dimension,
        "MinCapacity": t.min_capacity,
        "MaxCapacity": t.max_capacity,
        "RoleARN": ROLE.format(account=account),
        "CreationTime": _epoch(t.creation_time),
        "SuspendedState": {
            "DynamicScalingInSuspended": s.dynamic_scaling_in_suspended,
            "DynamicScalingOutSuspended": s.dynamic_scaling_out_suspended,
            "ScheduledScalingSuspended": s.scheduled_scaling_suspended,
        },
        "ScalableTargetARN": t.scalable_target_arn,
    }


def _tracking_json(c: TargetTrackingScalingPolicyConfiguration) -> JsonObject:
    out: JsonObject = {
        "TargetValue": c.target_value,
        "ScaleOutCooldown": int(c.scale_out_cooldown),
        "ScaleInCooldown": int(c.scale_in_cooldown),
        "DisableScaleIn": c.disable_scale_in,
    }
    pre, custom = c.predefined_metric_specification, c.customized_metric_specification
    if pre is not None:
        out["PredefinedMetricSpecification"] = _drop_none(
            {
                "PredefinedMetricType": pre.predefined_metric_type,
                "ResourceLabel": pre.resource_label,
            }
        )
    if custom is not None:
        out["CustomizedMetricSpecification"] = _drop_none(
            {
                "MetricName": custom.metric_name,
                "Namespace": custom.namespace,
                "Dimensions": [{"Name": k, "Value": v} for k, v in custom.dimensions],
                "Statistic": custom.statistic,
                "Unit": custom.unit,
            }
        )
    return out


def _step_json(c: StepScalingPolicyConfiguration) -> JsonObject:
    return _drop_none(
        {
            "AdjustmentType": c.adjustment_type,
            "StepAdjustments": [
                _drop_none(
                    {
                        "MetricIntervalLowerBound": s.metric_interval_lower_bound,
                        "MetricIntervalUpperBound": s.metric_interval_upper_bound,
                        "ScalingAdjustment": s.scaling_adjustment,
                    }
                )
                for s in c.step_adjustments
            ],
            "MinAdjustmentMagnitude": c.min_adjustment_magnitude,
            "Cooldown": int(c.cooldown),
            "MetricAggregationType": c.metric_aggregation_type,
        }
    )


def policy_json(p: ScalingPolicy) -> JsonObject:
    """A ``ScalingPolicy``."""
    out: JsonObject = {
        "PolicyARN": p.policy_arn,
        "PolicyName": p.policy_name,
        "ServiceNamespace": p.service_namespace,
        "ResourceId": p.resource_id,
        "ScalableDimension": p.scalable_dimension,
        "PolicyType": p.policy_type,
        "Alarms": [{"AlarmName": a.alarm_name, "AlarmARN": a.alarm_arn} for a in p.alarms],
        "CreationTime": _epoch(p.creation_time),
    }
    if p.target_tracking_scaling_policy_configuration is not None:
        out["TargetTrackingScalingPolicyConfiguration"] = _tracking_json(
            p.target_tracking_scaling_policy_configuration
        )
    if p.step_scaling_policy_configuration is not None:
        out["StepScalingPolicyConfiguration"] = _step_json(p.step_scaling_policy_configuration)
    return out


def scheduled_json(a: ScheduledAction) -> JsonObject:
    """A ``ScheduledAction``."""
    act = a.scalable_target_action
    return _drop_none(
        {
            "ScheduledActionName": a.scheduled_action_name,
            "ScheduledActionARN": a.scheduled_action_arn,
            "ServiceNamespace": a.service_namespace,
            "Schedule": a.schedule,
            "Timezone": a.timezone,
            "ResourceId": a.resource_id,
            "ScalableDimension": a.scalable_dimension,
            "StartTime": _epoch(a.start_time),
            "EndTime": _epoch(a.end_time),
            "ScalableTargetAction": _drop_none(
                {"MinCapacity": act.min_capacity, "MaxCapacity": act.max_capacity}
            ),
            "CreationTime": _epoch(a.creation_time),
        }
    )


def activity_json(a: ScalingActivity) -> JsonObject:
    """A ``ScalingActivity``."""
    return _drop_none(
        {
            "ActivityId": a.activity_id,
            "ServiceNamespace": a.service_namespace,
            "ResourceId": a.resource_id,
            "ScalableDimension": a.scalable_dimension,
            "Description": a.description,
            "Cause": a.cause,
            "StartTime": _epoch(a.start_time),
            "EndTime": _epoch(a.end_time),
            "StatusCode": a.status_code,
            "StatusMessage": a.status_message,
        }
    )
