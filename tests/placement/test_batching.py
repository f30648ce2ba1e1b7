"""Placing ``count`` copies in one call is exactly placing them one call at a time.

``PlacementState.place`` takes shortcuts for several copies (the instance a copy went to
is taken again without a new walk while it provably stays the best, and several copies are
reserved at once). These properties drive two states with the same operations, one placing
each request's copies in one call and the other with one ``place`` call per copy, and
require the same instances, failures, remaining resources, tasks and scale-in choices.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import placement_support
from hypothesis import given, settings
from hypothesis import strategies as st

from pyecs.models.instance import InstanceSpec
from pyecs.placement import (
    BinPack,
    CandidateInstance,
    DistinctInstance,
    MemberOf,
    PlacedTask,
    PlacementConstraint,
    PlacementRequest,
    PlacementResult,
    PlacementState,
    PlacementStrategy,
    PlacementView,
    Random,
    Spread,
)

ZONE = "attribute:ecs.availability-zone"
SETTINGS = settings(max_examples=200, deadline=None)
WHEN = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
GROUPS = placement_support.GROUPS


class MostCpu:
    """A user strategy (through the protocol): the instance with the most cpu left first."""

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        return -instance.remaining_cpu

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        return instance.remaining_cpu


#: Strategy levels by name; random ones are made afresh (same seed) for each state.
LEVELS = ["binpack-cpu", "binpack-memory", "spread-zone", "spread-instance", "spread-tier"]
LEVELS += ["random-1", "random-2", "most-cpu"]
RULES: list[PlacementConstraint] = [
    DistinctInstance(),
    MemberOf("attribute:tier == web"),
    MemberOf("attribute:tier != db"),
    MemberOf("not(task:group == g1)"),
    MemberOf("task:group == g0 or attribute:ecs.availability-zone == a"),
    MemberOf("runningTasksCount < 3"),
]


def level(name: str) -> PlacementStrategy:
    kind, _, arg = name.partition("-")
    if kind == "binpack":
        return BinPack(arg)
    if kind == "spread":
        return Spread({"zone": ZONE, "instance": "instanceId", "tier": "attribute:tier"}[arg])
    if kind == "random":
        return Random(int(arg))
    return MostCpu()


clusters = placement_support.clusters([128, 256, 512, 1024], [256, 512, 1024, 2048])
requests = placement_support.requests(
    [0, 16, 64, 100, 256], [0, 32, 64, 200, 512], [frozenset({80}), frozenset({22})]
)
places = st.tuples(
    st.just("place"),
    requests,
    st.integers(1, 40),
    st.one_of(
        st.lists(st.sampled_from(LEVELS), max_size=3),
        st.sampled_from([["spread-instance"], ["spread-zone", "spread-instance"]]),
    ),
    st.lists(st.sampled_from(RULES), max_size=2),
)
changes = st.one_of(
    st.tuples(st.just("release"), st.integers(0, 999)),
    st.tuples(st.just("run"), st.integers(0, 999)),
    st.tuples(st.just("tier"), st.integers(0, 99), st.sampled_from(["web", "db"])),
)
operations = st.lists(st.one_of(places, places, places, changes), min_size=1, max_size=20)


def build(specs: Sequence[InstanceSpec]) -> PlacementState:
    state = PlacementState()
    for spec in specs:
        state.add_instance(spec, registered_at=WHEN)
    return state


def place_one_by_one(
    state: PlacementState,
    rq: PlacementRequest,
    keys: list[str],
    chain: Sequence[PlacementStrategy],
    rules: Sequence[PlacementConstraint],
) -> tuple[list[str], tuple[str, str, str | None] | None]:
    """Each copy in its own call; the instances, and the first failure if any."""
    placed: list[str] = []
    for key in keys:
        result = state.place(rq, 1, chain, rules, task_keys=[key])
        if result.failures:
            failure = result.failures[0]
            return placed, (failure.reason, failure.detail, failure.closest_instance_id)
        placed.append(result.placements[0].instance_id)
    return placed, None


def outcome(
    result: PlacementResult, count: int
) -> tuple[list[str], tuple[str, str, str | None] | None]:
    """The instances of one call, and its failure (every failed copy fails the same way)."""
    assert [p.copy_index for p in result.placements] == list(range(len(result.placements)))
    placed = [p.instance_id for p in result.placements]
    if not result.failures:
        return placed, None
    assert [f.copy_index for f in result.failures] == list(range(len(placed), count))
    found = {(f.reason, f.detail, f.closest_instance_id) for f in result.failures}
    assert len(found) == 1
    return placed, found.pop()


def assert_same(batched: PlacementState, single: PlacementState) -> None:
    """Both states hold the same tasks, in the same places, with the same resources left."""
    assert batched.instances() == single.instances()
    for instance_id in batched.instance_ids():
        keys = batched.tasks_on(instance_id)
        assert keys == single.tasks_on(instance_id)
        assert [batched.task(k) for k in keys] == [single.task(k) for k in keys]
    for group in GROUPS:
        assert batched.tasks_in_group(group) == single.tasks_in_group(group)
        assert batched.tasks_in_group(group, ZONE, "a") == single.tasks_in_group(group, ZONE, "a")


@SETTINGS
@given(clusters(), operations)
def test_placing_copies_in_one_call_matches_one_call_per_copy(
    specs: list[InstanceSpec], ops: list[tuple[object, ...]]
) -> None:
    batched, single = build(specs), build(specs)
    keys: list[str] = []
    for step, op in enumerate(ops):
        if op[0] == "place":
            _, rq, count, names, rules = op
            assert isinstance(rq, PlacementRequest) and isinstance(count, int)
            assert isinstance(names, list) and isinstance(rules, list)
            new = [f"t-{step}-{i}" for i in range(count)]
            result = batched.place(rq, count, [level(n) for n in names], rules, task_keys=new)
            expected = place_one_by_one(single, rq, new, [level(n) for n in names], rules)
            assert outcome(result, count) == expected
            keys += new[: len(result.placements)]
        elif op[0] == "tier":
            instance_id = specs[int(str(op[1])) % len(specs)].id
            assert instance_id is not None
            batched.put_attributes(instance_id, {"tier": str(op[2])})
            single.put_attributes(instance_id, {"tier": str(op[2])})
        elif keys:
            key = keys[int(str(op[1])) % len(keys)]
            if op[0] == "release":
                assert batched.release(key) == single.release(key)
                keys.remove(key)
            else:
                assert batched.mark_running(key) == single.mark_running(key)
        assert_same(batched, single)
    for group in GROUPS:
        for names in ([], ["binpack-memory"], ["spread-zone", "spread-instance"]):
            chain = [level(n) for n in names]
            assert batched.victims(group, 5, chain) == single.victims(group, 5, chain)
            # Candidates are looked up when fewer than the group's tasks, else filtered from
            # the group's instances: the same choice either way.
            some = keys[::2]
            chosen = batched.victims(group, 3, chain, candidates=some)
            padded = some + some + [f"gone-{i}" for i in range(len(keys) + 1)]
            assert batched.victims(group, 3, chain, candidates=padded) == chosen
            assert set(chosen) <= set(some)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 300),
    st.sampled_from(
        [
            ["binpack-memory"],
            ["binpack-cpu", "spread-zone"],
            ["binpack-memory", "random-2"],
            [],
            ["spread-instance"],
            ["spread-zone", "spread-instance"],
            ["spread-tier", "spread-instance"],
            ["spread-zone"],
            ["spread-zone", "spread-tier"],
        ]
    ),
    st.sampled_from(
        [
            [],
            [MemberOf("attribute:tier != db")],
            [MemberOf("not(task:group == g1)")],
            [DistinctInstance()],
        ]
    ),
)
def test_large_batches_on_many_instances_match_one_call_per_copy(
    instances: int, count: int, names: list[str], rules: list[PlacementConstraint]
) -> None:
    """Runs of many copies on one instance, across chunk boundaries of the sorted indexes."""
    specs = placement_support.many_instances(instances)
    batched, single = build(specs), build(specs)
    for step, rq in enumerate(
        [
            PlacementRequest("g0", cpu=16, memory=48),
            PlacementRequest("g1", cpu=0, memory=96),
            PlacementRequest("g0", cpu=100, memory=0),
        ]
    ):
        new = [f"t-{step}-{i}" for i in range(count)]
        result = batched.place(rq, count, [level(n) for n in names], rules, task_keys=new)
        expected = place_one_by_one(single, rq, new, [level(n) for n in names], rules)
        assert outcome(result, count) == expected
        assert_same(batched, single)
