"""A service whose tasks start and then exit: backoff, bounded memory, pruned history.

Under trio's MockClock, ten simulated minutes of crash loop pass in about a second.
"""

from __future__ import annotations

import datetime
import gc
import tracemalloc
from typing import Any

import anyio
import pytest
import trio.testing
from fault_support import td

import pyecs
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.exceptions import InvalidParameterError, TaskNotFoundError

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


def mock_clock() -> datetime.datetime:
    """The cluster's wall clock, moving with the event loop's (mock) clock."""
    return EPOCH + datetime.timedelta(seconds=anyio.current_time())


def crashing(after: float = 0.5) -> SimulatedBackend:
    """Containers of image ``crash:1`` exit with 1 ``after`` seconds after they start."""
    return SimulatedBackend(2, behaviors={"crash:1": Behavior(exit_code=1, exit_after=after)})


def started_tasks(svc: pyecs.Service) -> int:
    """How many tasks the service started, from its own events."""
    total = 0
    for e in svc.events:
        if " has started " in e.message:
            total += int(e.message.split(" has started ")[1].split()[0])
    return total


@pytest.mark.anyio
async def test_tasks_that_keep_exiting_soon_are_restarted_with_a_growing_delay() -> None:
    async with pyecs.Cluster("prod", backend=crashing(), clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("crash", image="crash:1"))
        svc = await cluster.create_service("crash", task_definition="crash", desired_count=1)
        await anyio.sleep(600)
        messages = [e.message for e in reversed(svc.events)]
        backoff = [m for m in messages if "restart backoff" in m]
        # 1 s doubling to the 60 s cap: 1, 2, 4, 8, 16, 32, 60, said once per new delay.
        assert [m.split("waiting ")[1].split(" s")[0] for m in backoff] == [
            "1",
            "2",
            "4",
            "8",
            "16",
            "32",
            "60",
        ]
        assert backoff[0] == (
            "(service crash) tasks keep exiting soon after they start (3 in a row within "
            "30 s): waiting 1 s before replacing each (restart backoff)."
        )
        # Without a backoff, a 0.5 s crash loop restarts about 1,200 times in 10 minutes.
        launched = len(cluster.list_tasks(service_name="crash", desired_status="STOPPED"))
        assert 10 <= launched <= 20


@pytest.mark.anyio
async def test_a_task_that_runs_long_enough_ends_the_backoff() -> None:
    backend = crashing(after=0.5)
    async with pyecs.Cluster("prod", backend=backend, clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("crash", image="crash:1"))
        svc = await cluster.create_service("crash", task_definition="crash", desired_count=1)
        await anyio.sleep(120)
        assert any("waiting 32 s" in e.message for e in svc.events)
        # The fault goes away: the next task runs 40 s (past reset_after, 30 s), then exits.
        backend.set_behavior("crash:1", Behavior(exit_code=1, exit_after=40))
        await anyio.sleep(300)
        backend.set_behavior("crash:1", Behavior(exit_code=1, exit_after=0.5))
        before = started_tasks(svc)
        await anyio.sleep(50)  # the last 40 s task ends, then the quick exits begin again
        # The streak starts over at 1 s (1, 2, 4, 8, 16...): several tasks start within
        # 50 s, where a streak still at its 60 s cap would have started at most one.
        assert started_tasks(svc) - before >= 4


@pytest.mark.anyio
async def test_the_backoff_can_be_tuned_or_turned_off_per_service() -> None:
    async with pyecs.Cluster("prod", backend=crashing(), clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("crash", image="crash:1"))
        fast = await cluster.create_service(
            "fast",
            task_definition="crash",
            restart_backoff=pyecs.RestartBackoff(initial=0.5, maximum=2),
        )
        off = await cluster.create_service(
            "off", task_definition="crash", restart_backoff=pyecs.RestartBackoff(enabled=False)
        )
        await anyio.sleep(60)
        assert not any("restart backoff" in e.message for e in off.events)
        assert any("waiting 2 s" in e.message for e in fast.events)
        assert not any("waiting 4 s" in e.message for e in fast.events)
        await off.update(restart_backoff=pyecs.RestartBackoff(maximum=10))
        await anyio.sleep(60)
        assert any("waiting 10 s" in e.message for e in off.events)


def test_a_bad_backoff_is_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidParameterError, match=r"restart_backoff\.initial"):
        pyecs.RestartBackoff(initial=float("nan"))
    with pytest.raises(InvalidParameterError, match=r"restart_backoff\.maximum .* at least"):
        pyecs.RestartBackoff(initial=10, maximum=5)


@pytest.mark.anyio
async def test_a_ten_minute_crash_loop_keeps_memory_flat() -> None:
    """No backoff, 0.5 s per task: about 1,200 tasks; what is kept stays bounded."""
    kept = 200
    async with pyecs.Cluster(
        "prod", backend=crashing(), clock=mock_clock, stopped_tasks_kept=kept
    ) as cluster:
        await cluster.register_task_definition(td("crash", image="crash:1"))
        svc = await cluster.create_service(
            "crash",
            task_definition="crash",
            desired_count=2,
            restart_backoff=pyecs.RestartBackoff(enabled=False),
        )
        await anyio.sleep(120)  # past the first `kept` stopped tasks: the steady regime
        gc.collect()
        tracemalloc.start()
        try:
            await anyio.sleep(240)
            gc.collect()
            middle, _ = tracemalloc.get_traced_memory()
            await anyio.sleep(240)
            gc.collect()
            end, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        stopped = cluster.list_tasks(service_name="crash", desired_status="STOPPED")
        assert len(stopped) == kept
        assert len(svc.events) <= 100
        # Hundreds of tasks went through in each half; what they left behind is bounded.
        assert end - middle < 256 * 1024, f"grew {end - middle} bytes in 4 minutes"


@pytest.mark.anyio
async def test_stopped_tasks_are_forgotten_on_a_timer_when_nobody_asks() -> None:
    async with pyecs.Cluster("prod", backend=SimulatedBackend(1), clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("job"))
        [task] = (await cluster.run_task("job")).tasks
        await cluster.stop_task(task.arn)
        await cluster.wait_tasks_stopped([task.arn], timeout=60)
        await anyio.sleep(30 * 60)
        assert cluster.describe_task(task.arn).last_status == "STOPPED"  # kept an hour
        await anyio.sleep(2 * 3600)
        # describe_task() reads without pruning: only the timer can have forgotten it.
        with pytest.raises(TaskNotFoundError):
            cluster.describe_task(task.arn)


@pytest.mark.anyio
async def test_tasks_killed_one_by_one_never_empty_the_service() -> None:
    """Tasks killed from outside now and then, in a service whose other tasks keep running:
    no crash loop, so each is replaced at once (as ECS does), never all held back."""
    backend = SimulatedBackend(2)
    async with pyecs.Cluster("prod", backend=backend, clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("web"))
        svc = await cluster.create_service("web", task_definition="web", desired_count=4)
        await anyio.sleep(40)
        lowest = 4
        for i in range(30):
            running = [t for t in svc.tasks if t.last_status == "RUNNING"]
            assert running, "the service has no running task left to kill"
            backend.kill(str(running[i % len(running)].containers[0].runtime_id))
            for _ in range(100):
                await anyio.sleep(0.1)
                lowest = min(lowest, svc.running_count)
        assert lowest >= 3, f"the service fell to {lowest} running tasks"
        assert not any("restart backoff" in e.message for e in svc.events)


@pytest.mark.anyio
async def test_each_quick_exit_holds_back_only_its_own_replacement() -> None:
    """In a crash loop the backoff delays each replacement on its own: a service of 4 whose
    tasks all crash still restarts one of them as soon as that one's wait is over."""
    async with pyecs.Cluster("prod", backend=crashing(after=5), clock=mock_clock) as cluster:
        await cluster.register_task_definition(td("crash", image="crash:1"))
        svc = await cluster.create_service("crash", task_definition="crash", desired_count=4)
        await anyio.sleep(300)
        assert any("waiting 60 s" in e.message for e in svc.events)
        # Each task crashes 5 s after it starts; at the 60 s cap each of the 4 waits 60 s
        # on its own, so each restarts about every 65 s (plus the ramp up to the cap): about
        # 26 starts in 300 s, where replacing at once would make about 4 + 4 * 300 / 5 = 244.
        # One service-wide wait would allow only about 4 + 300 / 65.
        starts = started_tasks(svc)
        assert 15 <= starts <= 40
