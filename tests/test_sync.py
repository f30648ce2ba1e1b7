"""``pyecs.sync``: the blocking facade has the async API's operations, semantics and errors."""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
from typing import Any

import pytest

import pyecs
import pyecs.sync
from pyecs.backends.simulated import Behavior, SimulatedBackend


def job_td(family: str = "job", **container: Any) -> dict[str, Any]:
    """A one-container task definition (ECS JSON)."""
    return {
        "family": family,
        "containerDefinitions": [{"name": "app", "image": "local/app", "memory": 32, **container}],
    }


def test_every_async_operation_has_a_blocking_twin() -> None:
    """A method added to pyecs.Cluster or pyecs.Service without a twin fails this test."""
    for async_cls, sync_cls in (
        (pyecs.Cluster, pyecs.sync.Cluster),
        (pyecs.Service, pyecs.sync.Service),
    ):
        public = {
            name
            for name, _ in inspect.getmembers(async_cls)
            if not name.startswith("_") and name not in ("run", "wake", "on_task", "aclose")
        }
        missing = sorted(n for n in public if not hasattr(sync_cls, n))
        assert not missing, f"{sync_cls.__qualname__} lacks {missing}"


def test_every_blocking_twin_takes_the_async_arguments() -> None:
    for async_cls, sync_cls in (
        (pyecs.Cluster, pyecs.sync.Cluster),
        (pyecs.Service, pyecs.sync.Service),
    ):
        for name, method in inspect.getmembers(async_cls, inspect.isfunction):
            if (name.startswith("_") and name != "__init__") or not hasattr(sync_cls, name):
                continue
            if async_cls is pyecs.Service and name == "__init__":
                continue  # created by the cluster, not by users
            wanted = set(inspect.signature(method).parameters)
            given = set(inspect.signature(getattr(sync_cls, name)).parameters)
            missing = sorted(wanted - given)
            assert not missing, f"{sync_cls.__qualname__}.{name} lacks {missing}"


def test_tasks_run_and_stop_as_with_the_async_api() -> None:
    with pyecs.sync.Cluster("sync-tasks", backend=SimulatedBackend()) as cluster:
        assert cluster.is_open
        td = cluster.register_task_definition(job_td())
        assert (td.family, td.revision) == ("job", 1)
        result = cluster.run_task("job:1", count=2, started_by="me")
        arns = [t.arn for t in result.tasks]
        running = cluster.wait_tasks_running(arns, timeout=10)
        assert [t.last_status for t in running] == ["RUNNING", "RUNNING"]
        assert sorted(cluster.list_tasks(started_by="me")) == sorted(arns)
        stopped = cluster.stop_task(arns[0], reason="enough")
        assert stopped.desired_status == "STOPPED"
        (done,) = cluster.wait_tasks_stopped(arns[:1], timeout=10)
        assert (done.stop_code, done.stopped_reason) == ("UserInitiated", "enough")
        described = cluster.describe_tasks([arns[1], "nope"])
        assert [t.arn for t in described.tasks] == [arns[1]]
        assert described.failures[0].reason == "MISSING"
    assert not cluster.is_open


def test_errors_are_the_async_api_errors() -> None:
    with pyecs.sync.Cluster("sync-errors", backend=SimulatedBackend()) as cluster:
        with pytest.raises(pyecs.InvalidTaskDefinitionError) as invalid:
            cluster.register_task_definition({"family": "bad", "containerDefinitions": []})
        assert invalid.value.problems
        with pytest.raises(pyecs.TaskDefinitionNotFoundError):
            cluster.run_task("missing")
        with pytest.raises(pyecs.InvalidParameterError):
            cluster.run_task("missing", count=0)
        cluster.register_task_definition(job_td())
        (task,) = cluster.run_task("job").tasks
        with pytest.raises(pyecs.TimeoutError, match="not STOPPED"):
            cluster.wait_tasks_stopped([task.arn], timeout=0.05)
        with pytest.raises(pyecs.ServiceNotFoundError):
            cluster.service("nope")
    with pytest.raises(pyecs.InvalidParameterError):
        pyecs.sync.Cluster("no spaces allowed")


def test_outside_with_it_says_how_to_use_it() -> None:
    cluster = pyecs.sync.Cluster("sync-closed")
    with pytest.raises(pyecs.ClusterClosedError, match=r"with pyecs\.sync\.Cluster"):
        cluster.run_task("job")
    with cluster:
        pass
    with pytest.raises(pyecs.ClusterClosedError):
        cluster.list_tasks()
    with pytest.raises(pyecs.ClusterClosedError, match="already"), cluster:
        pass


def test_a_service_is_a_blocking_service() -> None:
    with pyecs.sync.Cluster(
        "sync-svc", backend=SimulatedBackend(), task_healthy_delay=0.05
    ) as cluster:
        cluster.register_task_definition(job_td("web"))
        svc = cluster.create_service("web", task_definition="web", desired_count=2)
        assert isinstance(svc, pyecs.sync.Service)
        assert svc.wait_stable(timeout=10) is svc
        assert (svc.running_count, svc.pending_count, svc.desired_count) == (2, 0, 2)
        assert svc.is_stable()
        assert cluster.service("web") is svc
        assert cluster.describe_services(["web"]).services == (svc,)
        svc.update(desired_count=3).wait_stable(timeout=10)
        assert len(svc.tasks) == 3
        assert any("steady state" in e.message for e in svc.events)
        assert svc.deployments[0].status == "PRIMARY"
        with pytest.raises(pyecs.InvalidParameterError, match="force=True"):
            svc.delete()
        svc.delete(force=True).wait_inactive(timeout=10)
        assert svc.status == "INACTIVE"
        assert cluster.list_services() == []


def test_events_can_be_iterated_and_waited_for() -> None:
    with pyecs.sync.Cluster("sync-events", backend=SimulatedBackend()) as cluster:
        cluster.register_task_definition(job_td())
        with cluster.subscribe() as events:
            with pytest.raises(pyecs.TimeoutError):
                events.get(timeout=0.05)
            (task,) = cluster.run_task("job").tasks
            seen = []
            for event in events:
                assert isinstance(event, pyecs.TaskStateChange)
                seen.append(event.task.last_status)
                if event.task.last_status == "RUNNING":
                    break
        assert seen[-1] == "RUNNING"
        assert task.arn in cluster.list_tasks()


def test_task_logs_come_through() -> None:
    backend = SimulatedBackend(default=Behavior(logs=("one", "two")))
    with pyecs.sync.Cluster("sync-logs", backend=backend) as cluster:
        cluster.register_task_definition(job_td())
        (task,) = cluster.run_task("job").tasks
        cluster.wait_tasks_running([task.arn], timeout=10)
        assert list(cluster.task_logs(task.arn, "app")) == ["one", "two"]
        with pytest.raises(KeyError):
            cluster.task_logs(task.arn, "nope")


@pytest.mark.skipif(sys.platform != "linux", reason="the process backend is tested on Linux")
def test_following_logs_of_a_real_process_and_leaving_stops_it() -> None:
    from pyecs.backends.process import ProcessBackend

    command = ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.05; done"]
    with pyecs.sync.Cluster("sync-proc", backend=ProcessBackend()) as cluster:
        cluster.register_task_definition(job_td(command=command))
        (task,) = cluster.run_task("job").tasks
        (task,) = cluster.wait_tasks_running([task.arn], timeout=10)
        lines = list(cluster.task_logs(task.arn, "app", follow=True))
        assert lines == ["line 1", "line 2", "line 3"]
        sleeper = cluster.register_task_definition(job_td("sleeper", command=["sleep", "60"]))
        (long,) = cluster.run_task(sleeper.ref).tasks
        (long,) = cluster.wait_tasks_running([long.arn], timeout=10)
        backend = cluster.backend
        assert isinstance(backend, ProcessBackend)
        runtime_id = long.containers[0].runtime_id
        assert runtime_id is not None
        pid = cluster.portal.call(backend.pid, runtime_id)
        assert pid is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.02)
    assert not os.path.exists(f"/proc/{pid}"), "leaving the block must stop the task"


def test_an_exception_in_the_block_propagates_and_cleans_up() -> None:
    backend = SimulatedBackend()
    with (
        pytest.raises(RuntimeError, match="boom"),
        pyecs.sync.Cluster("sync-raise", backend=backend) as cluster,
    ):
        cluster.register_task_definition(job_td())
        cluster.run_task("job", count=3)
        raise RuntimeError("boom")
    assert backend.running == []
    assert not any(t.name.startswith("pyecs-sync-raise") for t in threading.enumerate())


def test_it_runs_on_trio_too() -> None:
    with pyecs.sync.Cluster(
        "sync-trio", backend=SimulatedBackend(), async_backend="trio"
    ) as cluster:
        cluster.register_task_definition(job_td())
        (task,) = cluster.run_task("job").tasks
        cluster.wait_tasks_running([task.arn], timeout=10)
        assert cluster.portal.call(_current_library) == "trio"


def _current_library() -> str:
    import sniffio

    return sniffio.current_async_library()
