"""Target tracking as Application Auto Scaling documents it, on a MockClock.

References:
- "How target tracking scaling for Application Auto Scaling works"
  (docs.aws.amazon.com/autoscaling/application/userguide/target-tracking-scaling-policy-overview.html):
  the policy creates and manages two CloudWatch alarms; the scale-out alarm needs the
  metric above the target for 3 datapoints within 3 minutes, the scale-in alarm below
  90% of the target for 15 datapoints within 15 minutes; cooldowns default to 300 s for
  ECS services; with several policies, scale out if any is ready, scale in only if all
  are ready; DisableScaleIn keeps a policy from removing capacity.
- ECS Developer Guide, "Use a target metric to scale Amazon ECS services": insufficient
  data never scales; scale-in is turned off while a deployment is in progress.
"""

from __future__ import annotations

import anyio
import pytest
from scaling_support import RESOURCE, cpu_policy, scaled_service, wait_desired

from pyecs.autoscaling import SuspendedState
from pyecs.backends.simulated import Behavior, SimulatedBackend

pytestmark = pytest.mark.anyio


async def _register(cluster, *, lo=1, hi=4, **policy):  # type: ignore[no-untyped-def]
    cluster.autoscaling.register_scalable_target(
        resource_id=RESOURCE, min_capacity=lo, max_capacity=hi
    )
    return cluster.autoscaling.put_scaling_policy(
        policy_name="cpu50",
        resource_id=RESOURCE,
        target_tracking_scaling_policy_configuration=cpu_policy(**policy),
    )


async def test_scale_out_after_three_one_minute_datapoints_above_target() -> None:
    """100% CPU on a 50% target: desired 1 -> 2 once 3 one-minute datapoints breach."""
    backend = SimulatedBackend(2)
    async with scaled_service(backend) as (cluster, svc):
        policy = await _register(cluster)
        assert [a.alarm_name.split("-")[-6] for a in policy.alarms] == ["AlarmHigh", "AlarmLow"]
        await anyio.sleep(60 - anyio.current_time() % 60)  # on a minute boundary
        start = anyio.current_time()
        backend.set_load("web:1", cpu=256)  # the whole reservation: 100%
        at = await wait_desired(svc, 2, timeout=600)
        # Three full minutes of data, then at most one evaluation period late.
        assert 180 <= at - start <= 240
        activity = cluster.autoscaling.describe_scaling_activities(resource_id=RESOURCE)[0]
        assert activity.status_code == "Successful"
        assert activity.status_message == (
            "Successfully set desired count to 2. Change successfully fulfilled by ecs."
        )
        assert activity.description == "Setting desired count to 2."
        assert "in state ALARM triggered policy cpu50" in activity.cause
        await svc.wait_stable(timeout=120)  # the service writes the event as it reconciles
        assert any("Successfully set desired count to 2" in e.message for e in svc.events)


async def test_scale_in_after_fifteen_datapoints_below_ninety_percent_and_cooldown() -> None:
    backend = SimulatedBackend(2, default=Behavior(cpu=256))
    async with scaled_service(backend, desired=2) as (cluster, svc):
        await _register(cluster, lo=1, hi=4)
        # 2 tasks at 100%: scale out to 4 (ceil(2 * 100 / 50)).
        await wait_desired(svc, 4, timeout=600)
        backend.set_load("web:1", cpu=0)
        await svc.wait_stable(timeout=120)
        idle = anyio.current_time()
        at = await wait_desired(svc, 1, timeout=3600)
        # 15 one-minute datapoints below 45% (90% of 50), never during the cooldown.
        assert at - idle >= 15 * 60
        assert at - idle <= 17 * 60


async def test_insufficient_data_never_scales() -> None:
    backend = SimulatedBackend(1)
    async with scaled_service(backend, metrics_resolution=60) as (cluster, svc):
        await _register(cluster)
        cluster.metrics.close()
        backend.set_load("web:1", cpu=0)
        # A custom metric nobody feeds:
        from pyecs.autoscaling import (
            CustomizedMetricSpecification,
            TargetTrackingScalingPolicyConfiguration,
        )

        cluster.autoscaling.put_scaling_policy(
            policy_name="nothing",
            resource_id=RESOURCE,
            target_tracking_scaling_policy_configuration=TargetTrackingScalingPolicyConfiguration(
                target_value=10,
                customized_metric_specification=CustomizedMetricSpecification("Silence"),
            ),
        )
        cluster.autoscaling.delete_scaling_policy(policy_name="cpu50", resource_id=RESOURCE)
        await anyio.sleep(3600)
        assert svc.desired_count == 1
        assert cluster.autoscaling.describe_scaling_activities() == []


async def test_disable_scale_in_keeps_capacity() -> None:
    backend = SimulatedBackend(2, default=Behavior(cpu=256))
    async with scaled_service(backend) as (cluster, svc):
        await _register(cluster, hi=2, disable_scale_in=True, scale_in_cooldown=0)
        await wait_desired(svc, 2, timeout=600)
        backend.set_load("web:1", cpu=0)
        await anyio.sleep(3600)
        assert svc.desired_count == 2


async def test_suspended_scale_out_and_resume() -> None:
    backend = SimulatedBackend(2, default=Behavior(cpu=256))
    async with scaled_service(backend) as (cluster, svc):
        await _register(cluster)
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, suspended_state=SuspendedState(dynamic_scaling_out_suspended=True)
        )
        await anyio.sleep(1800)
        assert svc.desired_count == 1
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, suspended_state=SuspendedState()
        )
        await wait_desired(svc, 2, timeout=300)


async def test_suspended_scale_in() -> None:
    backend = SimulatedBackend(2)
    async with scaled_service(backend, desired=3) as (cluster, svc):
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE,
            min_capacity=1,
            max_capacity=4,
            suspended_state=SuspendedState(dynamic_scaling_in_suspended=True),
        )
        cluster.autoscaling.put_scaling_policy(
            policy_name="cpu50",
            resource_id=RESOURCE,
            target_tracking_scaling_policy_configuration=cpu_policy(),
        )
        await anyio.sleep(3600)
        assert svc.desired_count == 3


async def test_no_scale_in_during_scale_out_cooldown() -> None:
    """Load drops right after a scale-out: nothing scales in until the cooldown is over."""
    backend = SimulatedBackend(2, default=Behavior(cpu=256))
    async with scaled_service(backend) as (cluster, svc):
        await _register(cluster, scale_out_cooldown=3600, scale_in_cooldown=0)
        out = await wait_desired(svc, 2, timeout=600)
        backend.set_load("web:1", cpu=0)
        back = await wait_desired(svc, 1, timeout=7200)
        assert back - out >= 3600


async def test_several_policies_largest_capacity_wins_and_scale_in_needs_all() -> None:
    backend = SimulatedBackend(4, default=Behavior(cpu=256, memory=64))
    async with scaled_service(backend) as (cluster, svc):
        await _register(cluster, hi=10, target=50)  # CPU at 100%: wants 2
        from pyecs.autoscaling import PredefinedMetricSpecification as P
        from pyecs.autoscaling import TargetTrackingScalingPolicyConfiguration as T

        cluster.autoscaling.put_scaling_policy(
            policy_name="cpu25",
            resource_id=RESOURCE,
            target_tracking_scaling_policy_configuration=T(
                25, P("ECSServiceAverageCPUUtilization")
            ),  # wants 4
        )
        await wait_desired(svc, 4, timeout=600)
        assert len(cluster.autoscaling.describe_scaling_policies(resource_id=RESOURCE)) == 2
        # Memory at 25% of the reservation, a policy whose target it meets: no scale-in
        # from it; CPU policies alone keep the capacity while CPU stays high.
        cluster.autoscaling.put_scaling_policy(
            policy_name="mem",
            resource_id=RESOURCE,
            target_tracking_scaling_policy_configuration=T(
                25, P("ECSServiceAverageMemoryUtilization")
            ),
        )
        backend.set_load("web:1", cpu=0)
        await anyio.sleep(3600)
        assert svc.desired_count == 4  # the memory policy is not ready to scale in


async def test_capacity_is_clamped_to_min_and_max_on_registration() -> None:
    backend = SimulatedBackend(2)
    async with scaled_service(backend, desired=1) as (cluster, svc):
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, min_capacity=3, max_capacity=5
        )
        assert svc.desired_count == 3
        (activity,) = cluster.autoscaling.describe_scaling_activities()
        assert "minimum capacity was set to 3" in activity.cause
