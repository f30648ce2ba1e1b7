"""One task's failure stays with that task: whatever a backend step raises or however long
it hangs, the task stops with a reason and every other task keeps running.

The backend here is a :class:`FaultyBackend` around the simulated one, failing one step for
the ``bad`` family only; under trio's MockClock the bounded waits on hung steps pass at once.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import trio.testing
from fault_support import STEPS, FaultyBackend, InjectedFault, Mode, Step, td

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.exceptions import BackendError


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


#: Steps that fail before the task runs: the task stops by itself, TaskFailedToStart.
FAIL_TO_START: tuple[Step, ...] = ("setup_task", "create_container", "start_container")
#: Steps of a running task that fail: it stops by itself, EssentialContainerExited.
FAIL_WHILE_RUNNING: tuple[Step, ...] = ("wait_container", "health")
#: Steps of stopping: the task was stopped by the user, and still reaches STOPPED.
FAIL_WHILE_STOPPING: tuple[Step, ...] = ("stop_container", "remove_container", "teardown_task")

CASES = [(step, mode) for step in STEPS if step != "logs" for mode in ("raise", "hang")]


@pytest.mark.anyio
@pytest.mark.parametrize(("step", "mode"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
async def test_a_failing_backend_step_stops_only_its_task(step: Step, mode: Mode) -> None:
    backend = FaultyBackend(SimulatedBackend(2), family="bad", step=step, mode=mode)
    with anyio.fail_after(3600):  # virtual time: every bound in the runner is far below it
        async with pyecs.Cluster("prod", backend=backend, task_healthy_delay=0) as cluster:
            await cluster.register_task_definition(td("web"))
            await cluster.register_task_definition(td("bad", health=step == "health"))
            web = await cluster.create_service("web", task_definition="web", desired_count=3)
            await web.wait_stable(timeout=60)
            web_tasks = sorted(t.arn for t in web.tasks)

            [bad] = (await cluster.run_task("bad")).tasks
            stops_by_itself = mode == "raise" and (
                step in FAIL_TO_START or step in FAIL_WHILE_RUNNING
            )
            if step in FAIL_WHILE_STOPPING:
                await cluster.wait_tasks_running([bad.arn], timeout=60)
            if not stops_by_itself:
                await anyio.sleep(5)  # a hang: nothing happens by itself
                assert cluster.describe_task(bad.arn).last_status != "STOPPED"
                await cluster.stop_task(bad.arn, reason="test stops it")
            [stopped] = await cluster.wait_tasks_stopped([bad.arn], timeout=600)

            # The other service never noticed.
            assert sorted(t.arn for t in web.tasks) == web_tasks
            assert all(t.last_status == "RUNNING" for t in web.tasks)
            assert web.is_stable()
            assert not [e for e in web.events if "could not reconcile" in e.message]

            assert stopped.last_status == "STOPPED"
            assert all(c.last_status == "STOPPED" for c in stopped.containers)
            if stops_by_itself:
                # ECS's code says whether the task had reached RUNNING.
                ran = stopped.started_at is not None
                if step in FAIL_TO_START:
                    assert not ran
                assert stopped.stop_code == (
                    "EssentialContainerExited" if ran else "TaskFailedToStart"
                )
                assert step in (stopped.stopped_reason or "")
                assert InjectedFault.__name__ in (stopped.stopped_reason or "")
            else:
                assert stopped.stop_code == "UserInitiated"
                assert stopped.stopped_reason == "test stops it"
            if step in ("stop_container", "remove_container"):
                [container] = stopped.containers
                assert step in (container.reason or "")
            if step == "stop_container":
                # A stop that failed does not keep the container from being removed.
                [runtime_id] = [c.runtime_id for c in stopped.containers]
                assert ("remove_container", runtime_id) in backend.calls
            if step == "remove_container":
                assert ("teardown_task", bad.arn) in backend.calls

            # The cluster still works: a new task of the healthy family starts.
            [again] = (await cluster.run_task("web")).tasks
            await cluster.wait_tasks_running([again.arn], timeout=60)


@pytest.mark.anyio
async def test_a_failing_log_reader_is_a_backend_error_for_the_caller_only() -> None:
    backend = FaultyBackend(SimulatedBackend(1), family="bad", step="logs", mode="raise")
    async with pyecs.Cluster("prod", backend=backend) as cluster:
        await cluster.register_task_definition(td("bad"))
        [bad] = (await cluster.run_task("bad")).tasks
        await cluster.wait_tasks_running([bad.arn], timeout=60)
        with pytest.raises(BackendError, match=r"could not read the output.*InjectedFault"):
            _ = [line async for line in cluster.task_logs(bad.arn, "main")]
        assert cluster.describe_task(bad.arn).last_status == "RUNNING"


@pytest.mark.anyio
async def test_a_failing_service_task_is_replaced_and_the_cluster_lives_on() -> None:
    """A service whose every task fails at create keeps trying (throttled, as ECS does)
    while a healthy service beside it keeps its tasks."""
    backend = FaultyBackend(
        SimulatedBackend(2), family="bad", step="create_container", mode="raise"
    )
    async with pyecs.Cluster("prod", backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(td("web"))
        await cluster.register_task_definition(td("bad"))
        web = await cluster.create_service("web", task_definition="web", desired_count=2)
        await web.wait_stable(timeout=60)
        web_tasks = sorted(t.arn for t in web.tasks)
        bad = await cluster.create_service("bad", task_definition="bad", desired_count=1)
        await anyio.sleep(600)
        messages = [e.message for e in bad.events]
        assert "(service bad) is unable to consistently start tasks successfully." in messages
        stopped = cluster.list_tasks(service_name="bad", desired_status="STOPPED")
        assert stopped, "the failing tasks are visible as STOPPED"
        reasons = {cluster.describe_task(a).stopped_reason for a in stopped}
        assert all("CannotCreateContainerError" in (r or "") for r in reasons)
        # Throttled: far fewer attempts than one per reconcile pass over ten minutes.
        assert len(stopped) < 20
        assert sorted(t.arn for t in web.tasks) == web_tasks
