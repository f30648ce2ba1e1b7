"""run_task, stop_task, describe_tasks and list_tasks on the simulated backend."""

from __future__ import annotations

import pytest

import pyecs
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.exceptions import BackendError, InvalidParameterError, PyecsError, TaskNotFoundError

pytestmark = pytest.mark.anyio


def web(memory: int = 256, host_port: int | None = None) -> dict[str, object]:
    pm: dict[str, object] = {"containerPort": 80}
    if host_port is not None:
        pm["hostPort"] = host_port
    return {
        "family": "web-app",
        "containerDefinitions": [
            {"name": "nginx", "image": "nginx:latest", "memory": memory, "portMappings": [pm]}
        ],
    }


async def test_run_task_reaches_running_with_ecs_fields() -> None:
    async with pyecs.Cluster("production", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(web())
        result = await cluster.run_task("web-app", count=2, started_by="me")
        assert result.failures == ()
        tasks = await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=5)
    for t in tasks:
        assert t.last_status == "RUNNING" and t.desired_status == "RUNNING"
        assert t.group == "family:web-app" and t.started_by == "me"
        assert t.arn == f"arn:aws:ecs:local:000000000000:task/production/{t.id}"
        assert len(t.id) == 32 and t.started_at is not None and t.version > 1
        assert t.memory == 256
        assert t.host_port("nginx", 80) >= 32768


async def test_stop_task_gives_user_initiated_and_reason() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web())
        (task,) = (await cluster.run_task("web-app")).tasks
        await cluster.wait_tasks_running([task.arn], timeout=5)
        await cluster.stop_task(task.arn)
        (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=5)
        assert (stopped.stop_code, stopped.stopped_reason) == (
            "UserInitiated",
            "Task stopped by user",
        )
        assert stopped.stopped_at is not None and stopped.execution_stopped_at is not None
        assert cluster.list_tasks() == []
        assert cluster.list_tasks(desired_status="STOPPED") == [task.arn]
        (t2,) = (await cluster.run_task("web-app")).tasks
        await cluster.stop_task(t2.id, reason="done")
        (s2,) = await cluster.wait_tasks_stopped([t2.arn], timeout=5)
        assert s2.stopped_reason == "done"


async def test_essential_exit_stops_the_task_with_its_exit_code() -> None:
    backend = SimulatedBackend(1, behaviors={"nginx:latest": Behavior(exit_code=3, exit_after=0.1)})
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.register_task_definition(web())
        (task,) = (await cluster.run_task("web-app")).tasks
        (stopped,) = await cluster.wait_tasks_stopped([task.arn], timeout=5)
    assert stopped.stop_code == "EssentialContainerExited"
    assert stopped.stopped_reason == "Essential container in task exited"
    assert stopped.container("nginx").exit_code == 3


async def test_unplaceable_copies_come_back_as_failures_with_ecs_reasons() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web(memory=3000))
        result = await cluster.run_task("web-app", count=2)
        assert len(result.tasks) == 1
        (failure,) = result.failures
        assert failure.reason == "RESOURCE:MEMORY"
        assert failure.arn is not None and "container-instance/c/" in failure.arn
        assert "MiB" in failure.detail


async def test_static_port_is_a_per_instance_resource() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(web(host_port=8080))
        result = await cluster.run_task("web-app", count=3)
    assert len(result.tasks) == 2
    assert {t.container_instance_id for t in result.tasks} == {
        "i-00000000000000000",
        "i-00000000000000001",
    }
    assert [f.reason for f in result.failures] == ["RESOURCE:PORTS"]


async def test_distinct_instance_and_member_of() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(3, zones=3)) as cluster:
        await cluster.register_task_definition(web())
        result = await cluster.run_task(
            "web-app",
            count=2,
            placement_constraints=[
                pyecs.DistinctInstance(),
                {"type": "memberOf", "expression": "attribute:ecs.availability-zone != us-east-1a"},
            ],
        )
        zones = {
            cluster.describe_container_instance(t.container_instance_id).attributes[
                "ecs.availability-zone"
            ]
            for t in result.tasks
        }
    assert zones == {"us-east-1b", "us-east-1c"}


async def test_describe_reports_missing_as_failures() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web())
        (task,) = (await cluster.run_task("web-app")).tasks
        result = cluster.describe_tasks([task.arn, "nope"])
        assert [t.arn for t in result.tasks] == [task.arn]
        assert [(f.arn, f.reason) for f in result.failures] == [("nope", "MISSING")]
        with pytest.raises(TaskNotFoundError):
            await cluster.stop_task("nope")


async def test_list_tasks_filters() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(web())
        other = web()
        other["family"] = "worker"
        await cluster.register_task_definition(other)
        (a,) = (await cluster.run_task("web-app", started_by="x")).tasks
        (b,) = (await cluster.run_task("worker")).tasks
        assert cluster.list_tasks(family="web-app") == [a.arn]
        assert cluster.list_tasks(started_by="x") == [a.arn]
        assert set(cluster.list_tasks(container_instance=b.container_instance_id)) >= {b.arn}


async def test_overrides_change_command_environment_and_memory() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web())
        (task,) = (
            await cluster.run_task(
                "web-app",
                overrides={"containerOverrides": [{"name": "nginx", "memory": 512}]},
            )
        ).tasks
        assert task.memory == 512
        with pytest.raises(InvalidParameterError, match="not a container"):
            await cluster.run_task("web-app", overrides={"containerOverrides": [{"name": "x"}]})


async def test_inactive_definition_cannot_run_and_bad_counts_are_refused() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web())
        await cluster.deregister_task_definition("web-app:1")
        with pytest.raises(pyecs.TaskDefinitionNotFoundError, match="INACTIVE"):
            await cluster.run_task("web-app:1")
        await cluster.register_task_definition(web())
        for count in (0, -1, 1001, True):
            with pytest.raises(InvalidParameterError, match="count"):
                await cluster.run_task("web-app", count=count)


async def test_no_backend_is_a_clear_error() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(web())
        with pytest.raises(BackendError, match="backend="):
            await cluster.run_task("web-app")


async def test_leaving_the_cluster_stops_every_task() -> None:
    backend = SimulatedBackend(1)
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.register_task_definition(web())
        result = await cluster.run_task("web-app", count=3)
        await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=5)
        assert len(backend.running) == 3
    assert backend.running == []
    stopped = cluster.describe_tasks([t.arn for t in result.tasks]).tasks
    assert {(t.last_status, t.stopped_reason) for t in stopped} == {("STOPPED", "Cluster closed")}


async def test_leaving_on_an_exception_still_stops_tasks() -> None:
    backend = SimulatedBackend(1)
    with pytest.raises(RuntimeError, match="boom"):
        async with pyecs.Cluster("c", backend=backend) as cluster:
            await cluster.register_task_definition(web())
            await cluster.run_task("web-app", count=2)
            raise RuntimeError("boom")
    assert backend.running == []


async def test_events_stream_sees_task_state_changes() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web())
        seen: list[str] = []
        async with cluster.subscribe() as events:
            (task,) = (await cluster.run_task("web-app")).tasks
            async for event in events:
                if isinstance(event, pyecs.TaskStateChange) and event.task.arn == task.arn:
                    seen.append(event.task.last_status)
                    if event.task.last_status == "RUNNING":
                        break
    assert seen[0] in ("PROVISIONING", "PENDING") and seen[-1] == "RUNNING"
    assert seen.index("PENDING") < seen.index("ACTIVATING") < seen.index("RUNNING")


async def test_wait_tasks_running_says_which_task_stopped_before_it_was_running() -> None:
    bad = {
        "family": "bad",
        "containerDefinitions": [{"name": "app", "image": "broken:1", "memory": 64}],
    }
    backend = SimulatedBackend(2, behaviors={"broken:1": Behavior(start_error="no such binary")})
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.register_task_definition(web(memory=64))
        await cluster.register_task_definition(bad)
        good = [t.arn for t in (await cluster.run_task("web-app", count=3)).tasks]
        (failed,) = (await cluster.run_task("bad")).tasks
        await cluster.wait_tasks_stopped([failed.arn], timeout=5)
        with pytest.raises(PyecsError, match=f"task {failed.id} stopped before it was RUNNING"):
            await cluster.wait_tasks_running([*good, failed.arn], timeout=5)
        # The good ones alone are RUNNING; ids and ARNs both name them, in the order given.
        refs = [good[0], good[1].rsplit("/", 1)[1], good[2]]
        tasks = await cluster.wait_tasks_running(refs, timeout=5)
        assert [t.arn for t in tasks] == good
        assert all(t.last_status == "RUNNING" for t in tasks)


async def test_wait_tasks_running_over_many_tasks_waits_for_the_last_one() -> None:
    async with pyecs.Cluster("c", backend=SimulatedBackend(20)) as cluster:
        await cluster.register_task_definition(web(memory=16))
        arns: list[str] = []
        for _ in range(5):
            arns += [t.arn for t in (await cluster.run_task("web-app", count=100)).tasks]
        # Not one has started yet: the starter runs once this test yields.
        assert {t.last_status for t in cluster.describe_tasks(arns).tasks} == {"PROVISIONING"}
        tasks = await cluster.wait_tasks_running(arns, timeout=5)
        assert [t.arn for t in tasks] == arns
        assert {t.last_status for t in tasks} == {"RUNNING"}
        with pytest.raises(TaskNotFoundError):
            await cluster.wait_tasks_running([*arns, "0" * 32], timeout=5)
