"""Releasing a batch of tasks in one call is exactly releasing them one call at a time.

``PlacementState.release_many`` takes each key out of the state's dicts and then updates
each instance touched once for all its tasks in the batch (its amounts in the sorted
indexes, ports, group and task counts, group statistics). These properties drive two
states with the same operations, one giving a batch of keys to ``release_many`` and the
other the same keys to ``release`` one by one, and require the same of everything
observable, down to the next placements (ties included), scale-in choices and the
internal tables those depend on.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator, Sequence

import placement_support
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyecs.exceptions import InvalidParameterError
from pyecs.models.instance import InstanceSpec
from pyecs.placement import (
    BinPack,
    CandidateInstance,
    DistinctInstance,
    MemberOf,
    PlacementConstraint,
    PlacementRequest,
    PlacementResult,
    PlacementState,
    PlacementStrategy,
    Random,
    Spread,
)
from pyecs.placement._index import GroupStats

ZONE = "attribute:ecs.availability-zone"
WHEN = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
GROUPS = placement_support.GROUPS

#: Strategy chains by name; random ones are made afresh (same seed) for each state.
CHAINS: list[list[str]] = [
    [],
    ["binpack-memory"],
    ["binpack-cpu", "spread-zone"],
    ["spread-instance"],
    ["spread-zone", "spread-instance"],
    ["spread-tier", "binpack-memory"],
    ["random-3"],
    ["binpack-cpu", "random-5"],
]
RULES: list[PlacementConstraint] = [
    DistinctInstance(),
    MemberOf("attribute:tier != db"),
    MemberOf("not(task:group == g1)"),
    MemberOf("runningTasksCount < 3"),
]

AFTER_RULES: list[list[PlacementConstraint]] = [
    [],
    [DistinctInstance()],
    [MemberOf("attribute:tier != db")],
]


def chain_of(names: Sequence[str]) -> list[PlacementStrategy]:
    chain: list[PlacementStrategy] = []
    for name in names:
        kind, _, arg = name.partition("-")
        if kind == "binpack":
            chain.append(BinPack(arg))
        elif kind == "random":
            chain.append(Random(int(arg)))
        else:
            attribute = {"zone": ZONE, "instance": "instanceId", "tier": "attribute:tier"}[arg]
            chain.append(Spread(attribute))
    return chain


clusters = placement_support.clusters([256, 512, 1024], [512, 1024, 2048])
requests = placement_support.requests(
    [0, 16, 64, 100], [0, 32, 64, 200], [frozenset({80}), frozenset({22, 443})]
)
places = st.tuples(
    st.just("place"),
    requests,
    st.integers(1, 30),
    st.sampled_from(range(len(CHAINS))),
    st.lists(st.sampled_from(RULES), max_size=2),
)
#: An adopted task (reserve): the only way two tasks on one instance share a host port.
adopts = st.tuples(st.just("adopt"), requests, st.integers(0, 99))
runs = st.tuples(st.just("run"), st.integers(0, 999))
releases = st.tuples(st.just("release"), st.lists(st.integers(0, 999), max_size=40))
operations = st.lists(
    st.one_of(places, places, places, adopts, runs, runs, releases), min_size=1, max_size=14
)


def build(specs: Sequence[InstanceSpec]) -> PlacementState:
    state = PlacementState()
    for spec in specs:
        state.add_instance(spec, registered_at=WHEN)
    return state


def outcome(result: PlacementResult) -> tuple[object, ...]:
    return (
        [(p.copy_index, p.instance_id, p.task_key) for p in result.placements],
        [(f.copy_index, f.reason, f.detail, f.closest_instance_id) for f in result.failures],
    )


def stats_view(stats: GroupStats) -> tuple[object, ...]:
    """A group's statistics, with index buckets named by their partition and values (each
    state has buckets of its own) and ``hosts`` in its order (its walks follow it)."""
    bucket_hosts = {(b.partition.attrs, b.values): n for b, n in stats.bucket_hosts.items()}
    return stats.total, list(stats.hosts.items()), stats.by_attr, bucket_hosts, stats.tiers


def internals(state: PlacementState) -> tuple[object, ...]:
    """What later calls read besides the public answers: the request table (which ids a new
    request gets), the group statistics, each index list's entries, each instance's
    groups in order and version, and the instances changed since the last listing."""
    indexes = {
        (attrs, values, field): list(entries)
        for attrs, partition in state._indexes.partitions.items()
        for values, bucket in partition.buckets.items()
        for field, entries in bucket.by_field.items()
    }
    for partition in state._indexes.partitions.values():
        for bucket in partition.buckets.values():
            for field, entries in bucket.by_field.items():
                for chunk, top_cpu, top_memory in zip(
                    entries._chunks, entries._cpu, entries._memory, strict=True
                ):
                    # Caps may be too high, never too low (walks skip chunks by them).
                    for _, node_id in chunk:
                        node = state._nodes[node_id]
                        assert node.remaining_cpu <= top_cpu, (field, node_id)
                        assert node.remaining_memory <= top_memory, (field, node_id)
    nodes = {
        node_id: (list(node.groups.items()), node.version, node.used_tcp_ports)
        for node_id, node in state._nodes.items()
    }
    return (
        state._requests,
        state._request_ids,
        state._request_uses,
        state._free_request_ids,
        state._last_request,
        {group: stats_view(stats) for group, stats in state._groups.items()},
        indexes,
        nodes,
        state._dirty,
    )


def candidate_view(c: CandidateInstance) -> tuple[object, ...]:
    """What a user's strategy or constraint reads of a live candidate."""
    groups = {group: c.group_task_count(group) for group in GROUPS}
    return (
        c.id,
        c.status,
        c.remaining_cpu,
        c.remaining_memory,
        set(c.used_tcp_ports),
        set(c.used_udp_ports),
        c.pending_tasks_count,
        c.running_tasks_count,
        set(c.task_groups),
        groups,
    )


def assert_same(batched: PlacementState, single: PlacementState, keys: Sequence[str]) -> None:
    assert internals(batched) == internals(single)
    assert batched.instances() == single.instances()
    assert [candidate_view(c) for c in batched.candidates()] == [
        candidate_view(c) for c in single.candidates()
    ]
    for key in keys:
        assert batched.task(key) == single.task(key)
    for instance_id in batched.instance_ids():
        assert batched.tasks_on(instance_id) == single.tasks_on(instance_id)
    for group in GROUPS:
        assert batched.tasks_in_group(group) == single.tasks_in_group(group)
        for zone in "abc":
            assert batched.tasks_in_group(group, ZONE, zone) == single.tasks_in_group(
                group, ZONE, zone
            )
        for names in ([], ["binpack-memory"], ["spread-zone", "spread-instance"]):
            assert batched.victims(group, 4, chain_of(names)) == single.victims(
                group, 4, chain_of(names)
            )


@settings(max_examples=300, deadline=None)
@given(clusters(), operations, st.lists(st.tuples(requests, st.sampled_from(range(len(CHAINS))))))
def test_release_many_matches_release_one_by_one(
    specs: list[InstanceSpec],
    ops: list[tuple[object, ...]],
    after: list[tuple[PlacementRequest, int]],
) -> None:
    batched, single = build(specs), build(specs)
    keys: list[str] = []  # every key ever placed, released or not
    for step, op in enumerate(ops):
        if op[0] == "place":
            _, rq, count, chain, rules = op
            assert isinstance(rq, PlacementRequest) and isinstance(count, int)
            assert isinstance(chain, int) and isinstance(rules, list)
            new = [f"t-{step}-{i}" for i in range(count)]
            names = CHAINS[chain]
            result = batched.place(rq, count, chain_of(names), rules, task_keys=new)
            expected = single.place(rq, count, chain_of(names), rules, task_keys=new)
            assert outcome(result) == outcome(expected)
            keys += new[: len(result.placements)]
        elif op[0] == "adopt":
            _, rq, where = op
            assert isinstance(rq, PlacementRequest) and isinstance(where, int)
            instance_id = specs[where % len(specs)].id
            assert instance_id is not None
            room = batched.instance(instance_id).remaining_resources
            if room.cpu >= rq.cpu and room.memory >= rq.memory:  # (no snapshot over-committed)
                key = f"adopted-{step}"
                batched.reserve(key, instance_id, rq)
                single.reserve(key, instance_id, rq)
                keys.append(key)
        elif op[0] == "run" and keys:
            assert isinstance(op[1], int)
            key = keys[op[1] % len(keys)]
            assert batched.mark_running(key) == single.mark_running(key)
        elif op[0] == "release" and keys:
            picks = op[1]
            assert isinstance(picks, list)
            # Released keys, repeats and unknown keys included: each is skipped as
            # release() would answer False.
            batch = [keys[i % len(keys)] for i in picks] + ["never-placed"]
            assert batched.release_many(iter(batch)) == sum(single.release(k) for k in batch)
        assert_same(batched, single, keys)
    # The next placements see the same state: the same instances, in the same tie order.
    for step, (rq, chain) in enumerate(after):
        for kind, rules in enumerate(AFTER_RULES):
            new = [f"after-{step}-{kind}-{i}" for i in range(3)]
            names = CHAINS[chain]
            result = batched.place(rq, 3, chain_of(names), rules, task_keys=new)
            expected = single.place(rq, 3, chain_of(names), rules, task_keys=new)
            assert outcome(result) == outcome(expected)
            keys += new
    assert_same(batched, single, keys)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(50, 400),
    st.sampled_from(range(len(CHAINS))),
    st.randoms(use_true_random=False),
)
def test_large_releases_on_many_instances_match_release_one_by_one(
    instances: int, count: int, chain: int, rng: random.Random
) -> None:
    """Many tasks per instance and per index chunk: amounts that move across chunks of
    the sorted lists, instances that lose their last task of a group, whole batches."""
    specs = placement_support.many_instances(instances)
    batched, single = build(specs), build(specs)
    keys: list[str] = []
    for step, rq in enumerate(
        [
            PlacementRequest("g0", cpu=16, memory=48),
            PlacementRequest("g1", cpu=0, memory=96),
            PlacementRequest("g0", cpu=100, memory=0),
            PlacementRequest("g2", cpu=8, memory=8),
        ]
    ):
        new = [f"t-{step}-{i}" for i in range(count)]
        names = CHAINS[chain] if step % 2 else ["spread-zone", "spread-instance"]
        result = batched.place(rq, count, chain_of(names), task_keys=new)
        assert outcome(result) == outcome(single.place(rq, count, chain_of(names), task_keys=new))
        keys += new[: len(result.placements)]
    for key in keys[::3]:
        assert batched.mark_running(key) == single.mark_running(key)
    rng.shuffle(keys)
    for start in range(0, len(keys), 97):
        batch = keys[start : start + 97]
        assert batched.release_many(batch) == sum(single.release(k) for k in batch)
        assert_same(batched, single, keys)
        rq = PlacementRequest("g1", cpu=16, memory=16)
        new = [f"again-{start}-{i}" for i in range(5)]
        result = batched.place(rq, 5, chain_of(CHAINS[chain]), task_keys=new)
        assert outcome(result) == outcome(
            single.place(rq, 5, chain_of(CHAINS[chain]), task_keys=new)
        )
        keys += new


def test_release_many_counts_and_skips() -> None:
    state = build([InstanceSpec(cpu=1024, memory=2048, id="i-1")])
    rq = PlacementRequest("g0", cpu=100, memory=100, tcp_ports=frozenset({80}))
    state.place(rq, 1, task_keys=["a"])
    state.place(PlacementRequest("g0", cpu=100, memory=100), 2, task_keys=["b", "c"])
    assert state.release_many([]) == 0
    assert state.release_many(["a", "a", "x", "b"]) == 2
    assert state.release_many(["a", "b"]) == 0
    assert [t.key for t in [state.task("c")] if t is not None] == ["c"]
    (snapshot,) = state.instances()
    assert snapshot.remaining_resources.cpu == 924
    assert 80 not in snapshot.remaining_resources.ports
    assert snapshot.pending_tasks_count == 1


def test_release_many_refuses_a_single_string() -> None:
    state = build([InstanceSpec(cpu=1024, memory=2048, id="i-1")])
    state.place(PlacementRequest("g0", cpu=1), 1, task_keys=["ab"])
    with pytest.raises(InvalidParameterError, match="iterable of task keys"):
        state.release_many("ab")
    assert state.task("ab") is not None


def test_release_many_releases_the_keys_before_a_failing_iterable() -> None:
    state = build([InstanceSpec(cpu=1024, memory=2048, id="i-1")])
    state.place(PlacementRequest("g0", cpu=100), 3, task_keys=["a", "b", "c"])

    def keys() -> Iterator[str]:
        yield "a"
        yield "b"
        raise RuntimeError("the caller's iterable failed")

    with pytest.raises(RuntimeError):
        state.release_many(keys())
    (snapshot,) = state.instances()
    assert snapshot.remaining_resources.cpu == 924
    assert snapshot.pending_tasks_count == 1
    assert state.tasks_on("i-1") == ["c"]
