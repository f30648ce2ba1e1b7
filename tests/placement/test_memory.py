"""What the scheduler keeps per placed task: no object the garbage collector walks.

Every GC-tracked object kept per running task makes the collector's full passes, which
walk all of them, longer and (as they count allocations) more frequent: at a million
tasks that is most of what a simulation spends. The scheduler keeps a task as dict
entries whose values are shared (the instance's node) or plain ints, and makes a
:class:`PlacedTask` only when one is asked for.
"""

from __future__ import annotations

import gc

import pytest

from pyecs.models.instance import uniform_instances
from pyecs.placement import BinPack, PlacedTask, PlacementRequest, PlacementState, Spread

COPIES = 2_000
#: Far below one per copy; room for what a dict resize or a first use may allocate.
SLACK = 50

REQUEST = PlacementRequest("family:batch", cpu=16, memory=32)


def tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


@pytest.fixture
def state() -> PlacementState:
    state = PlacementState()
    state.add_instances(uniform_instances(200, zones=3, cpu=4096, memory=16384))
    # A first call builds the indexes the later ones use (made once, not per task).
    state.place(REQUEST, 10, [BinPack("memory")], task_keys=[f"warm-{i}" for i in range(10)])
    state.place(REQUEST, 10, [Spread("instanceId")], task_keys=[f"warm-s{i}" for i in range(10)])
    return state


@pytest.mark.parametrize(
    "strategy", [BinPack("memory"), Spread("instanceId")], ids=["binpack", "spread"]
)
def test_placed_tasks_keep_no_tracked_object_each(
    state: PlacementState, strategy: BinPack | Spread
) -> None:
    keys = [f"task-{i}" for i in range(COPIES)]
    gc.disable()  # (so that no collection frees garbage made before the counts)
    try:
        before = tracked()
        for start in range(0, COPIES, 10):
            state.place(REQUEST, 10, [strategy], task_keys=keys[start : start + 10])
        placed = tracked()
        for key in keys:
            state.mark_running(key)
        running = tracked()
        for key in keys[::2]:
            state.release(key)
        state.reserve("adopted", state.instance_ids()[0], REQUEST)
        after = tracked()
    finally:
        gc.enable()
    assert placed - before < SLACK
    assert running - before < SLACK
    assert after - before < SLACK


def test_a_placed_task_is_made_when_asked_for(state: PlacementState) -> None:
    state.place(REQUEST, 2, [BinPack("memory")], task_keys=["a", "b"])
    first, second = state.task("a"), state.task("b")
    assert isinstance(first, PlacedTask) and isinstance(second, PlacedTask)
    assert first.key == "a" and first.request == REQUEST and first.group == "family:batch"
    assert second.sequence == first.sequence + 1
    assert state.task("a") == first  # equal each time, if not the same object
    assert first.instance_id in state.instance_ids()
    state.mark_running("a")
    assert state.task("a") == first  # running or not, the same task
    assert state.release("a") and state.task("a") is None


def test_the_requests_of_released_tasks_are_not_kept(state: PlacementState) -> None:
    # The state shares one record of each request among its tasks: the record must go
    # with the last of them, or a long run of distinct requests would pile them up.
    # (One group: the state keeps the statistics of every group it has seen.)
    before = tracked()
    for i in range(500):
        request = PlacementRequest("family:jobs", cpu=16, memory=32 + i)
        state.place(request, 2, [BinPack("memory")], task_keys=[f"job-{i}-a", f"job-{i}-b"])
        state.release(f"job-{i}-a")
        state.release(f"job-{i}-b")
    del request
    assert tracked() - before < SLACK


def test_a_request_id_set_free_serves_the_next_request(state: PlacementState) -> None:
    first = PlacementRequest("family:first", memory=64)
    second = PlacementRequest("family:second", memory=128)
    state.place(first, 1, task_keys=["a"])
    state.place(first, 1, task_keys=["b"])
    state.release("a")
    state.release("b")  # (the id of ``first`` is free now)
    state.place(first, 1, task_keys=["c"])  # the same object again: a new id all the same
    state.place(second, 1, task_keys=["d"])
    got_c, got_d = state.task("c"), state.task("d")
    assert got_c is not None and got_c.request == first
    assert got_d is not None and got_d.request == second
    assert got_d.sequence > got_c.sequence
    assert state.tasks_in_group("family:first") == 1
