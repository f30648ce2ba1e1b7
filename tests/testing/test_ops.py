"""The operations module the CLI and pyecs.testing share, and the backends it builds."""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest

import pyecs
import pyecs.testing
from pyecs.backends.docker import DockerBackend
from pyecs.backends.process import ProcessBackend
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.ops import HookedBackend, capabilities_of, make_backend


def test_backends_say_what_they_do_in_capabilities() -> None:
    docker, process, simulated = (capabilities_of(n) for n in ("docker", "process", "simulated"))
    assert (docker.shares_host_network, docker.containers_outlive_process) == (False, True)
    assert (process.shares_host_network, process.containers_outlive_process) == (True, False)
    assert (simulated.shares_host_network, simulated.containers_outlive_process) == (True, False)
    assert DockerBackend.capabilities is docker


def test_make_backend_wraps_the_registry_s_backend() -> None:
    backend = make_backend("process", health_check_time_scale=0.5)
    assert isinstance(backend, HookedBackend)
    assert isinstance(backend.wrapped, ProcessBackend)
    assert (backend.name, backend.capabilities) == ("process", ProcessBackend.capabilities)
    assert backend.health_check_time_scale == 0.5  # forwarded: ProcessBackend's own attribute
    assert backend.running == []
    with pytest.raises(AttributeError):
        backend._containers  # noqa: B018 - private attributes are not forwarded
    assert pyecs.testing.make_backend is make_backend


def test_only_a_backend_whose_containers_outlive_the_process_can_be_kept() -> None:
    assert make_backend("docker").can_keep
    assert not make_backend("process").can_keep
    assert not make_backend("simulated").can_keep


@pytest.mark.anyio
async def test_removed_containers_keep_their_last_lines_and_detach_ends_waits() -> None:
    backend = HookedBackend(SimulatedBackend(1, behaviors={"job": Behavior(logs=("done",))}))
    definition = {
        "family": "job",
        "containerDefinitions": [
            {"name": "job", "image": "job", "memory": 16},
            {"name": "app", "image": "app", "memory": 16},
        ],
    }
    async with pyecs.Cluster("ops", backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(definition)
        (task,) = (await cluster.run_task("job")).tasks
        (task,) = await cluster.wait_tasks_running([task.arn], timeout=5)
        rid = task.container("job").runtime_id
        await cluster.stop_task(task.arn)
        await cluster.wait_tasks_stopped([task.arn], timeout=5)
        assert backend.removed_logs[str(rid)] == ["done"]

        (task,) = (await cluster.run_task("job")).tasks
        await cluster.wait_tasks_running([task.arn], timeout=5)
        backend.detach()  # the cluster believes its tasks stopped; nothing is removed
        with anyio.fail_after(5):
            (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=5)
    assert "kept running" in str(stopped.container("app").reason)
    assert not backend.can_keep


def test_the_cli_does_not_import_pyecs_testing() -> None:
    code = "import sys, pyecs.cli, pyecs.ops; print('pyecs.testing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
