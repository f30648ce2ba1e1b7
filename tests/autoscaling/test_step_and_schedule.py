"""Step scaling and scheduled actions on a MockClock.

References: Application Auto Scaling user guide, "Step scaling policies" (step bounds are
relative to the alarm threshold, lower bound inclusive, upper exclusive; ChangeInCapacity,
PercentChangeInCapacity rounded toward zero with at least 1, MinAdjustmentMagnitude,
ExactCapacity) and "Scheduled scaling" (at(), rate(), cron() with a time zone; a
scheduled action sets min and max capacity, and the desired count moves inside them).
"""

from __future__ import annotations

import datetime

import anyio
import pytest
from scaling_support import RESOURCE, mock_wall_clock, scaled_service, wait_desired

from pyecs.autoscaling import (
    ScalableTargetAction,
    StepAdjustment,
    StepScalingPolicyConfiguration,
    parse_schedule,
    step_capacity,
)
from pyecs.backends.simulated import SimulatedBackend
from pyecs.exceptions import InvalidParameterError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("kind", "adjustment", "magnitude", "capacity", "expected"),
    [
        ("ChangeInCapacity", 2, None, 3, 5),
        ("ChangeInCapacity", -1, None, 3, 2),
        ("ExactCapacity", 7, None, 3, 7),
        ("PercentChangeInCapacity", 50, None, 3, 4),  # +1.5 -> +1 (toward zero)
        ("PercentChangeInCapacity", 10, None, 3, 4),  # +0.3 -> +1 (at least 1)
        ("PercentChangeInCapacity", -50, None, 3, 2),  # -1.5 -> -1
        ("PercentChangeInCapacity", 10, 2, 3, 5),  # at least MinAdjustmentMagnitude
        ("PercentChangeInCapacity", 200, 2, 3, 9),
    ],
)
def test_step_adjustment_types(kind, adjustment, magnitude, capacity, expected) -> None:  # type: ignore[no-untyped-def]
    config = StepScalingPolicyConfiguration(
        kind, [StepAdjustment(adjustment, 0.0)], min_adjustment_magnitude=magnitude
    )
    assert step_capacity(config, capacity, 80.0, 70.0) == expected


def test_steps_choose_by_breach_size() -> None:
    config = StepScalingPolicyConfiguration(
        "ChangeInCapacity",
        [StepAdjustment(1, 0.0, 10.0), StepAdjustment(3, 10.0, None)],
    )
    assert step_capacity(config, 2, 75.0, 70.0) == 3  # breach 5: first step
    assert step_capacity(config, 2, 80.0, 70.0) == 5  # breach 10: second (lower inclusive)
    assert step_capacity(config, 2, 60.0, 70.0) is None  # below every step


async def test_step_scaling_alarm_drives_capacity() -> None:
    backend = SimulatedBackend(2)
    async with scaled_service(backend) as (cluster, svc):
        queue = {"depth": 0.0}
        cluster.add_metric("QueueDepth", lambda: queue["depth"])
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, min_capacity=1, max_capacity=6
        )
        out = cluster.autoscaling.put_scaling_policy(
            policy_name="queue-out",
            resource_id=RESOURCE,
            policy_type="StepScaling",
            step_scaling_policy_configuration=StepScalingPolicyConfiguration(
                "ChangeInCapacity",
                [StepAdjustment(1, 0.0, 50.0), StepAdjustment(3, 50.0)],
                cooldown=120,
                metric_aggregation_type="Maximum",
            ),
        )
        cluster.autoscaling.put_metric_alarm(
            alarm_name="queue-high",
            namespace="pyecs/Custom",
            metric_name="QueueDepth",
            statistic="Maximum",
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            threshold=100,
            comparison_operator="GreaterThanOrEqualToThreshold",
            alarm_actions=[out.policy_arn],
        )
        queue["depth"] = 160.0  # breach 60: the second step, +3
        await wait_desired(svc, 4, timeout=400)
        (alarm,) = cluster.autoscaling.describe_alarms()
        assert alarm.state_value == "ALARM"
        queue["depth"] = 0.0
        await anyio.sleep(600)
        assert svc.desired_count == 4  # no scale-in policy


def test_bad_steps_are_refused() -> None:
    from pyecs.autoscaling import check_steps

    with pytest.raises(InvalidParameterError, match="overlap"):
        check_steps(
            StepScalingPolicyConfiguration(
                "ChangeInCapacity", [StepAdjustment(1, 0.0, 20.0), StepAdjustment(2, 10.0)]
            )
        )


def test_schedule_forms_and_errors() -> None:
    t = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    assert parse_schedule("rate(5 minutes)").next_after(t, t) == t + datetime.timedelta(minutes=5)
    assert parse_schedule("at(2024-01-02T03:04:05)").next_after(t, t) == datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC
    )
    for bad in ("rate(0 minutes)", "cron(0 9 * * *)", "cron(0 9 L * ? *)", "every day"):
        with pytest.raises(InvalidParameterError):
            parse_schedule(bad)
    with pytest.raises(InvalidParameterError, match="IANA"):
        parse_schedule("rate(1 hour)", "Mars/Olympus")


async def test_cron_action_in_a_time_zone_crosses_daylight_saving() -> None:
    """9:00 in New York is 14:00 UTC before 10 March 2024 and 13:00 UTC after it."""
    backend = SimulatedBackend(4)
    clock = mock_wall_clock()  # anyio time 0 = 2024-03-09 12:00 UTC
    async with scaled_service(backend, clock=clock) as (cluster, svc):
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, min_capacity=1, max_capacity=10
        )
        cluster.autoscaling.put_scheduled_action(
            scheduled_action_name="morning",
            resource_id=RESOURCE,
            schedule="cron(0 9 * * ? *)",
            timezone="America/New_York",
            scalable_target_action=ScalableTargetAction(min_capacity=3, max_capacity=10),
        )
        cluster.autoscaling.put_scheduled_action(
            scheduled_action_name="evening",
            resource_id=RESOURCE,
            schedule="cron(0 18 * * ? *)",
            timezone="America/New_York",
            scalable_target_action=ScalableTargetAction(min_capacity=1, max_capacity=1),
        )
        await wait_desired(svc, 3, timeout=86400)
        assert clock() == datetime.datetime(2024, 3, 9, 14, 0, tzinfo=datetime.UTC)
        await wait_desired(svc, 1, timeout=86400)
        assert clock() == datetime.datetime(2024, 3, 9, 23, 0, tzinfo=datetime.UTC)
        await wait_desired(svc, 3, timeout=86400)
        assert clock() == datetime.datetime(2024, 3, 10, 13, 0, tzinfo=datetime.UTC)
        causes = [a.cause for a in cluster.autoscaling.describe_scaling_activities()]
        assert causes[0].startswith("scheduled action name morning was triggered")
        assert [
            a.scheduled_action_name for a in cluster.autoscaling.describe_scheduled_actions()
        ] == ["morning", "evening"]


async def test_suspended_scheduled_scaling() -> None:
    from pyecs.autoscaling import SuspendedState

    backend = SimulatedBackend(2)
    async with scaled_service(backend, clock=mock_wall_clock()) as (cluster, svc):
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE,
            min_capacity=1,
            max_capacity=4,
            suspended_state=SuspendedState(scheduled_scaling_suspended=True),
        )
        cluster.autoscaling.put_scheduled_action(
            scheduled_action_name="soon",
            resource_id=RESOURCE,
            schedule="rate(1 hour)",
            scalable_target_action=ScalableTargetAction(min_capacity=2),
        )
        await anyio.sleep(3 * 3600)
        assert svc.desired_count == 1


async def test_operations_refuse_unknown_objects() -> None:
    from pyecs.exceptions import ScalingObjectNotFoundError

    backend = SimulatedBackend(1)
    async with scaled_service(backend) as (cluster, _):
        with pytest.raises(ScalingObjectNotFoundError, match="register_scalable_target"):
            cluster.autoscaling.delete_scaling_policy(policy_name="x", resource_id=RESOURCE)
        with pytest.raises(InvalidParameterError, match="service/production/"):
            cluster.autoscaling.register_scalable_target(
                resource_id="service/other/web-app", min_capacity=1, max_capacity=2
            )
        with pytest.raises(InvalidParameterError, match="min <= max"):
            cluster.autoscaling.register_scalable_target(
                resource_id=RESOURCE, min_capacity=3, max_capacity=2
            )
