"""Leaving a large cluster stops its tasks in batches, with the event loop free between."""

from __future__ import annotations

import anyio
import pytest

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.runtime._tasks import STOP_BATCH

pytestmark = pytest.mark.anyio

TINY = {
    "family": "tiny",
    "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 8, "essential": True}],
}


async def test_leaving_a_large_cluster_lets_the_rest_of_the_program_run() -> None:
    """A bystander coroutine notes how many containers still run at each of its turns: it
    must get turns while the cluster's exit is part way through its tasks."""
    backend = SimulatedBackend(20)
    total = 3 * STOP_BATCH + 10
    seen: list[int] = []

    async def bystander() -> None:
        while True:
            await anyio.sleep(0)
            seen.append(len(backend.running))

    async with anyio.create_task_group() as tg:
        async with pyecs.Cluster("big", backend=backend) as cluster:
            await cluster.register_task_definition(TINY)
            arns = []
            for done in range(0, total, 1000):
                result = await cluster.run_task("tiny", count=min(1000, total - done))
                arns.extend(t.arn for t in result.tasks)
            await cluster.wait_tasks_running(arns, timeout=30)
            tg.start_soon(bystander)
            await anyio.sleep(0)
        tg.cancel_scope.cancel()
    assert seen[-1] == 0
    part_way = {n for n in seen if 0 < n < total}
    assert len(part_way) >= 2  # turns between the batches of stops
