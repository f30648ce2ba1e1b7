"""The start and stop done at once (SimulatedBackend's fast path) are the step-by-step ones.

With an event subscriber, the same snapshots are published in the same order; without
one, the tasks end in the same state with the same versions, and placement counts them
the same way.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import attrs
import pytest
import trio.testing

import pyecs
from pyecs.abc import ContainerExit, ContainerUsage, StartedContainer, TaskLaunch
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.models.task import Container, NetworkBinding, Task
from pyecs.runtime._events import TaskStateChange
from pyecs.runtime._task_parts import evolve_container, evolve_task
from pyecs.runtime._task_runner import _EXITED, _STARTED

pytestmark = pytest.mark.anyio

TD = {
    "family": "web",
    "containerDefinitions": [
        {"name": "app", "image": "busybox", "memory": 64, "essential": True},
        {"name": "side", "image": "busybox", "memory": 32, "essential": False},
    ],
}
T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


class StepByStep(SimulatedBackend):
    """The simulated backend without its fast path: every step is its own call."""

    def start_tasks_at_once(
        self, tasks: Sequence[TaskLaunch], on_exit: Callable[[str], None]
    ) -> Sequence[Sequence[tuple[str, StartedContainer]] | None] | None:
        return None

    def stop_task_at_once(
        self, task: TaskLaunch, runtime_ids: Sequence[str]
    ) -> Sequence[ContainerExit] | None:
        return None


def shape(task: Task) -> tuple[Any, ...]:
    """What a snapshot says, without what differs by nature (ids, ARNs, times)."""
    return (
        task.version,
        task.last_status,
        task.desired_status,
        task.stop_code,
        task.stopped_reason,
        task.health_status,
        task.started_at is not None,
        task.stopped_at is not None,
        tuple(
            (c.name, c.last_status, c.exit_code, c.runtime_id is not None) for c in task.containers
        ),
    )


async def life(backend: SimulatedBackend, *, observe: bool) -> tuple[list[Any], list[Task]]:
    """Start 3 copies, wait until RUNNING, stop them; the published shapes and the ends."""
    seen: list[Any] = []
    all_stopped = anyio.Event()
    async with pyecs.Cluster("c", backend=backend, clock=lambda: T0) as cluster:
        await cluster.register_task_definition(TD)
        async with anyio.create_task_group() as tg:
            if observe:
                ready = anyio.Event()

                async def record() -> None:
                    async with cluster.subscribe() as events:
                        ready.set()
                        async for event in events:
                            if isinstance(event, TaskStateChange):
                                seen.append((event.task.arn, shape(event.task)))
                                if sum(s[1][1] == "STOPPED" for s in seen) == 3:
                                    all_stopped.set()

                tg.start_soon(record)
                await ready.wait()
            result = await cluster.run_task("web", count=3)
            arns = [t.arn for t in result.tasks]
            assert all(t.last_status == "PROVISIONING" for t in result.tasks)
            running = await cluster.wait_tasks_running(arns, timeout=10)
            for arn in arns:
                await cluster.stop_task(arn, reason="done")
            stopped = await cluster.wait_tasks_stopped(arns, timeout=10)
            instances = cluster.list_container_instances()
            assert sum(i.running_tasks_count + i.pending_tasks_count for i in instances) == 0
            if observe:
                await all_stopped.wait()
            tg.cancel_scope.cancel()
    ends = [*running, *stopped]
    by_task: dict[str, list[Any]] = {}
    for arn, s in seen:
        by_task.setdefault(arn, []).append(s)
    return [by_task[k] for k in sorted(by_task)], ends


async def test_observed_snapshots_are_those_of_the_step_by_step_life() -> None:
    fast, fast_ends = await life(SimulatedBackend(2), observe=True)
    slow, slow_ends = await life(StepByStep(2), observe=True)
    assert len(fast) == 3
    assert fast == slow
    assert [shape(t) for t in fast_ends] == [shape(t) for t in slow_ends]
    statuses = [s[1] for s in fast[0]]
    assert statuses[0] == "PROVISIONING" and statuses[-1] == "STOPPED"
    assert "ACTIVATING" in statuses and "DEACTIVATING" in statuses


async def test_unobserved_tasks_end_in_the_same_state_with_the_same_versions() -> None:
    _, fast_ends = await life(SimulatedBackend(2), observe=False)
    _, slow_ends = await life(StepByStep(2), observe=False)
    assert [shape(t) for t in fast_ends] == [shape(t) for t in slow_ends]
    running, stopped = fast_ends[:3], fast_ends[3:]
    assert {t.last_status for t in running} == {"RUNNING"}
    assert {(t.stop_code, t.stopped_reason) for t in stopped} == {("UserInitiated", "done")}


def test_the_fast_evolves_are_attrs_evolve() -> None:
    """The copies slot to slot must be what attrs makes."""
    task = Task("arn", "id", "cluster", "td", "i-1", "i-arn", "family:web", started_by="me")
    changes: dict[str, Any] = {"version": 4, "last_status": "RUNNING", "tags": (("k", "v"),)}
    assert evolve_task(task, **changes) == attrs.evolve(task, **changes)
    assert evolve_task(task, cpu=3) == attrs.evolve(task, cpu=3)
    container = Container("app", "busybox", health_status="HEALTHY", has_health_check=True)
    binding = (NetworkBinding("127.0.0.1", 80, 32768, "tcp"),)
    started = _STARTED(container, "RUNNING", "sim-1", binding)
    assert started == attrs.evolve(
        container, last_status="RUNNING", runtime_id="sim-1", network_bindings=binding
    )
    assert _EXITED(started, "STOPPED", 3, "why") == attrs.evolve(
        started, last_status="STOPPED", exit_code=3, reason="why"
    )
    assert evolve_container(container, reason="r") == attrs.evolve(container, reason="r")


# -- tasks started at once keep no runner while they run: what comes back must be the same --


async def kill_one_and_end(backend: SimulatedBackend) -> Task:
    """Start 3 copies, kill the first one's essential container from outside, and return
    that task's STOPPED snapshot (its runner is made again, or was never let go)."""
    async with pyecs.Cluster("c", backend=backend, clock=lambda: T0) as cluster:
        await cluster.register_task_definition(TD)
        result = await cluster.run_task("web", count=3)
        arns = [t.arn for t in result.tasks]
        running = await cluster.wait_tasks_running(arns, timeout=10)
        app = next(c for c in running[0].containers if c.name == "app")
        assert app.runtime_id is not None
        backend.kill(app.runtime_id, 137)
        [stopped] = await cluster.wait_tasks_stopped(arns[:1], timeout=10)
        others = cluster.describe_tasks(arns[1:]).tasks
        assert {t.last_status for t in others} == {"RUNNING"}
        return stopped


async def test_a_container_that_exits_by_itself_ends_its_task_as_step_by_step() -> None:
    fast = await kill_one_and_end(SimulatedBackend(2))
    slow = await kill_one_and_end(StepByStep(2))
    assert shape(fast) == shape(slow)
    assert fast.stop_code == "EssentialContainerExited"
    assert [c.exit_code for c in fast.containers if c.name == "app"] == [137]


RESTARTING = {
    "family": "restarting",
    "containerDefinitions": [
        {
            "name": "app",
            "image": "busybox",
            "memory": 64,
            "essential": True,
            "restartPolicy": {"enabled": True, "restartAttemptPeriod": 60},
        }
    ],
}


@pytest.mark.parametrize(
    "anyio_backend", [("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})]
)
@pytest.mark.parametrize(("ran_for", "restarted"), [(61.0, True), (10.0, False)])
async def test_the_restart_policy_counts_from_the_start_done_at_once(
    ran_for: float, restarted: bool
) -> None:
    """The time a container ran is counted from its start, also when the runner of its
    task was let go while it ran and is made again at the exit."""
    backend = SimulatedBackend(1)
    async with pyecs.Cluster("c", backend=backend) as cluster:
        await cluster.register_task_definition(RESTARTING)
        [task] = (await cluster.run_task("restarting")).tasks
        [task] = await cluster.wait_tasks_running([task.arn], timeout=10)
        first = task.containers[0].runtime_id
        assert first is not None
        await anyio.sleep(ran_for)
        backend.kill(first, 1)
        await anyio.sleep(1)
        [now] = cluster.describe_tasks([task.arn]).tasks
        if restarted:
            assert now.last_status == "RUNNING"
            assert now.containers[0].runtime_id not in (None, first)
        else:
            assert now.last_status == "STOPPED"
            assert now.stop_code == "EssentialContainerExited"


class RaisingFastPath(SimulatedBackend):
    """A fast path with a defect: it raises."""

    def start_tasks_at_once(
        self, tasks: Sequence[TaskLaunch], on_exit: Callable[[str], None]
    ) -> Sequence[Sequence[tuple[str, StartedContainer]] | None] | None:
        raise RuntimeError("a defect of the fast path")


class MiscountingFastPath(SimulatedBackend):
    """A fast path with a defect: it answers for one task fewer than it was given (and
    starts nothing, so that the tasks can only run step by step)."""

    def start_tasks_at_once(
        self, tasks: Sequence[TaskLaunch], on_exit: Callable[[str], None]
    ) -> Sequence[Sequence[tuple[str, StartedContainer]] | None] | None:
        return [None] * (len(tasks) - 1)


@pytest.mark.parametrize("backend_type", [RaisingFastPath, MiscountingFastPath])
async def test_a_broken_fast_path_sends_its_tasks_step_by_step(
    backend_type: type[SimulatedBackend], caplog: pytest.LogCaptureFixture
) -> None:
    async with pyecs.Cluster("c", backend=backend_type(2)) as cluster:
        await cluster.register_task_definition(TD)
        arns = [t.arn for t in (await cluster.run_task("web", count=3)).tasks]
        running = await cluster.wait_tasks_running(arns, timeout=10)
        assert {t.last_status for t in running} == {"RUNNING"}
        # The cluster still takes tasks: the starter survived the defect.
        more = [t.arn for t in (await cluster.run_task("web", count=2)).tasks]
        await cluster.wait_tasks_running(more, timeout=10)
    assert "start_tasks_at_once" in caplog.text


async def stop_before_start(backend: SimulatedBackend) -> list[Task]:
    """Run 3 copies and stop the first at once, before the starter took it."""
    async with pyecs.Cluster("c", backend=backend, clock=lambda: T0) as cluster:
        await cluster.register_task_definition(TD)
        arns = [t.arn for t in (await cluster.run_task("web", count=3)).tasks]
        await cluster.stop_task(arns[0], reason="changed my mind")
        [stopped] = await cluster.wait_tasks_stopped(arns[:1], timeout=10)
        running = await cluster.wait_tasks_running(arns[1:], timeout=10)
        return [stopped, *running]


async def test_a_task_stopped_before_its_start_ends_as_step_by_step() -> None:
    fast = await stop_before_start(SimulatedBackend(2))
    slow = await stop_before_start(StepByStep(2))
    assert [shape(t) for t in fast] == [shape(t) for t in slow]
    assert fast[0].stopped_reason == "changed my mind"
    assert all(c.runtime_id is None for c in fast[0].containers)


def test_positional_constructors_make_what_the_classes_make() -> None:
    from pyecs.abc import TaskLaunch
    from pyecs.models._construct import positional_constructor
    from pyecs.models.task_definition import TaskDefinition

    td = TaskDefinition.from_dict(TD)
    cases: list[tuple[type[Any], tuple[Any, ...]]] = [
        (Task, tuple(attrs.astuple(Task("a", "b", "c", "d", "e", "f", "g"), recurse=False))),
        (Container, ("app", "busybox", True, "RUNNING", 0, "r", "HEALTHY", "sim-1", (), True)),
        (TaskLaunch, ("arn", "id", "i-1", td, (("k", "v"),), "FARGATE", ("sg-1",))),
    ]
    for cls, values in cases:
        make = positional_constructor(cls)
        assert make is not cls
        made = make(*values)
        assert type(made) is cls
        assert made == cls(*values)
        assert hash(made) == hash(cls(*values))
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            made.x = 1

    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen(cache_hash=True)
    class Cached:
        n: int

    # A validator, or a slot that is not a field: the class itself, not a shortcut.
    assert positional_constructor(Checked) is Checked
    assert positional_constructor(Cached) is Cached


def test_field_changers_are_attrs_evolve() -> None:
    from pyecs.models._construct import field_changer

    task = Task("arn", "id", "cluster", "td", "i-1", "i-arn", "family:web", started_by="me")
    change = field_changer(Task, ["last_status", "version"])
    changed = change(task, "RUNNING", 7)
    assert type(changed) is Task
    assert changed == attrs.evolve(task, last_status="RUNNING", version=7)
    assert hash(changed) == hash(attrs.evolve(task, last_status="RUNNING", version=7))
    assert task.last_status == "PROVISIONING" and task.version == 1  # the original stays
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        changed.version = 8  # type: ignore[misc]
    # Names that are not distinct fields are refused when the changer is made.
    for names in (["nope"], ["version", "version"]):
        with pytest.raises(ValueError, match="not distinct fields of Task"):
            field_changer(Task, names)

    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))
        m: int = 0

    # A class whose __init__ must run (a validator) gets attrs.evolve, validator and all.
    checked = field_changer(Checked, ["n"])
    assert checked(Checked(1, 2), 5) == Checked(5, 2)
    with pytest.raises(TypeError):
        checked(Checked(1, 2), "five")


# -- the simulated backend keeps no object for a plain container started at once ----------

LOADED = {
    "family": "loaded",
    "containerDefinitions": [
        {"name": "app", "image": "busybox", "memory": 64, "essential": True, "stopTimeout": 7},
        {"name": "side", "image": "busybox", "memory": 32, "essential": False},
    ],
}


async def views_of_running_containers(backend: SimulatedBackend) -> dict[str, Any]:
    """What the backend's test hooks show of containers started (at once or not), by
    task index and container name, under a mock clock."""
    backend.set_behavior("busybox", Behavior(cpu=512, memory=100))
    backend.set_behavior("app", Behavior(cpu=256, memory=50, ignore_sigterm=True))
    async with pyecs.Cluster("c", backend=backend, clock=lambda: T0) as cluster:
        await cluster.register_task_definition(LOADED)
        arns = [t.arn for t in (await cluster.run_task("loaded", count=2)).tasks]
        running = await cluster.wait_tasks_running(arns, timeout=10)
        names = {c.runtime_id: f"{i}/{c.name}" for i, t in enumerate(running) for c in t.containers}
        rids = [rid for rid in names if rid is not None]
        assert len(rids) == 4
        views: dict[str, Any] = {"running": sorted(names[r] for r in backend.running)}
        await anyio.sleep(4)
        views["usage"] = {names[r]: u for r, u in (await backend.usage(rids)).items()}
        # "app" ignores SIGTERM: its stop waits out its stopTimeout, then exits 137.
        start = anyio.current_time()
        await cluster.stop_task(arns[0], reason="done")
        [stopped] = await cluster.wait_tasks_stopped(arns[:1], timeout=60)
        views["stop took"] = anyio.current_time() - start
        views["stopped"] = shape(stopped)
        views["running after"] = sorted(names[r] for r in backend.running)
        views["set_load"] = backend.set_load("side", cpu=2048)
        await anyio.sleep(2)
        views["usage after"] = {names[r]: u for r, u in (await backend.usage(rids)).items()}
        views["environment"] = [dict(backend.environment(r)) for r in rids[2:]]
    return views


@pytest.mark.parametrize(
    "anyio_backend", [("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})]
)
async def test_containers_started_at_once_look_the_same_to_the_test_hooks() -> None:
    fast = await views_of_running_containers(SimulatedBackend(2))
    slow = await views_of_running_containers(StepByStep(2))
    assert fast == slow
    assert fast["running"] == ["0/app", "0/side", "1/app", "1/side"]
    assert fast["usage"]["0/side"] == ContainerUsage(2.0, 100)  # 4 s at half a vCPU
    assert fast["set_load"] == 1
    # 4 s at half a vCPU, the 7 s of the stop, then 2 s at 2 vCPUs.
    assert fast["usage after"] == {
        "1/app": ContainerUsage(13 * 0.25, 50),
        "1/side": ContainerUsage(11 * 0.5 + 4, 100),
    }
    assert fast["stop took"] == pytest.approx(7.0)
    assert [(c[0], c[2]) for c in fast["stopped"][-1]] == [("app", 137), ("side", 0)]
    assert fast["running after"] == ["1/app", "1/side"]


async def test_a_queued_task_taken_up_during_its_batch_still_starts() -> None:
    """A task watcher that asks for the runner of a task later in the same start batch
    (which makes the runner from the queue) must not break the starter."""
    async with pyecs.Cluster("c", backend=SimulatedBackend(2)) as cluster:
        await cluster.register_task_definition(TD)
        arns = [t.arn for t in (await cluster.run_task("web", count=3)).tasks]
        manager = cluster._tasks  # the runtime's own hook

        def take_up_the_last(task: Task) -> None:
            if task.arn == arns[0] and task.last_status == "RUNNING":
                assert manager.runner(arns[2]) is not None

        manager.watch(take_up_the_last)
        running = await cluster.wait_tasks_running(arns, timeout=10)
        assert [t.last_status for t in running] == ["RUNNING"] * 3
        more = [t.arn for t in (await cluster.run_task("web", count=2)).tasks]
        await cluster.wait_tasks_running(more, timeout=10)  # the starter is still there
