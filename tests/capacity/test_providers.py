"""Capacity providers on the simulated backend: association, strategies, managed scaling."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import pyecs
from pyecs import InvalidParameterError, ManagedScaling
from pyecs.backends.simulated import SimulatedBackend
from pyecs.models.instance import uniform_instances

pytestmark = pytest.mark.anyio


def _td(memory: int = 512) -> dict[str, Any]:
    return {
        "family": "worker",
        "containerDefinitions": [{"name": "w", "image": "busybox", "memory": memory}],
    }


async def _two_groups(cluster: pyecs.Cluster) -> None:
    await cluster.create_capacity_provider("asg-a")
    await cluster.create_capacity_provider("asg-b")
    for spec in uniform_instances(2, id_prefix="a-"):
        await cluster.register_container_instance(spec, capacity_provider="asg-a")
    for spec in uniform_instances(2, id_prefix="b-"):
        await cluster.register_container_instance(spec, capacity_provider="asg-b")


async def test_run_task_splits_by_base_then_weights() -> None:
    backend = SimulatedBackend(uniform_instances(1, id_prefix="plain-"))
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await _two_groups(cluster)
        await cluster.put_cluster_capacity_providers(["asg-a", "asg-b"])
        await cluster.register_task_definition(_td(256))
        result = await cluster.run_task(
            "worker",
            count=10,
            capacity_provider_strategy=[
                {"capacityProvider": "asg-a", "base": 2, "weight": 1},
                {"capacityProvider": "asg-b", "weight": 3},
            ],
        )
        assert not result.failures
        by = [t.capacity_provider_name for t in result.tasks]
        assert by.count("asg-a") == 4 and by.count("asg-b") == 6
        for t in result.tasks:  # each task sits on an instance of its own provider
            assert t.container_instance_id.startswith(t.capacity_provider_name[-1] + "-")
            assert t.launch_type == "EC2"


async def test_launch_type_and_strategy_are_mutually_exclusive() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(_td())
        with pytest.raises(InvalidParameterError, match="Specifying both a launch type and"):
            await cluster.run_task(
                "worker",
                launch_type="EC2",
                capacity_provider_strategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            )
        with pytest.raises(InvalidParameterError, match="not associated with the cluster"):
            await cluster.run_task(
                "worker", capacity_provider_strategy=[{"capacityProvider": "FARGATE", "weight": 1}]
            )
        with pytest.raises(InvalidParameterError, match="does not exist"):
            await cluster.put_cluster_capacity_providers(["nope"])
        with pytest.raises(InvalidParameterError, match="cannot begin with"):
            await cluster.create_capacity_provider("fargate-mine")
        with pytest.raises(InvalidParameterError, match="no instance_provider"):
            await cluster.create_capacity_provider("x", managed_scaling=ManagedScaling())


async def test_cluster_default_strategy_applies_when_neither_is_given() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(uniform_instances(1))) as cluster:
        await _two_groups(cluster)
        with pytest.raises(InvalidParameterError, match="not associated with the cluster"):
            await cluster.put_cluster_capacity_providers(
                ["asg-a"], [{"capacityProvider": "asg-b", "weight": 1}]
            )
        await cluster.put_cluster_capacity_providers(
            ["asg-a", "asg-b"], [{"capacityProvider": "asg-b", "weight": 1}]
        )
        await cluster.register_task_definition(_td())
        result = await cluster.run_task("worker", count=3)
        assert {t.capacity_provider_name for t in result.tasks} == {"asg-b"}
        # launchType EC2 ignores the default: any instance, no provider.
        plain = await cluster.run_task("worker", launch_type="EC2")
        assert plain.tasks[0].capacity_provider_name is None
        with pytest.raises(InvalidParameterError, match="in use and cannot be removed"):
            await cluster.put_cluster_capacity_providers(["asg-a"])


async def test_service_keeps_the_split_and_a_new_strategy_is_a_new_deployment() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await _two_groups(cluster)
        await cluster.put_cluster_capacity_providers(["asg-a", "asg-b"])
        await cluster.register_task_definition(_td(256))
        svc = await cluster.create_service(
            "w",
            task_definition="worker",
            desired_count=6,
            healthy_delay=0,
            capacity_provider_strategy=[
                {"capacityProvider": "asg-a", "base": 2},
                {"capacityProvider": "asg-b", "weight": 1},
            ],
        )
        await svc.wait_stable(timeout=60)
        by = [t.capacity_provider_name for t in svc.tasks]
        assert by.count("asg-a") == 2 and by.count("asg-b") == 4
        assert svc.launch_type is None and svc.capacity_provider_strategy
        await svc.update(desired_count=6)
        assert len(svc.deployments) == 1  # desired count alone: no deployment
        await svc.update(capacity_provider_strategy=[{"capacityProvider": "asg-a", "weight": 1}])
        assert len(svc.deployments) == 2
        await svc.wait_stable(timeout=300)
        assert {t.capacity_provider_name for t in svc.tasks} == {"asg-a"}


async def test_managed_scaling_provisions_waits_and_scales_in_idle_instances() -> None:
    """Tasks wait in PROVISIONING while the provider adds instances; the reservation is
    M/N x 100 (200 with no instance); idle instances go after scale_in_after."""
    backend = SimulatedBackend(uniform_instances(1, cpu=1024, memory=1024))
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.create_capacity_provider(
            "auto",
            instance_provider=backend,
            managed_scaling=ManagedScaling(target_capacity=100, maximum_scaling_step_size=2),
            managed_termination_protection="ENABLED",
            scaling_interval=60,
            scale_in_after=900,
        )
        await cluster.put_cluster_capacity_providers(
            ["auto"], [{"capacityProvider": "auto", "weight": 1}]
        )
        await cluster.register_task_definition(_td(1024))
        assert cluster.capacity_provider_reservation("auto") == 100.0  # M = N = 0
        result = await cluster.run_task("worker", count=3)
        assert not result.failures
        assert [t.last_status for t in result.tasks] == ["PROVISIONING"] * 3
        assert cluster.capacity_provider_reservation("auto") == 200.0  # N = 0, M > 0
        await anyio.sleep(2 * cluster.metrics_resolution)  # a metrics round
        dims = {"ClusterName": "c", "CapacityProviderName": "auto"}
        sampled = cluster.metrics.latest(
            "AWS/ECS/ManagedScaling", "CapacityProviderReservation", dims
        )
        assert sampled is not None and sampled[1] >= 100.0  # scaling may have begun
        arns = [t.arn for t in result.tasks]
        # Step 1 adds at most 2 (the max step); step 2, a minute later, the third.
        running = await cluster.wait_tasks_running(arns, timeout=600)
        assert {cluster.describe_container_instance(t.container_instance_id).id for t in running}
        assert len(backend.added_instances) == 3
        assert cluster.capacity_provider_reservation("auto") == 100.0
        # Two tasks stop: their instances are idle, and go only after 15 minutes.
        for arn in arns[:2]:
            await cluster.stop_task(arn)
        await cluster.wait_tasks_stopped(arns[:2], timeout=60)
        assert cluster.capacity_provider_reservation("auto") == pytest.approx(100 / 3)
        await anyio.sleep(600)
        assert backend.removed_instances == []
        await anyio.sleep(600)
        busy = cluster.describe_task(arns[2]).container_instance_id
        assert sorted(backend.removed_instances) == sorted(set(backend.added_instances) - {busy})
        assert cluster.describe_task(arns[2]).last_status == "RUNNING"  # never removed
        assert cluster.capacity_provider_reservation("auto") == 100.0
        snapshot = cluster.describe_capacity_providers(["auto"])[0]
        assert snapshot.instance_ids == (busy,)


async def test_stopping_a_provisioning_task_stops_it_at_once() -> None:
    backend = SimulatedBackend(1, instance_start_delay=3600)
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.create_capacity_provider(
            "auto", instance_provider=backend, managed_scaling=ManagedScaling()
        )
        await cluster.put_cluster_capacity_providers(["auto"])
        await cluster.register_task_definition(_td())
        result = await cluster.run_task(
            "worker", capacity_provider_strategy=[{"capacityProvider": "auto", "weight": 1}]
        )
        task = await cluster.stop_task(result.tasks[0].arn, reason="changed my mind")
        assert task.last_status == "STOPPED" and task.stopped_reason == "changed my mind"
