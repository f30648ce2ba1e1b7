"""Huge counts: refused above ECS's quota, and placed in batches that keep the loop free."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from fault_support import LoopLag, td

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.exceptions import InvalidParameterError


@pytest.mark.anyio
@pytest.mark.parametrize("count", [5001, 10**9])
async def test_a_desired_count_above_the_quota_is_refused_naming_the_way_out(count: int) -> None:
    async with pyecs.Cluster("prod", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(td("web"))
        with pytest.raises(InvalidParameterError) as caught:
            await cluster.create_service("web", task_definition="web", desired_count=count)
        message = str(caught.value)
        assert f"desired_count {count}" in message
        assert "5000 tasks per service" in message
        assert "max_tasks_per_service" in message
        assert cluster.list_services() == []
        assert cluster.list_tasks() == []

        svc = await cluster.create_service("web", task_definition="web", desired_count=1)
        with pytest.raises(InvalidParameterError, match="max_tasks_per_service"):
            await svc.update(desired_count=count)
        assert svc.desired_count == 1


@pytest.mark.anyio
async def test_the_quota_is_a_cluster_setting() -> None:
    async with pyecs.Cluster("prod", backend=SimulatedBackend(2), max_tasks_per_service=3) as small:
        await small.register_task_definition(td("web"))
        svc = await small.create_service("web", task_definition="web", desired_count=3)
        with pytest.raises(InvalidParameterError, match="limit of 3 tasks per service"):
            await svc.update(desired_count=4)
    backend = SimulatedBackend(20)
    async with pyecs.Cluster("prod", backend=backend, max_tasks_per_service=6000) as big:
        await big.register_task_definition(td("web"))
        svc = await big.create_service("web", task_definition="web", desired_count=5001)
        assert svc.desired_count == 5001
    with pytest.raises(InvalidParameterError, match="max_tasks_per_service must be"):
        pyecs.Cluster("prod", max_tasks_per_service=0)


@pytest.mark.anyio
async def test_scaling_to_thousands_of_tasks_keeps_the_event_loop_answering() -> None:
    """3,000 service tasks and a 1,000-task run_task: placed in batches, the loop answers.

    Before batching, one reconcile pass placed every copy at once (100,000 copies stalled
    the loop for 1.75 s) and compared tasks pairwise (5,000 tasks: seconds per pass).
    """
    lag = LoopLag()
    backend = SimulatedBackend(200)
    async with pyecs.Cluster("prod", backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(td("web", memory=8))
        async with anyio.create_task_group() as tg:
            tg.start_soon(lag.run)
            svc = await cluster.create_service("web", task_definition="web", desired_count=3000)
            await svc.wait_stable(timeout=120)
            result = await cluster.run_task("web", count=1000)
            assert len(result.tasks) == 1000
            await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=120)
            tg.cancel_scope.cancel()
        # Garbage collection of this many objects alone pauses about 0.1 s here; a pass
        # that placed everything at once took seconds.
        assert lag.worst < 1.0, f"the event loop was blocked for {lag.worst:.3f} s"
        started = [e for e in svc.events if " has started " in e.message]
        assert len(started) >= 30, "3,000 tasks are started 100 at a time"


@pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")
def test_pyecs_up_refuses_a_huge_desired_count(tmp_path: Path) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps(td("web", command=["sleep", "60"])))
    out = subprocess.run(
        [sys.executable, "-m", "pyecs.cli", "up", str(path), "--desired-count", "1000000000"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYECS_BACKEND": "process", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 1, out.stderr
    assert "max_tasks_per_service" in out.stderr
    assert "Traceback" not in out.stderr
