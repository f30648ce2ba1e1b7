"""A simulated cluster with one service whose tasks reserve 256 CPU units and 256 MiB."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

import pyecs
from pyecs.autoscaling import (
    PredefinedMetricSpecification,
    TargetTrackingScalingPolicyConfiguration,
)
from pyecs.backends.simulated import SimulatedBackend

RESOURCE = "service/production/web-app"
#: The wall clock of the simulated clusters: anyio time 0 is this instant (UTC).
EPOCH = datetime.datetime(2024, 3, 9, 12, 0, tzinfo=datetime.UTC)


def mock_wall_clock(epoch: datetime.datetime = EPOCH) -> Any:
    """A cluster ``clock`` that follows anyio's (mock) clock from ``epoch``."""
    return lambda: epoch + datetime.timedelta(seconds=anyio.current_time())


def td(image: str = "web:1") -> dict[str, Any]:
    return {
        "family": "web-app",
        "cpu": "256",
        "memory": "256",
        "containerDefinitions": [{"name": "web", "image": image, "memory": 256}],
    }


@asynccontextmanager
async def scaled_service(
    backend: SimulatedBackend, *, desired: int = 1, **cluster: Any
) -> AsyncIterator[tuple[pyecs.Cluster, pyecs.Service]]:
    cluster.setdefault("metrics_resolution", 60)
    cluster.setdefault("task_healthy_delay", 0)
    async with pyecs.Cluster("production", backend=backend, **cluster) as c:
        await c.register_task_definition(td())
        svc = await c.create_service("web-app", task_definition="web-app", desired_count=desired)
        await svc.wait_stable(timeout=60)
        yield c, svc


def cpu_policy(target: float = 50.0, **kwargs: Any) -> TargetTrackingScalingPolicyConfiguration:
    return TargetTrackingScalingPolicyConfiguration(
        target_value=target,
        predefined_metric_specification=PredefinedMetricSpecification(
            "ECSServiceAverageCPUUtilization"
        ),
        **kwargs,
    )


async def wait_desired(svc: pyecs.Service, count: int, timeout: float) -> float:
    """Wait until the desired count is ``count``; the anyio time it happened."""
    with anyio.fail_after(timeout):
        while svc.desired_count != count:
            await svc.change_event.wait()
    return anyio.current_time()
