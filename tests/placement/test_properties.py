"""Property-based tests: the indexed scheduler against a brute-force model of ECS placement.

The model keeps its own copy of every instance and task and, for each copy to place, looks
at every instance: the ones that are ACTIVE with a connected agent, have the cpu, memory and
ports, and meet the constraints; among them the least by (each strategy's key..., instance
id). The scheduler must pick exactly that instance, fail with the reason the model finds,
and report the same remaining resources afterwards.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    PlacementState,
    PlacementStrategy,
    PlacementView,
    Random,
    Spread,
)

ZONE = "attribute:ecs.availability-zone"
ABSENT = "-"
SETTINGS = settings(max_examples=150, deadline=None)
WHEN = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)


@dataclass
class Model:
    """One instance as the brute-force model sees it (also a query target)."""

    id: str
    cpu: int
    memory: int
    tcp: set[int]
    udp: set[int]
    attributes: dict[str, str | None]
    status: str
    agent_connected: bool
    running_tasks_count: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    agent_version: str = "1.82.0"
    registered_at: datetime.datetime = WHEN

    @property
    def ec2_instance_id(self) -> str:
        return self.id

    @property
    def task_groups(self) -> list[str]:
        return [g for g, n in self.groups.items() if n]


@dataclass
class World:
    """The scheduler under test and the model, driven by the same operations."""

    state: PlacementState
    models: dict[str, Model]
    tasks: dict[str, tuple[str, PlacementRequest]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)


def build(specs: Sequence[InstanceSpec]) -> World:
    state = PlacementState()
    models = {}
    for spec in specs:
        assert spec.id is not None
        state.add_instance(spec, registered_at=WHEN)
        models[spec.id] = Model(
            spec.id,
            spec.cpu,
            spec.memory,
            set(spec.reserved_ports),
            set(spec.reserved_ports_udp),
            dict(spec.attributes),
            spec.status,
            spec.agent_connected,
        )
    return World(state, models)


def allowed(world: World, m: Model, rq: PlacementRequest, rules: Sequence[object]) -> bool:
    for rule in rules:
        if isinstance(rule, DistinctInstance) and m.groups[rq.group]:
            return False
        if isinstance(rule, MemberOf) and not rule.parsed.evaluate(m):
            return False
    return True


class LeastMemory:
    """A user strategy (through the protocol) that ranks like ``BinPack("memory")``."""

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        return instance.remaining_memory

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        return -instance.remaining_memory


def key_of(world: World, m: Model, rq: PlacementRequest, level: object) -> int:
    if isinstance(level, LeastMemory):
        return m.memory
    if isinstance(level, BinPack):
        return m.cpu if level.field == "cpu" else m.memory
    assert isinstance(level, Spread)
    if level.attribute is None:
        return m.groups[rq.group]
    name, value = level.attribute, m.attributes.get(level.attribute)
    return sum(
        1
        for iid, task in world.tasks.values()
        if task.group == rq.group and world.models[iid].attributes.get(name) == value
    )


def oracle(
    world: World, rq: PlacementRequest, chain: Sequence[object], rules: Sequence[object]
) -> tuple[str | None, str]:
    """The instance the model picks, or None with the ECS reason."""
    stages: list[tuple[str, Callable[[Model], bool]]] = [
        ("INACTIVE", lambda m: m.status == "ACTIVE"),
        ("AGENT", lambda m: m.agent_connected),
        ("RESOURCE:CPU", lambda m: m.cpu >= rq.cpu),
        ("RESOURCE:MEMORY", lambda m: m.memory >= rq.memory),
        ("RESOURCE:PORTS", lambda m: not (m.tcp & rq.tcp_ports)),
        ("RESOURCE:PORTS_UDP", lambda m: not (m.udp & rq.udp_ports)),
        ("ATTRIBUTE", lambda m: allowed(world, m, rq, rules)),
    ]
    left = list(world.models.values())
    if not left:
        return None, "MISSING"
    for reason, test in stages:
        left = [m for m in left if test(m)]
        if not left:
            return None, reason
    best = min(left, key=lambda m: (*(key_of(world, m, rq, lv) for lv in chain), m.id))
    return best.id, ""


def apply(world: World, key: str, instance_id: str, rq: PlacementRequest) -> None:
    m = world.models[instance_id]
    m.cpu -= rq.cpu
    m.memory -= rq.memory
    m.tcp |= rq.tcp_ports
    m.udp |= rq.udp_ports
    m.groups[rq.group] += 1
    world.tasks[key] = (instance_id, rq)


def unapply(world: World, key: str) -> None:
    instance_id, rq = world.tasks.pop(key)
    m = world.models[instance_id]
    m.cpu += rq.cpu
    m.memory += rq.memory
    m.tcp -= rq.tcp_ports
    m.udp -= rq.udp_ports
    m.groups[rq.group] -= 1
    if key in world.running:
        world.running.discard(key)
        m.running_tasks_count -= 1


def check_same(world: World) -> None:
    """The scheduler's snapshots agree with the model, and nothing is over-committed."""
    for snap in world.state.instances():
        m = world.models[snap.id]
        remaining = snap.remaining_resources
        assert (remaining.cpu, remaining.memory) == (m.cpu, m.memory)
        assert set(remaining.ports) == m.tcp and set(remaining.ports_udp) == m.udp
        assert remaining.cpu >= 0 and remaining.memory >= 0
        assert snap.task_groups == set(m.task_groups)
        assert snap.running_tasks_count == m.running_tasks_count
        assert (snap.status, snap.agent_connected) == (m.status, m.agent_connected)
        assert dict(snap.attributes) == m.attributes
        hosted = [rq for iid, rq in world.tasks.values() if iid == snap.id]
        assert sum(rq.cpu for rq in hosted) <= snap.registered_resources.cpu
        assert sum(rq.memory for rq in hosted) <= snap.registered_resources.memory
        ports = [p for rq in hosted for p in rq.tcp_ports]
        assert len(ports) == len(set(ports))
        assert not set(ports) & snap.registered_resources.ports


# -- generators ------------------------------------------------------------------------------


@st.composite
def clusters(draw: st.DrawFn, min_size: int = 0) -> list[InstanceSpec]:
    count = draw(st.integers(min_size, 8))
    order = draw(st.permutations(range(count)))
    specs = []
    for index in order:
        attributes: dict[str, str | None] = {"ecs.availability-zone": draw(st.sampled_from("abc"))}
        tier = draw(st.sampled_from(["web", "db", None, ABSENT]))
        if tier != ABSENT:
            attributes["tier"] = tier
        specs.append(
            InstanceSpec(
                cpu=draw(st.sampled_from([256, 512, 1024])),
                memory=draw(st.sampled_from([256, 512, 1024, 2048])),
                attributes=attributes,
                id=f"i-{index:02d}",
                reserved_ports=frozenset({22}),
                status=draw(st.sampled_from(["ACTIVE"] * 6 + ["DRAINING"])),
                agent_connected=draw(st.sampled_from([True] * 6 + [False])),
            )
        )
    return specs


LEVELS: list[PlacementStrategy] = [BinPack("cpu"), BinPack("memory"), Spread(ZONE)]
LEVELS += [Spread("instanceId"), Spread("attribute:tier"), LeastMemory()]
RULES: list[PlacementConstraint] = [
    DistinctInstance(),
    MemberOf("attribute:tier == web"),
    MemberOf("not(task:group == g1)"),
    MemberOf("runningTasksCount < 2"),
    MemberOf("attribute:ecs.availability-zone in [a, b]"),
]
requests = st.builds(
    PlacementRequest,
    group=st.sampled_from(["g0", "g1", "g2"]),
    cpu=st.sampled_from([0, 64, 128, 256]),
    memory=st.sampled_from([32, 64, 128, 256, 512]),
    tcp_ports=st.sampled_from(
        [frozenset(), frozenset({80}), frozenset({80, 443}), frozenset({22})]
    ),
    udp_ports=st.sampled_from([frozenset(), frozenset(), frozenset({53})]),
)
places = st.tuples(
    st.just("place"),
    requests,
    st.integers(1, 4),
    st.lists(st.sampled_from(LEVELS), max_size=3),
    st.lists(st.sampled_from(RULES), max_size=2),
)
changes = st.one_of(
    st.tuples(st.just("release"), st.integers(0, 99)),
    st.tuples(st.just("run"), st.integers(0, 99)),
    st.tuples(st.just("tier"), st.integers(0, 99), st.sampled_from(["web", "db", None, ABSENT])),
    st.tuples(st.just("status"), st.integers(0, 99), st.sampled_from(["ACTIVE", "DRAINING"])),
    st.tuples(st.just("agent"), st.integers(0, 99), st.booleans()),
)
operations = st.lists(st.one_of(places, places, changes), max_size=25)


def change(world: World, op: tuple[object, ...]) -> None:
    kind, index = op[0], op[1]
    assert isinstance(index, int)
    keys = sorted(world.tasks)
    ids = sorted(world.models)
    if kind in ("release", "run") and keys:
        key = keys[index % len(keys)]
        if kind == "release":
            assert world.state.release(key)
            unapply(world, key)
        elif world.state.mark_running(key):
            world.running.add(key)
            world.models[world.tasks[key][0]].running_tasks_count += 1
    elif ids:
        m = world.models[ids[index % len(ids)]]
        if kind == "tier":
            if op[2] == ABSENT:
                world.state.delete_attributes(m.id, ["tier"])
                m.attributes.pop("tier", None)
            else:
                world.state.put_attributes(m.id, {"tier": op[2]})  # type: ignore[dict-item]
                m.attributes["tier"] = op[2]  # type: ignore[assignment]
        elif kind == "status":
            world.state.set_status(m.id, str(op[2]))
            m.status = str(op[2])
        elif kind == "agent":
            world.state.set_agent_connected(m.id, bool(op[2]))
            m.agent_connected = bool(op[2])


# -- properties ------------------------------------------------------------------------------


@SETTINGS
@given(clusters(), operations)
def test_scheduler_places_exactly_where_the_brute_force_model_does(
    specs: list[InstanceSpec], ops: list[tuple[object, ...]]
) -> None:
    world = build(specs)
    for op in ops:
        if op[0] != "place":
            change(world, op)
            check_same(world)
            continue
        _, rq, count, chain, rules = op
        assert isinstance(rq, PlacementRequest) and isinstance(count, int)
        assert isinstance(chain, list) and isinstance(rules, list)
        result = world.state.place(rq, count, chain, rules)
        for placement in result.placements:
            expected, _ = oracle(world, rq, chain, rules)
            assert placement.instance_id == expected
            apply(world, placement.task_key, placement.instance_id, rq)
        if result.failures:
            expected, reason = oracle(world, rq, chain, rules)
            assert expected is None
            assert {f.reason for f in result.failures} == {reason}
            assert [f.copy_index for f in result.failures] == list(
                range(len(result.placements), count)
            )
        check_same(world)


@SETTINGS
@given(clusters(min_size=1), st.lists(requests, min_size=1, max_size=12), st.integers(0, 9))
def test_random_picks_only_instances_that_fit_and_meet_the_constraints(
    specs: list[InstanceSpec], rqs: list[PlacementRequest], seed: int
) -> None:
    world = build(specs)
    rules = [DistinctInstance()] if seed % 2 else [MemberOf("attribute:tier != db")]
    chain: list[PlacementStrategy] = [Spread(ZONE), Random(seed)] if seed % 3 else [Random(seed)]
    for rq in rqs:
        feasible = {
            m.id
            for m in world.models.values()
            if m.status == "ACTIVE"
            and m.agent_connected
            and m.cpu >= rq.cpu
            and m.memory >= rq.memory
            and not (m.tcp & rq.tcp_ports)
            and not (m.udp & rq.udp_ports)
            and allowed(world, m, rq, rules)
        }
        result = world.state.place(rq, 1, chain, rules)
        if feasible:
            assert result.instance_ids[0] in feasible
            apply(world, result.placements[0].task_key, result.instance_ids[0], rq)
        else:
            assert result.failures
    check_same(world)


@SETTINGS
@given(
    st.integers(1, 12),
    st.sampled_from([1, 2, 3, 4]),
    st.sampled_from([ZONE, "instanceId"]),
    st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_spread_keeps_counts_within_one_when_capacity_allows(
    instances: int, zones: int, field_name: str, batches: list[int]
) -> None:
    state = PlacementState()
    state.add_instances(
        InstanceSpec(
            cpu=4096,
            memory=8192,
            id=f"i-{k:02d}",
            attributes={"ecs.availability-zone": "abcd"[k % zones]},
        )
        for k in range(instances)
    )
    # Another group's tasks must not disturb the balance.
    state.place(PlacementRequest("other", memory=64), 5, [BinPack("memory")])
    rq = PlacementRequest("service:web", memory=64)
    placed: list[str] = []
    for batch in batches:
        placed += state.place(rq, batch, [Spread(field_name), BinPack("memory")]).instance_ids
        values: list[str | None]
        if field_name == ZONE:
            values = [state.instance(i).attributes["ecs.availability-zone"] for i in placed]
            every = {"abcd"[k % zones] for k in range(instances)}
        else:
            values, every = list(placed), {f"i-{k:02d}" for k in range(instances)}
        counts = Counter(values)
        assert max(counts.values()) - min(counts[v] for v in every) <= 1


@SETTINGS
@given(clusters(min_size=1), st.lists(requests, min_size=1, max_size=10), st.integers(1, 6))
def test_victims_choose_distinct_tasks_of_the_group_and_change_nothing(
    specs: list[InstanceSpec], rqs: list[PlacementRequest], count: int
) -> None:
    state = PlacementState()
    state.add_instances(specs)
    for rq in rqs:
        state.place(rq, 1, [Spread("instanceId")])
    before = state.instances()
    for chain in ([], [BinPack("memory")], [Spread("attribute:tier"), BinPack("cpu")]):
        victims = state.victims("g0", count, chain)
        size = state.tasks_in_group("g0")
        assert len(victims) == len(set(victims)) == min(count, size)
        assert all(state.task(k) is not None and state.task(k).group == "g0" for k in victims)  # type: ignore[union-attr]
        assert state.instances() == before
