"""Placement strategies and constraints: their forms, their errors, and what each one picks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from pyecs.exceptions import PlacementError, QuerySyntaxError
from pyecs.models.instance import InstanceSpec, uniform_instances
from pyecs.models.task_definition import TaskDefinitionPlacementConstraint
from pyecs.placement import (
    DEFAULT_SERVICE_STRATEGY,
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
    constraint_from,
    constraints_from,
    strategies_from,
    strategy_from,
)

ZONE = "attribute:ecs.availability-zone"


def state_with(specs: Sequence[InstanceSpec]) -> PlacementState:
    state = PlacementState("test")
    state.add_instances(specs)
    return state


def spec(instance_id: str, cpu: int = 1024, memory: int = 2048, **attrs: str) -> InstanceSpec:
    return InstanceSpec(cpu=cpu, memory=memory, id=instance_id, attributes=attrs)


def request(group: str = "service:web", cpu: int = 0, memory: int = 128) -> PlacementRequest:
    return PlacementRequest(group, cpu=cpu, memory=memory)


# -- forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"type": "binpack", "field": "memory"}, BinPack("memory")),
        ({"type": "binpack", "field": "cpu"}, BinPack("cpu")),
        ({"type": "spread", "field": ZONE}, Spread(ZONE)),
        ({"type": "spread", "field": "instanceId"}, Spread("instanceId")),
        ({"type": "spread", "field": "host"}, Spread("host")),
        ({"type": "random"}, Random()),
        (BinPack("MEMORY"), BinPack("memory")),
    ],
)
def test_strategy_dict_forms_normalise_to_the_classes(form: object, expected: object) -> None:
    assert strategy_from(form) == expected


def test_strategies_round_trip_through_their_ecs_dicts() -> None:
    for strategy in (BinPack("cpu"), Spread(ZONE), Spread("instanceId"), Random()):
        assert strategy_from(strategy.to_dict()) == strategy


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"type": "distinctInstance"}, DistinctInstance()),
        ({"type": "memberOf", "expression": "attribute:x == y"}, MemberOf("attribute:x == y")),
        (
            TaskDefinitionPlacementConstraint("memberOf", expression="attribute:x == y"),
            MemberOf("attribute:x == y"),
        ),
    ],
)
def test_constraint_forms_normalise_to_the_classes(form: object, expected: object) -> None:
    assert constraint_from(form) == expected


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"type": "binpack", "field": "disk"}, ["binpack field", "'cpu' or 'memory'", "disk"]),
        ({"type": "binpack"}, ["needs a field", "'cpu' or 'memory'"]),
        ({"type": "spread", "field": "zone"}, ["spread field", "instanceId", "attribute:<name>"]),
        ({"type": "spread", "field": "attribute:"}, ["attribute name"]),
        ({"type": "pack", "field": "cpu"}, ["unknown placement strategy type", "'pack'"]),
        ({"type": "random", "field": "cpu"}, ["random strategy takes no field"]),
        ({"type": "binpack", "field": "cpu", "weight": 1}, ["unknown key", "'weight'"]),
        ({"field": "cpu"}, ["needs a 'type'"]),
        ("binpack", ["expected BinPack/Spread/Random"]),
    ],
)
def test_bad_strategy_forms_say_what_is_allowed(form: object, words: list[str]) -> None:
    with pytest.raises(PlacementError) as raised:
        strategy_from(form, index=2)
    message = str(raised.value)
    assert message.startswith("placementStrategy[2]: ")
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"type": "distinctInstance", "expression": "attribute:x == y"}, ["takes no expression"]),
        ({"type": "memberOf"}, ["memberOf needs an expression"]),
        ({"type": "memberOf", "expression": ""}, ["memberOf needs an expression"]),
        ({"type": "sameZone"}, ["unknown placement constraint type", "'distinctInstance'"]),
        ({"type": "memberOf", "expression": "a", "field": "x"}, ["unknown key", "'field'"]),
        (BinPack("cpu"), ["expected DistinctInstance()"]),
    ],
)
def test_bad_constraint_forms_say_what_is_allowed(form: object, words: list[str]) -> None:
    with pytest.raises(PlacementError) as raised:
        constraint_from(form, index=0)
    for word in words:
        assert word in str(raised.value)


def test_member_of_with_a_bad_expression_raises_query_syntax_error() -> None:
    with pytest.raises(QuerySyntaxError):
        MemberOf("attribute:ecs.instance-type =~")
    with pytest.raises(QuerySyntaxError):
        constraint_from({"type": "memberOf", "expression": "x" * 2001})


def test_at_most_five_strategies_and_ten_constraints() -> None:
    assert len(strategies_from([BinPack("cpu")] * 5)) == 5
    with pytest.raises(PlacementError, match="6 placement strategies given; ECS allows at most 5"):
        strategies_from([BinPack("cpu")] * 6)
    assert len(constraints_from([DistinctInstance()] * 10)) == 10
    with pytest.raises(PlacementError, match="11 placement constraints given"):
        constraints_from([DistinctInstance()] * 11)
    with pytest.raises(PlacementError, match="must be a list"):
        strategies_from({"type": "random"})


def test_default_service_strategy_is_spread_over_zones_then_instances() -> None:
    assert [s.to_dict() for s in DEFAULT_SERVICE_STRATEGY] == [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ]


# -- what each strategy picks ----------------------------------------------------------------


def test_binpack_memory_picks_the_least_remaining_memory_that_fits() -> None:
    state = state_with([spec("a", memory=1024), spec("b", memory=512), spec("c", memory=300)])
    result = state.place(request(memory=400), 1, [BinPack("memory")])
    assert result.instance_ids == ["b"]
    # b now has 112 MiB: the next 400 MiB copy goes to a, the tightest that still fits.
    assert state.place(request(memory=400), 1, [BinPack("memory")]).instance_ids == ["a"]


def test_binpack_cpu_packs_one_instance_before_the_next() -> None:
    state = state_with([spec("a", cpu=1024), spec("b", cpu=1024)])
    result = state.place(request(cpu=256), 5, [{"type": "binpack", "field": "cpu"}])
    assert result.instance_ids == ["a", "a", "a", "a", "b"]


def test_binpack_ties_go_to_the_lowest_instance_id() -> None:
    state = state_with([spec("c"), spec("a"), spec("b")])
    assert state.place(request(), 1, [BinPack("memory")]).instance_ids == ["a"]


def test_spread_over_zones_balances_a_group() -> None:
    state = state_with(uniform_instances(6, zones=3))
    result = state.place(request(), 9, [Spread(ZONE)])
    zones = Counter(
        state.instance(i).attributes["ecs.availability-zone"] for i in result.instance_ids
    )
    assert sorted(zones.values()) == [3, 3, 3]


def test_spread_counts_only_tasks_of_the_same_group() -> None:
    state = state_with([spec("a", zone="z1"), spec("b", zone="z2")])
    state.place(request(group="service:other"), 3, [BinPack("memory")])  # all on a
    result = state.place(request(group="service:web"), 2, [Spread("attribute:zone")])
    assert sorted(result.instance_ids) == ["a", "b"]


def test_spread_instance_id_and_host_are_the_same() -> None:
    for field in ("instanceId", "host"):
        state = state_with([spec("a"), spec("b"), spec("c")])
        result = state.place(request(), 6, [Spread(field)])
        assert Counter(result.instance_ids) == {"a": 2, "b": 2, "c": 2}


def test_chain_spreads_over_zones_then_binpacks_within_the_zone() -> None:
    state = state_with(
        [
            spec("a1", memory=1024, zone="a"),
            spec("a2", memory=512, zone="a"),
            spec("b1", memory=2048, zone="b"),
            spec("b2", memory=768, zone="b"),
        ]
    )
    chain = [Spread("attribute:zone"), BinPack("memory")]
    result = state.place(request(memory=256), 4, chain)
    assert result.instance_ids == ["a2", "b2", "a2", "b2"]


def test_random_with_a_seed_repeats_and_only_picks_instances_that_fit() -> None:
    picks = []
    for _ in range(2):
        specs = [spec(f"i{k}", memory=256 if k % 2 else 4096) for k in range(20)]
        state = state_with(specs)
        picks.append(state.place(request(memory=512), 10, [Random(seed=7)]).instance_ids)
    assert picks[0] == picks[1]
    assert all(int(i[1:]) % 2 == 0 for i in picks[0])
    assert len(set(picks[0])) > 1


def test_distinct_instance_never_puts_two_tasks_of_a_group_together() -> None:
    state = state_with([spec("a"), spec("b")])
    result = state.place(request(), 3, [BinPack("memory")], [DistinctInstance()])
    assert result.instance_ids == ["a", "b"]
    assert [f.reason for f in result.failures] == ["ATTRIBUTE"]
    assert "distinctInstance" in result.failures[0].detail
    # Another group may still use both.
    other = state.place(request(group="service:api"), 2, [], [{"type": "distinctInstance"}])
    assert other.instance_ids == ["a", "b"]


def test_member_of_only_picks_matching_instances() -> None:
    state = state_with(
        [spec("a", memory=512, tier="db"), spec("b", tier="web"), spec("c", tier="web")]
    )
    result = state.place(request(), 4, [BinPack("memory")], [MemberOf("attribute:tier == web")])
    assert result.instance_ids == ["b", "b", "b", "b"]  # a has more room but is not web


def test_member_of_task_group_sees_earlier_copies_of_the_same_call() -> None:
    state = state_with([spec("a"), spec("b"), spec("c")])
    rule = MemberOf("not(task:group == service:web)")
    result = state.place(request(), 4, [], [rule])
    assert result.instance_ids == ["a", "b", "c"]
    assert result.failures[0].reason == "ATTRIBUTE"


def test_member_of_results_follow_attribute_changes() -> None:
    state = state_with([spec("a", tier="db"), spec("b", tier="db")])
    rule = MemberOf("attribute:tier == web")
    assert state.place(request(), 1, [], [rule]).failures[0].reason == "ATTRIBUTE"
    state.put_attributes("b", {"tier": "web"})
    assert state.place(request(), 1, [], [rule]).instance_ids == ["b"]
    state.delete_attributes("b", ["tier"])
    assert state.place(request(), 1, [], [rule]).failures[0].reason == "ATTRIBUTE"


def test_member_of_running_tasks_count_counts_running_tasks() -> None:
    state = state_with([spec("a"), spec("b")])
    rule = MemberOf("runningTasksCount < 1")
    first = state.place(request(), 1, [], [rule])
    assert first.instance_ids == ["a"]
    state.mark_running(first.placements[0].task_key)
    assert state.place(request(), 1, [], [rule]).instance_ids == ["b"]


# -- a user's own strategy and constraint ----------------------------------------------------


class MostMemory:
    """Place on the instance with the most free memory (a 'least loaded' strategy)."""

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        return -instance.remaining_memory

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        return instance.remaining_memory


class EvenIdsOnly:
    def allows(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> bool:
        return int(instance.id[1:]) % 2 == 0


def test_user_strategy_and_constraint_satisfy_the_protocols_and_work() -> None:
    assert isinstance(MostMemory(), PlacementStrategy)
    assert isinstance(EvenIdsOnly(), PlacementConstraint)
    state = state_with([spec(f"i{k}", memory=512 * (k + 1)) for k in range(5)])
    result = state.place(request(memory=1024), 3, [MostMemory()], [EvenIdsOnly()])
    assert result.instance_ids == ["i4", "i2", "i4"]  # i4 and i2 tie at 1536: lowest id


def test_user_strategy_breaks_ties_left_by_a_built_in_one() -> None:
    state = state_with(
        [spec("a", memory=1024, zone="x"), spec("b", memory=4096, zone="x"), spec("c", zone="y")]
    )
    chain = [Spread("attribute:zone"), MostMemory()]
    result = state.place(request(memory=256), 3, chain)
    assert result.instance_ids == ["b", "c", "b"]
