"""Fargate tasks on Docker: the task size becomes each container's limits, and the task's
ENI shows the address Docker gave it."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

import pyecs
import pyecs.ecs as ecs
from pyecs.backends.docker import DockerBackend

pytestmark = [pytest.mark.anyio, pytest.mark.docker]


def _inspect(runtime_id: str) -> dict[str, Any]:
    out = subprocess.run(
        ["docker", "inspect", runtime_id], check=True, capture_output=True, text=True
    )
    info: dict[str, Any] = json.loads(out.stdout)[0]
    return info


async def test_fargate_task_size_is_the_containers_limits(busybox_image: str) -> None:
    td = {
        "family": "sized",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "containerDefinitions": [
            {"name": "app", "image": busybox_image, "command": ["sleep", "300"]}
        ],
    }
    async with pyecs.Cluster("fargate-docker", backend=DockerBackend(pull="never")) as cluster:
        await cluster.register_task_definition(td)
        result = await cluster.run_task(
            "sized",
            launch_type="FARGATE",
            network_configuration={"awsvpcConfiguration": {"subnets": ["subnet-a"]}},
        )
        (task,) = await cluster.wait_tasks_running([result.tasks[0].arn], timeout=60)
        info = _inspect(str(task.container("app").runtime_id))
        assert info["HostConfig"]["Memory"] == 1024 * 1024 * 1024
        assert info["HostConfig"]["NanoCpus"] == 500_000_000  # 512 units = 0.5 vCPU
        networks = info["NetworkSettings"]["Networks"]
        address = next(n["IPAddress"] for n in networks.values() if n["IPAddress"])
        assert task.network_interface is not None
        assert task.network_interface.private_ipv4 == address
        shown = ecs.to_ecs(task)
        details = {d["name"]: d["value"] for d in shown["attachments"][0]["details"]}
        assert details["privateIPv4Address"] == address
        assert shown["launchType"] == "FARGATE"
