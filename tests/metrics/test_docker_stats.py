"""Docker's stats streams feed CPUUtilization: a busy container reads high, an idle one low,
and every stream closes with its container (no thread per stream, none left behind)."""

from __future__ import annotations

import threading

import anyio
import pytest
from docker_support import busybox_image_or_skip

import pyecs
from pyecs.backends import DockerBackend

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.slow]

busybox_image = pytest.fixture(scope="module", name="busybox_image")(busybox_image_or_skip)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def td(family: str, image: str, command: str) -> dict[str, object]:
    return {
        "family": family,
        "cpu": "1024",
        "memory": "64",
        "containerDefinitions": [
            {"name": "main", "image": image, "command": ["sh", "-c", command], "stopTimeout": 2}
        ],
    }


async def test_busy_container_reads_high_idle_low_and_streams_close(busybox_image: str) -> None:
    backend = DockerBackend()
    async with pyecs.Cluster(
        "stats", backend=backend, metrics_resolution=1, task_healthy_delay=0
    ) as cluster:
        threads = threading.active_count()
        await cluster.register_task_definition(td("busy", busybox_image, "while :; do :; done"))
        await cluster.register_task_definition(td("idle", busybox_image, "sleep 600"))
        busy = (await cluster.run_task("busy")).tasks[0]
        idle = (await cluster.run_task("idle")).tasks[0]
        await cluster.wait_tasks_running([busy.arn, idle.arn], timeout=30)

        def cpu(task: pyecs.Task) -> float | None:
            got = cluster.metrics.latest(
                "AWS/ECS", "CPUUtilization", {"ClusterName": "stats", "TaskId": task.id}
            )
            return None if got is None else got[1]

        with anyio.fail_after(30):
            while True:
                await cluster.metrics.wait_round()
                b, i = cpu(busy), cpu(idle)
                # A busy loop on one core against 1,024 units is ~100% (less when the
                # machine is shared); the sleeping container stays near 0.
                if b is not None and i is not None and b > 40:
                    break
        assert i is not None and i < 5
        assert len(backend._stats) == 2
        # No thread per stream: the streams are sockets read on the event loop.
        assert threading.active_count() <= threads + 2
        await cluster.stop_task(busy.arn)
        await cluster.stop_task(idle.arn)
        await cluster.wait_tasks_stopped([busy.arn, idle.arn], timeout=30)
        with anyio.fail_after(15):  # removal closes each stream
            while len(backend._stats):
                await anyio.sleep(0.1)
