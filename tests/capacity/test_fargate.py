"""Fargate on the simulated backend: ECS's errors, capacity of its own, Spot interruptions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import pyecs
import pyecs.ecs as ecs
from pyecs import InvalidParameterError
from pyecs.backends.simulated import Behavior, SimulatedBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ecs"))
from test_shapes import output_problems

pytestmark = pytest.mark.anyio

NET = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}


def fargate_td(cpu: str = "256", memory: str = "512", mode: str = "awsvpc") -> dict[str, Any]:
    return {
        "family": "api",
        "networkMode": mode,
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [{"name": "api", "image": "busybox", "essential": True}],
    }


async def test_fargate_task_needs_no_instance_and_shows_as_ecs_shows_it() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(fargate_td())
        before = len(cluster.list_container_instances())
        web = await cluster.create_security_group("web")
        net = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": [web.group_id]}}
        result = await cluster.run_task(
            "api", count=2, launch_type="FARGATE", network_configuration=net
        )
        tasks = await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=30)
        assert len(cluster.list_container_instances()) == before  # no instance of yours used
        body = ecs.to_ecs(cluster.describe_tasks([t.arn for t in tasks]))
        assert output_problems("DescribeTasks", body) == []
        shown = body["tasks"][0]
        assert shown["launchType"] == "FARGATE" and shown["platformVersion"] == "1.4.0"
        assert "containerInstanceArn" not in shown
        (eni,) = shown["attachments"]
        assert eni["type"] == "ElasticNetworkInterface" and eni["status"] == "ATTACHED"
        assert {"name": "subnetId", "value": "subnet-1"} in eni["details"]
        assert tasks[0].network_interface is not None
        assert tasks[0].network_interface.security_groups == (web.group_id,)
        await cluster.stop_task(tasks[0].arn)
        await cluster.wait_tasks_stopped([tasks[0].arn], timeout=60)
        # Its capacity is given back with it.
        assert not any(i.startswith("fargate-1") for i in cluster._placement.instance_ids())


@pytest.mark.parametrize(
    ("td", "net", "words"),
    [
        (fargate_td(mode="bridge"), None, "Task definition does not support launch_type FARGATE"),
        (fargate_td(cpu="256", memory="4096"), NET, "No Fargate configuration exists"),
        (fargate_td(), None, "Network Configuration must be provided when networkMode 'awsvpc'"),
        (fargate_td(), {"awsvpcConfiguration": {"subnets": []}}, "subnets can not be empty."),
    ],
)
async def test_ecs_errors_for_common_fargate_mistakes(
    td: dict[str, Any], net: dict[str, Any] | None, words: str
) -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(td)
        with pytest.raises(InvalidParameterError, match=words):
            await cluster.run_task("api", launch_type="FARGATE", network_configuration=net)
        assert cluster.list_tasks() == []  # nothing half-started


async def test_public_ip_only_on_fargate_and_network_config_only_for_awsvpc() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(fargate_td())
        public = {"awsvpcConfiguration": {"subnets": ["s"], "assignPublicIp": "ENABLED"}}
        with pytest.raises(InvalidParameterError, match="Assign public IP is not supported"):
            await cluster.run_task("api", launch_type="EC2", network_configuration=public)
        await cluster.register_task_definition(
            {"family": "b", "containerDefinitions": [{"name": "b", "image": "x", "memory": 64}]}
        )
        with pytest.raises(InvalidParameterError, match="Network Configuration is not valid"):
            await cluster.run_task("b", network_configuration=NET)


async def test_spot_interruption_stops_with_ecs_code_and_the_service_replaces_it() -> None:
    backend = SimulatedBackend(1, default=Behavior(ignore_sigterm=True))
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.put_cluster_capacity_providers(["FARGATE", "FARGATE_SPOT"])
        await cluster.register_task_definition(fargate_td())
        svc = await cluster.create_service(
            "api",
            task_definition="api",
            desired_count=3,
            healthy_delay=0,
            network_configuration=NET,
            capacity_provider_strategy=[
                {"capacityProvider": "FARGATE", "base": 1, "weight": 0},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1},
            ],
        )
        await svc.wait_stable(timeout=60)
        spot = [t for t in svc.tasks if t.capacity_provider_name == "FARGATE_SPOT"]
        assert len(spot) == 2
        on_demand = next(t for t in svc.tasks if t.capacity_provider_name == "FARGATE")
        with pytest.raises(InvalidParameterError, match="only Fargate Spot tasks"):
            await cluster.interrupt_spot_task(on_demand.arn)
        await cluster.interrupt_spot_task(spot[0].arn)
        (stopped,) = await cluster.wait_tasks_stopped([spot[0].arn], timeout=300)
        assert stopped.stop_code == "SpotInterruption"
        assert stopped.stopped_reason == "Your Spot Task was interrupted."
        # It ignored SIGTERM: the kill came at the end of the two-minute warning.
        assert stopped.stopped_at is not None and stopped.stopping_at is not None
        await svc.wait_stable(timeout=300)
        now = [t.capacity_provider_name for t in svc.tasks]
        assert now.count("FARGATE_SPOT") == 2 and now.count("FARGATE") == 1
        assert spot[0].arn not in [t.arn for t in svc.tasks]


async def test_simulated_spot_behaviour_interrupts_after_its_delay() -> None:
    backend = SimulatedBackend(1, behaviors={"busybox": Behavior(spot_interruption_after=30)})
    async with pyecs.Cluster("c", backend=backend) as cluster:
        cluster.spot_warning = 5
        await cluster.put_cluster_capacity_providers(["FARGATE_SPOT"])
        await cluster.register_task_definition(fargate_td())
        result = await cluster.run_task(
            "api",
            network_configuration=NET,
            capacity_provider_strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        )
        (stopped,) = await cluster.wait_tasks_stopped([result.tasks[0].arn], timeout=120)
        assert stopped.stop_code == "SpotInterruption"


async def test_ec2_tasks_stay_off_fargate_capacity_while_it_comes_and_goes() -> None:
    """The cluster counts the Fargate capacity it adds and gives back (it keeps EC2 tasks
    off that capacity while there is any); EC2 tasks land on EC2 instances throughout."""
    small = {
        "family": "small",
        "containerDefinitions": [{"name": "s", "image": "busybox", "memory": 64}],
    }
    async with pyecs.Cluster("c", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(fargate_td())
        await cluster.register_task_definition(small)
        counted = cluster._placement.count_ids_with_prefix
        assert counted("fargate-") == 0
        fargate = await cluster.run_task(
            "api", count=2, launch_type="FARGATE", network_configuration=NET
        )
        await cluster.wait_tasks_running([t.arn for t in fargate.tasks], timeout=30)
        assert counted("fargate-") == 2
        result = await cluster.run_task(
            "small", count=4, placement_strategy=[pyecs.BinPack("memory")]
        )
        assert len(result.tasks) == 4
        assert not any(t.container_instance_id.startswith("fargate-") for t in result.tasks)
        arns = [t.arn for t in fargate.tasks]
        for arn in arns:
            await cluster.stop_task(arn)
        await cluster.wait_tasks_stopped(arns, timeout=60)
        assert counted("fargate-") == 0
        again = await cluster.run_task(
            "small", count=1, placement_strategy=[pyecs.BinPack("memory")]
        )
        assert len(again.tasks) == 1
