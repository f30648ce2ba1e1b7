"""The pure parts of scaling: alarm states from statistics, and capacities from policies.

Application Auto Scaling's rules (cited in ``tests/autoscaling``):

- A target tracking policy gets two alarms. The scale-out alarm is in ALARM when the
  metric is above the target for 3 datapoints within 3 minutes (3 of 3 one-minute
  periods); the scale-in alarm when it is below 90% of the target for 15 datapoints
  within 15 minutes. Insufficient data never scales.
- The new capacity is proportional: ``ceil(capacity x metric / target)`` (rounding up
  keeps enough capacity on the way out and removes less on the way in).
- Step scaling: the breach is the aggregated metric minus the alarm threshold; the step
  whose ``[lower, upper)`` bounds hold it gives the adjustment. ChangeInCapacity adds it,
  ExactCapacity sets it, PercentChangeInCapacity adds that percentage of the capacity,
  rounded toward zero (but at least 1 either way), and at least
  ``MinAdjustmentMagnitude``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

from pyecs.autoscaling._model import (
    ComparisonOperator,
    StepAdjustment,
    StepScalingPolicyConfiguration,
)
from pyecs.exceptions import InvalidParameterError
from pyecs.metrics import MetricStore, Statistic, dimensions_key

__all__ = [
    "HIGH_DATAPOINTS",
    "LOW_DATAPOINTS",
    "SCALE_IN_RATIO",
    "AlarmResult",
    "AlarmState",
    "breaches",
    "evaluate_alarm",
    "step_capacity",
    "tracking_capacity",
]

#: The scale-out alarm of a target tracking policy: 3 datapoints within 3 periods.
HIGH_DATAPOINTS = 3
#: The scale-in alarm: 15 datapoints within 15 periods...
LOW_DATAPOINTS = 15
#: ... below this fraction of the target value.
SCALE_IN_RATIO = 0.9

AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
AlarmResult = tuple[AlarmState, float | None]  # (state, the latest period's value)


def breaches(value: float, operator: ComparisonOperator, threshold: float) -> bool:
    """Whether ``value`` is on the alarming side of ``threshold``."""
    if operator == "GreaterThanThreshold":
        return value > threshold
    if operator == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if operator == "LessThanThreshold":
        return value < threshold
    return value <= threshold


def evaluate_alarm(
    store: MetricStore,
    *,
    namespace: str,
    metric_name: str,
    dimensions: Sequence[tuple[str, str]] | None,
    statistic: Statistic,
    period: float,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    threshold: float,
    operator: ComparisonOperator,
    now: float,
    value_statistic: Statistic | None = None,
) -> AlarmResult:
    """An alarm's state over the ``evaluation_periods`` periods that end at ``now``.

    ALARM when at least ``datapoints_to_alarm`` of them breach; INSUFFICIENT_DATA when
    none has data; otherwise OK. The value is the latest period's ``value_statistic``
    (default the alarm's statistic).
    """
    points = store.get_metric_statistics(
        namespace,
        metric_name,
        dimensions=dict(dimensions_key(dimensions)),
        start_time=now - evaluation_periods * period - 1e-9,
        end_time=now - 1e-9,
        period=period,
        statistics=(statistic,),
    )
    if not points:
        return "INSUFFICIENT_DATA", None
    bad = sum(1 for p in points if breaches(p.get(statistic), operator, threshold))
    latest = points[-1].get(value_statistic or statistic)
    return ("ALARM" if bad >= datapoints_to_alarm else "OK"), latest


def tracking_capacity(capacity: int, value: float, target: float) -> int:
    """The capacity that brings ``value`` to ``target``, rounded up."""
    return max(0, math.ceil(capacity * value / target - 1e-9))


def _step_for(steps: Sequence[StepAdjustment], breach: float) -> StepAdjustment | None:
    for step in steps:
        lo = (
            -math.inf
            if step.metric_interval_lower_bound is None
            else step.metric_interval_lower_bound
        )
        hi = (
            math.inf
            if step.metric_interval_upper_bound is None
            else step.metric_interval_upper_bound
        )
        if lo <= breach < hi:
            return step
    return None


def step_capacity(
    config: StepScalingPolicyConfiguration, capacity: int, value: float, threshold: float
) -> int | None:
    """The capacity a step policy asks for, or None when no step holds the breach."""
    step = _step_for(config.step_adjustments, value - threshold)
    if step is None:
        return None
    adj = step.scaling_adjustment
    if config.adjustment_type == "ExactCapacity":
        return adj
    if config.adjustment_type == "ChangeInCapacity":
        return capacity + adj
    change = capacity * adj / 100
    delta = int(change)  # toward zero
    if delta == 0 and change != 0:
        delta = 1 if change > 0 else -1
    magnitude = config.min_adjustment_magnitude
    if magnitude is not None and 0 < abs(delta) < magnitude:
        delta = magnitude if delta > 0 else -magnitude
    return capacity + delta


def check_steps(config: StepScalingPolicyConfiguration) -> None:
    """Steps that do not overlap and have at most one unbounded end each way.

    Raises:
        InvalidParameterError: naming the step.
    """
    if not config.step_adjustments:
        raise InvalidParameterError("step_adjustments needs at least one StepAdjustment")
    if config.adjustment_type not in (
        "ChangeInCapacity",
        "PercentChangeInCapacity",
        "ExactCapacity",
    ):
        raise InvalidParameterError(
            f"adjustment_type {config.adjustment_type!r} must be ChangeInCapacity, "
            "PercentChangeInCapacity or ExactCapacity"
        )
    if config.min_adjustment_magnitude is not None and (
        config.adjustment_type != "PercentChangeInCapacity"
    ):
        raise InvalidParameterError(
            "min_adjustment_magnitude applies to PercentChangeInCapacity only"
        )
    spans = sorted(
        (
            -math.inf if s.metric_interval_lower_bound is None else s.metric_interval_lower_bound,
            math.inf if s.metric_interval_upper_bound is None else s.metric_interval_upper_bound,
            i,
        )
        for i, s in enumerate(config.step_adjustments)
    )
    for (_lo, hi, i), (lo2, _, j) in itertools.pairwise(spans):
        if lo2 < hi:
            raise InvalidParameterError(
                f"step_adjustments[{i}] and [{j}] overlap; make each upper bound the next "
                "lower bound"
            )
    for lo, hi, i in spans:
        if not lo < hi:
            raise InvalidParameterError(
                f"step_adjustments[{i}]: the lower bound must be below the upper bound"
            )
