"""One contract, every backend: the ECS task life cycle behaves the same everywhere.

Each test runs on the simulated, process and Docker backends (Docker tests skip without an
engine, and fail instead under ``PYECS_REQUIRE_DOCKER=1``, as in CI).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from contract_flavors import ENV_PRINTED, Flavor, SimFlavor

import pyecs
from pyecs.backends.process import ProcessBackend
from pyecs.backends.simulated import SimulatedBackend

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["simulated", "process", pytest.param("docker", marks=pytest.mark.docker)])
def flavor(request: pytest.FixtureRequest) -> Iterator[Flavor]:
    if request.param == "simulated":
        yield SimFlavor("simulated", SimulatedBackend(1))
    elif request.param == "process":
        yield Flavor("process", ProcessBackend(health_check_time_scale=0.1), health_scale=0.1)
    else:
        from pyecs.backends.docker import DockerBackend

        image = request.getfixturevalue("busybox_image")
        yield Flavor("docker", DockerBackend(pull="never"), image=image)


def td(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"family": "contract", "containerDefinitions": list(containers), **extra}


@asynccontextmanager
async def cluster_for(flavor: Flavor) -> AsyncIterator[pyecs.Cluster]:
    # One name per test process: xdist workers running at once would share the Docker
    # cluster network (one cluster name is one cluster), and each checks for leftovers.
    async with pyecs.Cluster(f"contract-{os.getpid()}", backend=flavor.backend) as cluster:
        yield cluster
    flavor.assert_clean()


async def run_one(cluster: pyecs.Cluster, definition: dict[str, Any]) -> pyecs.Task:
    await cluster.register_task_definition(definition)
    result = await cluster.run_task("contract")
    assert result.failures == ()
    return result.tasks[0]


async def history(
    cluster: pyecs.Cluster, definition: dict[str, Any], until: str, timeout: float = 60
) -> list[pyecs.Task]:
    """Every snapshot of one task from its start until ``last_status`` is ``until``."""
    snapshots: list[pyecs.Task] = []
    async with cluster.subscribe() as events:
        task = await run_one(cluster, definition)
        with anyio.fail_after(timeout):
            async for event in events:
                if isinstance(event, pyecs.TaskStateChange) and event.task.arn == task.arn:
                    snapshots.append(event.task)
                    if event.task.last_status == until:
                        break
    return snapshots


def first(snapshots: list[pyecs.Task], container: str, status: str) -> int:
    """Index of the first snapshot where ``container`` has ``status``."""
    for i, t in enumerate(snapshots):
        if t.container(container).last_status == status:
            return i
    raise AssertionError(f"{container} never reached {status}")


async def test_start_and_stop(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        task = await run_one(cluster, td(flavor.forever("app")))
        (running,) = await cluster.wait_tasks_running([task.arn], timeout=30)
        assert running.container("app").runtime_id
        await cluster.stop_task(task.arn, reason="contract")
        (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=30)
    assert (stopped.stop_code, stopped.stopped_reason) == ("UserInitiated", "contract")
    assert stopped.container("app").exit_code is not None


async def test_essential_exit_stops_the_others_with_its_exit_code(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        task = await run_one(
            cluster, td(flavor.exits("main", 3, after=0.5), flavor.forever("side", essential=False))
        )
        (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=30)
    assert stopped.stop_code == "EssentialContainerExited"
    assert stopped.stopped_reason == "Essential container in task exited"
    assert stopped.container("main").exit_code == 3
    assert stopped.container("side").last_status == "STOPPED"


async def test_non_essential_exit_keeps_the_task_running(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        task = await run_one(
            cluster, td(flavor.forever("main"), flavor.exits("job", 0, essential=False))
        )
        await cluster.wait_tasks_running([task.arn], timeout=30)
        with anyio.fail_after(30):
            while cluster.describe_task(task.arn).container("job").exit_code is None:
                await anyio.sleep(0.1)
        assert cluster.describe_task(task.arn).last_status == "RUNNING"


async def test_depends_on_start_orders_the_starts(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        app = flavor.forever("app", dependsOn=[{"containerName": "db", "condition": "START"}])
        snaps = await history(cluster, td(flavor.forever("db"), app), "RUNNING")
    assert first(snaps, "db", "RUNNING") < first(snaps, "app", "RUNNING")


async def test_depends_on_complete_waits_for_any_exit(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        init = flavor.exits("init", 1, essential=False)
        app = flavor.forever("app", dependsOn=[{"containerName": "init", "condition": "COMPLETE"}])
        snaps = await history(cluster, td(init, app), "RUNNING")
    assert first(snaps, "init", "STOPPED") < first(snaps, "app", "RUNNING")
    assert snaps[-1].container("init").exit_code == 1


async def test_depends_on_success_with_non_zero_exit_fails_the_task(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        init = flavor.exits("init", 1, essential=False)
        app = flavor.forever("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}])
        snaps = await history(cluster, td(init, app), "STOPPED")
    stopped = snaps[-1]
    assert stopped.stop_code == "TaskFailedToStart"
    assert "exited with code 1" in str(stopped.stopped_reason)
    assert stopped.container("app").runtime_id is None  # never started


async def test_depends_on_healthy_waits_for_the_health_check(flavor: Flavor) -> None:
    if not flavor.backend.capabilities.health_checks:
        pytest.skip(f"{flavor.name} runs no health checks")
    async with cluster_for(flavor) as cluster:
        db = flavor.healthy_then_unhealthy("db", None)
        app = flavor.forever("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}])
        snaps = await history(cluster, td(db, app), "RUNNING")
    healthy_at = next(
        i for i, t in enumerate(snaps) if t.container("db").health_status == "HEALTHY"
    )
    assert healthy_at < first(snaps, "app", "RUNNING")


async def test_start_timeout_runs_out(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        db = flavor.never_healthy("db")
        app = flavor.forever(
            "app",
            dependsOn=[{"containerName": "db", "condition": "HEALTHY"}],
            startTimeout=2,
        )
        snaps = await history(cluster, td(db, app), "STOPPED")
    assert snaps[-1].stop_code == "TaskFailedToStart"
    assert "startTimeout" in str(snaps[-1].stopped_reason)


async def test_health_turns_healthy_then_unhealthy(flavor: Flavor) -> None:
    if not flavor.backend.capabilities.health_checks:
        pytest.skip(f"{flavor.name} runs no health checks")
    async with cluster_for(flavor) as cluster:
        # Healthy for longer than one check interval (Docker checks first after 5 s).
        healthy_for = 7.0 * flavor.health_scale
        task = await run_one(cluster, td(flavor.healthy_then_unhealthy("app", healthy_for)))
        seen: list[str] = []
        with anyio.fail_after(60):
            while "UNHEALTHY" not in seen:
                status = cluster.describe_task(task.arn).health_status
                if not seen or seen[-1] != status:
                    seen.append(status)
                await anyio.sleep(0.05)
    assert seen.index("HEALTHY") < seen.index("UNHEALTHY")


async def test_stop_timeout_kills_after_the_timeout_not_before(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        task = await run_one(cluster, td(flavor.ignores_sigterm("app", stopTimeout=2)))
        await cluster.wait_tasks_running([task.arn], timeout=30)
        await anyio.sleep(0.5)  # let the shell install its trap
        started = anyio.current_time()
        await cluster.stop_task(task.arn)
        (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=30)
        took = anyio.current_time() - started
    assert 1.9 <= took < 15
    assert stopped.container("app").exit_code == 137


async def test_logs_are_captured(flavor: Flavor) -> None:
    if not flavor.backend.capabilities.logs:
        pytest.skip(f"{flavor.name} keeps no logs")
    async with cluster_for(flavor) as cluster:
        task = await run_one(cluster, td(flavor.prints("app", "hello-contract")))
        await cluster.wait_tasks_running([task.arn], timeout=30)
        lines: list[str] = []
        with anyio.fail_after(10):
            while not any("hello-contract" in line for line in lines):
                lines = [line async for line in cluster.task_logs(task.arn, "app")]
                await anyio.sleep(0.1)


#: An environment file with what ECS takes literally and what it ignores.
FIRST_ENV_FILE = (
    "# a comment\n"
    "   # an indented comment\n"
    "\n"
    "PLAIN=value\n"
    "WITH_EQUALS=a=b=c\n"
    'QUOTED="double quoted"\n'
    "SINGLE='single quoted'\n"
    "SPACES=  two  spaces \n"
    "HASH=value # not a comment\n"
    "PYECS_CONTRACT_BARE\n"
    "EMPTY=\n"
    "DUP=first line\n"
    "DUP=second line\n"
    "SHARED=from the first file\n"
    "OVERRIDDEN=from a file\n"
    "PYECS_CONTRACT_SECRET=from a file\n"
)
SECOND_ENV_FILE = "SHARED=from the second file\nSECOND_ONLY=yes\n"

#: What the container sees: values literally (quotes and spaces kept, no comments after a
#: value), a file's later line over its earlier one, the first file over the second,
#: secrets over files, ``environment`` over everything.
EXPECTED_ENVIRONMENT = {
    "PLAIN": "value",
    "WITH_EQUALS": "a=b=c",
    "QUOTED": '"double quoted"',
    "SINGLE": "'single quoted'",
    "SPACES": "  two  spaces ",
    "HASH": "value # not a comment",
    "DUP": "second line",
    "SHARED": "from the first file",
    "SECOND_ONLY": "yes",
    "OVERRIDDEN": "from the environment",
    "PYECS_CONTRACT_SECRET": "s3cret value",
}


async def test_the_same_definition_gets_the_same_environment(
    flavor: Flavor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """environmentFiles, secrets and environment resolve by the ECS rules on every backend:
    a bare name and an empty value are ignored (the host's value is not taken)."""
    monkeypatch.setenv("PYECS_CONTRACT_SECRET", "s3cret value")
    monkeypatch.setenv("PYECS_CONTRACT_BARE", "from the host")
    first = tmp_path / "first.env"
    first.write_text(FIRST_ENV_FILE)
    second = tmp_path / "second file.env"  # given as a file:// URL: %20 for the space
    second.write_text(SECOND_ENV_FILE)
    app = flavor.prints_environment(
        "app",
        environmentFiles=[
            {"value": str(first), "type": "s3"},
            {"value": second.as_uri(), "type": "s3"},
        ],
        secrets=[
            {
                "name": "PYECS_CONTRACT_SECRET",
                "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/contract",
            }
        ],
        environment=[{"name": "OVERRIDDEN", "value": "from the environment"}],
    )
    async with cluster_for(flavor) as cluster:
        task = await run_one(cluster, td(app))
        await cluster.wait_tasks_running([task.arn], timeout=30)
        lines: list[str] = []
        with anyio.fail_after(10):
            while ENV_PRINTED not in lines:
                lines = [line async for line in cluster.task_logs(task.arn, "app")]
                await anyio.sleep(0.05)
    printed = lines[: lines.index(ENV_PRINTED)]
    env = dict(line.split("=", 1) for line in printed if "=" in line)
    assert {name: env.get(name) for name in EXPECTED_ENVIRONMENT} == EXPECTED_ENVIRONMENT
    assert "PYECS_CONTRACT_BARE" not in env
    assert "EMPTY" not in env


async def test_ports_are_reported(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        app = flavor.forever(
            "app", portMappings=[{"containerPort": 8080}, {"containerPort": 9090, "hostPort": 0}]
        )
        task = await run_one(cluster, td(app))
        (running,) = await cluster.wait_tasks_running([task.arn], timeout=30)
    bindings = {b.container_port: b for b in running.container("app").network_bindings}
    assert set(bindings) == {8080, 9090}
    assert all(b.host_port > 0 and b.bind_ip == "127.0.0.1" for b in bindings.values())
    assert running.endpoint("app", 8080) == f"127.0.0.1:{bindings[8080].host_port}"


async def test_task_states_follow_the_ecs_life_cycle(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        snaps = await history(cluster, td(flavor.exits("app", 0, after=0.3)), "STOPPED")
    statuses = [s.last_status for s in snaps]
    order = [
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    ]
    positions = [statuses.index(s) for s in order]
    assert positions == sorted(positions)
    assert [s.version for s in snaps] == sorted(s.version for s in snaps)


async def test_leaving_the_cluster_removes_everything(flavor: Flavor) -> None:
    async with cluster_for(flavor) as cluster:
        await cluster.register_task_definition(td(flavor.forever("a"), flavor.forever("b")))
        result = await cluster.run_task("contract", count=2)
        await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=60)
    # cluster_for asserts the backend is clean
    assert all(
        t.last_status == "STOPPED"
        for t in cluster.describe_tasks([t.arn for t in result.tasks]).tasks
    )
