"""The placement state: instances, reservations, failures with ECS reasons, and scale-in."""

from __future__ import annotations

import datetime
from collections import Counter

import pytest

from pyecs.exceptions import InvalidParameterError
from pyecs.models.instance import (
    DEFAULT_RESERVED_PORTS,
    ContainerInstance,
    InstanceSpec,
    uniform_instances,
)
from pyecs.placement import (
    DEFAULT_SERVICE_STRATEGY,
    BinPack,
    DistinctInstance,
    MemberOf,
    PlacementRequest,
    PlacementState,
    Random,
    Spread,
)
from pyecs.placement.query import matches

ZONE = "attribute:ecs.availability-zone"


def spec(instance_id: str, cpu: int = 1024, memory: int = 2048, **attrs: str) -> InstanceSpec:
    return InstanceSpec(cpu=cpu, memory=memory, id=instance_id, attributes=attrs)


def web(cpu: int = 0, memory: int = 128, **kwargs: frozenset[int]) -> PlacementRequest:
    return PlacementRequest("service:web", cpu=cpu, memory=memory, **kwargs)


@pytest.fixture
def state() -> PlacementState:
    state = PlacementState("prod", region="eu-west-1", account="123456789012")
    state.add_instances([spec("i-1"), spec("i-2")])
    return state


# -- instances and snapshots -----------------------------------------------------------------


def test_snapshot_reports_ecs_fields_and_the_arn(state: PlacementState) -> None:
    snap = state.instance("i-1")
    assert isinstance(snap, ContainerInstance)
    assert snap.arn == "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/i-1"
    assert snap.ec2_instance_id == "i-1"
    assert snap.status == "ACTIVE" and snap.agent_connected
    assert snap.registered_at.tzinfo is not None
    assert snap.registered_resources.cpu == 1024
    assert snap.registered_resources.ports == DEFAULT_RESERVED_PORTS
    assert snap.remaining_resources.memory == 2048
    assert matches("agentConnected == true and runningTasksCount == 0", snap)


def test_placing_and_releasing_moves_remaining_resources_and_counts(state: PlacementState) -> None:
    result = state.place(web(cpu=256, memory=512, tcp_ports=frozenset({80})), 1)
    key = result.placements[0].task_key
    snap = state.instance("i-1")
    assert snap.remaining_resources.cpu == 768
    assert snap.remaining_resources.memory == 1536
    assert 80 in snap.remaining_resources.ports
    assert snap.pending_tasks_count == 1 and snap.running_tasks_count == 0
    assert snap.task_groups == {"service:web"}
    assert state.mark_running(key)
    assert state.instance("i-1").running_tasks_count == 1
    assert state.release(key)
    assert not state.release(key)
    snap = state.instance("i-1")
    assert snap.remaining_resources == snap.registered_resources
    assert snap.running_tasks_count == 0 and snap.task_groups == frozenset()


def test_copies_of_one_call_are_placed_serially(state: PlacementState) -> None:
    result = state.place(web(memory=1024), 4, [BinPack("memory")])
    assert result.instance_ids == ["i-1", "i-1", "i-2", "i-2"]
    assert [p.copy_index for p in result.placements] == [0, 1, 2, 3]


def test_task_keys_are_the_callers_and_must_be_unique(state: PlacementState) -> None:
    result = state.place(web(), 2, task_keys=["arn:t/1", "arn:t/2"])
    assert [p.task_key for p in result.placements] == ["arn:t/1", "arn:t/2"]
    assert state.task("arn:t/1") is not None
    assert state.tasks_on("i-1") == ["arn:t/1", "arn:t/2"]
    with pytest.raises(InvalidParameterError, match="unique"):
        state.place(web(), 1, task_keys=["arn:t/1"])
    with pytest.raises(InvalidParameterError, match="2 task keys given for 1"):
        state.place(web(), 1, task_keys=["a", "b"])
    with pytest.raises(InvalidParameterError, match="count must be"):
        state.place(web(), 0)


def test_unknown_instances_and_duplicate_ids_are_refused(state: PlacementState) -> None:
    with pytest.raises(InvalidParameterError, match="'i-9' is not registered"):
        state.instance("i-9")
    with pytest.raises(InvalidParameterError, match="already registered"):
        state.add_instance(spec("i-1"))
    with pytest.raises(InvalidParameterError, match="timezone-aware"):
        state.add_instance(spec("i-3"), registered_at=datetime.datetime(2024, 1, 1))


def test_instances_without_an_id_get_one() -> None:
    state = PlacementState()
    first = state.add_instance(InstanceSpec(cpu=1024, memory=1024))
    second = state.add_instance(InstanceSpec(cpu=1024, memory=1024))
    assert first.id != second.id and first.id.startswith("i-")


def test_uniform_instances_spread_round_robin_over_zones() -> None:
    specs = uniform_instances(7, zones=["z1", "z2"], cpu=512, memory=1024)
    assert [s.attributes["ecs.availability-zone"] for s in specs] == ["z1", "z2"] * 3 + ["z1"]
    ids = [s.id or "" for s in specs]
    assert ids == sorted(ids)
    assert {s.attributes["ecs.os-type"] for s in specs} == {"linux"}
    assert uniform_instances(1, zones=3)[0].attributes["ecs.availability-zone"] == "us-east-1a"


# -- only ACTIVE instances with a connected agent take tasks ---------------------------------


@pytest.mark.parametrize("status", ["DRAINING", "INACTIVE", "REGISTERING", "DEREGISTERING"])
def test_only_active_instances_take_new_tasks(state: PlacementState, status: str) -> None:
    state.set_status("i-1", status)
    assert state.place(web(), 2).instance_ids == ["i-2", "i-2"]
    state.set_status("i-2", status)
    failure = state.place(web(), 1).failures[0]
    assert failure.reason == "INACTIVE"
    assert f"2 {status}" in failure.detail
    state.set_status("i-1", "ACTIVE")
    assert state.place(web(), 1).instance_ids == ["i-1"]


def test_disconnected_agents_take_no_tasks(state: PlacementState) -> None:
    state.set_agent_connected("i-1", False)
    assert state.place(web(), 1).instance_ids == ["i-2"]
    state.set_agent_connected("i-2", False)
    failure = state.place(web(), 1).failures[0]
    assert failure.reason == "AGENT"
    assert failure.closest_instance_id == "i-1"
    assert "disconnected" in failure.detail


def test_a_draining_instance_keeps_its_tasks_and_their_reservations(
    state: PlacementState,
) -> None:
    key = state.place(web(memory=512), 1).placements[0].task_key
    state.set_status("i-1", "DRAINING")
    assert state.instance("i-1").remaining_resources.memory == 1536
    assert state.release(key)
    assert state.instance("i-1").remaining_resources.memory == 2048


def test_removing_an_instance_forgets_its_tasks(state: PlacementState) -> None:
    keys = [p.task_key for p in state.place(web(), 2).placements]
    assert state.remove_instance("i-1") == keys
    assert "i-1" not in state and len(state) == 1
    assert state.tasks_in_group("service:web") == 0


# -- failures, with the ECS reasons ----------------------------------------------------------


def test_no_instance_registered_is_missing() -> None:
    failure = PlacementState().place(web(), 1).failures[0]
    assert failure.reason == "MISSING"
    assert failure.closest_instance_id is None
    assert failure.service_event("web").endswith(
        "Reason: No Container Instances were found in your cluster."
    )


def test_memory_failure_names_the_closest_instance() -> None:
    state = PlacementState()
    state.add_instances([spec("i-1", memory=256), spec("i-2", memory=128)])
    result = state.place(web(memory=512), 3)
    assert [f.copy_index for f in result.failures] == [0, 1, 2]
    failure = result.failures[0]
    assert failure.reason == "RESOURCE:MEMORY"
    assert failure.detail == (
        "no container instance has 512 MiB free (closest: i-1 with 256 MiB free); "
        "lower memory or add an instance"
    )
    assert failure.insufficient == "MEMORY"
    assert failure.service_event("web") == (
        "(service web) was unable to place a task because no container instance met all of "
        "its requirements. The closest matching container-instance i-1 has insufficient "
        "memory available."
    )


def test_cpu_failure_comes_before_memory() -> None:
    state = PlacementState()
    state.add_instances([spec("i-1", cpu=512, memory=64), spec("i-2", cpu=256, memory=4096)])
    failure = state.place(web(cpu=1024, memory=128), 1).failures[0]
    assert failure.reason == "RESOURCE:CPU"
    assert failure.closest_instance_id == "i-1"
    assert "1024 CPU units free (closest: i-1 with 512 CPU units free)" in failure.detail
    assert "insufficient CPU units available" in failure.service_event("web")


def test_partial_placement_then_failure() -> None:
    state = PlacementState()
    state.add_instance(spec("i-1", memory=300))
    result = state.place(web(memory=128), 3)
    assert result.instance_ids == ["i-1", "i-1"]
    assert [(f.copy_index, f.reason) for f in result.failures] == [(2, "RESOURCE:MEMORY")]


def test_static_ports_conflict_and_reserved_ports_count_as_taken(state: PlacementState) -> None:
    result = state.place(web(tcp_ports=frozenset({8080})), 3)
    assert result.instance_ids == ["i-1", "i-2"]
    failure = result.failures[0]
    assert failure.reason == "RESOURCE:PORTS"
    assert "TCP host port 8080 free" in failure.detail
    assert "already using a port required by your task" in failure.service_event("web")
    assert state.place(web(tcp_ports=frozenset({22})), 1).failures[0].reason == "RESOURCE:PORTS"
    # The same number in UDP is another port.
    assert state.place(web(udp_ports=frozenset({8080})), 1).instance_ids == ["i-1"]
    udp = state.place(web(udp_ports=frozenset({8080})), 2).failures[0]
    assert udp.reason == "RESOURCE:PORTS_UDP"


def test_released_ports_can_be_taken_again(state: PlacementState) -> None:
    keys = [p.task_key for p in state.place(web(tcp_ports=frozenset({80})), 2).placements]
    assert state.place(web(tcp_ports=frozenset({80})), 1).failures
    state.release(keys[1])
    assert state.place(web(tcp_ports=frozenset({80})), 1).instance_ids == ["i-2"]


def test_constraint_failure_is_attribute(state: PlacementState) -> None:
    failure = state.place(web(), 1, [], [MemberOf("attribute:gpu exists")]).failures[0]
    assert failure.reason == "ATTRIBUTE"
    assert "memberOf(attribute:gpu exists)" in failure.detail
    assert failure.closest_instance_id == "i-1"
    assert "missing an attribute required by your task" in failure.service_event("web")


def test_resource_reasons_come_before_constraint_reasons(state: PlacementState) -> None:
    failure = state.place(web(memory=4096), 1, [], [MemberOf("attribute:gpu exists")])
    assert failure.failures[0].reason == "RESOURCE:MEMORY"


# -- scale-in --------------------------------------------------------------------------------


def zones_of(state: PlacementState, keys: list[str]) -> Counter[str | None]:
    return Counter(
        state.instance(t.instance_id).attributes.get("ecs.availability-zone")
        for t in (state.task(k) for k in keys)
        if t is not None
    )


def test_default_scale_in_stops_from_the_zone_and_instance_with_most_tasks() -> None:
    state = PlacementState()
    state.add_instances(uniform_instances(3, zones=3))
    # Unbalanced on purpose: 3 tasks on the first instance, 1 on each other.
    state.place(web(), 3, [BinPack("memory")])
    others = MemberOf("attribute:ecs.availability-zone != us-east-1a")
    state.place(web(), 2, [Spread("instanceId")], [others])
    victims = state.victims("service:web", 2)
    assert [state.task(k).instance_id for k in victims] == ["i-" + "0" * 17] * 2  # type: ignore[union-attr]
    # Nothing changed: victims only chooses.
    assert state.tasks_in_group("service:web") == 5


def test_choosing_victims_leaves_tasks_as_they_were(state: PlacementState) -> None:
    # Victims are taken away for the computation and put back: as they were, running or not.
    keys = [p.task_key for p in state.place(web(), 4, [Spread("instanceId")]).placements]
    for key in keys[:3]:
        state.mark_running(key)
    before, on = state.instances(), [state.tasks_on(i) for i in ("i-1", "i-2")]
    victims = state.victims("service:web", 4, [BinPack("memory")])
    assert sorted(victims) == sorted(keys)
    assert state.victims("service:web", 1, candidates=keys[:1]) == keys[:1]  # the oldest
    assert state.instances() == before
    assert [state.tasks_on(i) for i in ("i-1", "i-2")] == on  # in placement order still
    assert [state.mark_running(k) for k in keys] == [False, False, False, True]


def test_scale_in_keeps_spread_balanced() -> None:
    state = PlacementState()
    state.add_instances(uniform_instances(6, zones=3))
    keys = [p.task_key for p in state.place(web(), 9, DEFAULT_SERVICE_STRATEGY).placements]
    victims = state.victims("service:web", 3, DEFAULT_SERVICE_STRATEGY)
    left = [k for k in keys if k not in victims]
    assert sorted(zones_of(state, left).values()) == [2, 2, 2]


def test_binpack_scale_in_stops_where_most_is_free_afterwards() -> None:
    state = PlacementState()
    state.add_instances([spec("a", memory=2048), spec("b", memory=2048)])
    state.place(web(memory=512), 3, [], [MemberOf("ec2InstanceId == a")])
    state.place(web(memory=512), 1, [], [MemberOf("ec2InstanceId == b")])
    victims = state.victims("service:web", 2, [BinPack("memory")])
    assert [state.task(k).instance_id for k in victims] == ["b", "a"]  # type: ignore[union-attr]


def test_scale_in_can_be_limited_to_candidate_tasks(state: PlacementState) -> None:
    keys = [p.task_key for p in state.place(web(), 4, [Spread("instanceId")]).placements]
    victims = state.victims("service:web", 5, candidates=keys[:2])
    assert sorted(victims) == sorted(keys[:2])
    assert state.victims("service:other", 1) == []


def test_random_scale_in_is_repeatable_with_a_seed(state: PlacementState) -> None:
    state.place(web(), 8, [Spread("instanceId")])
    first = state.victims("service:web", 3, [Random(seed=3)])
    assert first == state.victims("service:web", 3, [Random(seed=3)])


def test_distinct_instance_with_spread_over_many_groups() -> None:
    state = PlacementState()
    state.add_instances(uniform_instances(12, zones=3))
    for group in range(5):
        request = PlacementRequest(f"service:s{group}", memory=64)
        chain = [Spread(ZONE), BinPack("memory")]
        result = state.place(request, 12, chain, [DistinctInstance()])
        assert len(set(result.instance_ids)) == 12
    assert state.place(web(), 1, [], [DistinctInstance()]).instance_ids


def test_spread_counts_follow_attribute_changes() -> None:
    state = PlacementState()
    state.add_instances([spec("i1", tier="x"), spec("i2", tier="y"), spec("i3", tier="z")])
    by_tier = [Spread("attribute:tier")]
    assert state.place(web(), 1, by_tier).instance_ids == ["i1"]
    state.put_attributes("i1", {"tier": "y"})  # its task now counts for y
    assert state.place(web(), 1, by_tier).instance_ids == ["i3"]
    assert state.tasks_in_group("service:web", "tier", "y") == 1
    assert state.tasks_in_group("service:web", "tier", "x") == 0


def test_a_full_cluster_takes_tasks_again_after_a_release() -> None:
    state = PlacementState()
    state.add_instances([spec(f"i{k}", memory=256) for k in range(5)])
    result = state.place(web(memory=256), 6)
    assert len(result.placements) == 5 and result.failures
    state.release(result.placements[3].task_key)
    assert state.place(web(memory=256), 1).instance_ids == ["i3"]
    assert state.place(web(memory=256), 1, [BinPack("memory")]).failures


@pytest.mark.parametrize("chain", [[], [Spread("instanceId")]], ids=["id-order", "spread"])
def test_the_same_request_again_finds_room_a_release_made(chain: list[Spread]) -> None:
    # Calls with the same request and equal strategies share what the state worked out
    # for them; where an earlier call's walks stopped is not part of it.
    state = PlacementState()
    state.add_instances([spec(f"i{k}", memory=256) for k in range(3)])
    request = web(memory=256)
    keys = [p.task_key for p in state.place(request, 3, list(chain)).placements]
    assert state.place(request, 1, list(chain)).failures
    state.release(keys[0])
    assert state.place(request, 1, list(chain)).instance_ids == ["i0"]


def test_the_same_request_follows_a_change_of_strategy() -> None:
    state = PlacementState()
    state.add_instances([spec("a"), spec("b")])
    request = web()
    assert state.place(request, 2, [BinPack("memory")]).instance_ids == ["a", "a"]
    assert state.place(request, 2, [Spread("instanceId")]).instance_ids == ["b", "b"]
    assert state.place(request, 1, (BinPack("memory"),)).instance_ids == ["a"]


def test_a_fresh_random_strategy_draws_from_its_own_generator(state: PlacementState) -> None:
    # Random(seed) objects are equal when their seeds are: each must still draw its own.
    first, second = Random(seed=3), Random(seed=3)
    state.place(web(), 2, [first])
    state.place(web(), 2, [second])
    untouched = Random(seed=3).rng.getstate()
    assert first.rng.getstate() != untouched and second.rng.getstate() != untouched


def test_spread_over_instances_finds_an_instance_emptied_by_a_release() -> None:
    state = PlacementState()
    state.add_instances([spec("a"), spec("b")])
    keys = [p.task_key for p in state.place(web(), 3, [Spread("instanceId")]).placements]
    assert [state.task(k).instance_id for k in keys] == ["a", "b", "a"]  # type: ignore[union-attr]
    state.release(keys[1])
    assert state.place(web(), 1, [Spread("instanceId")]).instance_ids == ["b"]


def test_spread_over_instances_after_an_instance_drains_and_comes_back() -> None:
    state = PlacementState()
    state.add_instances([spec("a"), spec("b")])
    keys = [p.task_key for p in state.place(web(), 2, [Spread("instanceId")]).placements]
    state.set_status("b", "DRAINING")
    assert state.place(web(), 1, [Spread("instanceId")]).instance_ids == ["a"]
    state.set_status("b", "ACTIVE")
    state.release(keys[1])
    assert state.place(web(), 1, [Spread("instanceId")]).instance_ids == ["b"]


def test_the_count_of_ids_with_a_prefix_follows_instances_coming_and_going() -> None:
    """The count is taken once, then kept as instances are added and removed."""
    state = PlacementState()
    state.add_instance(spec("i-1"))
    state.add_instance(spec("fargate-1"))
    assert state.count_ids_with_prefix("fargate-") == 1
    state.add_instance(spec("fargate-2"))
    state.add_instance(spec("i-2"))
    assert state.count_ids_with_prefix("fargate-") == 2
    assert state.count_ids_with_prefix("i-") == 2
    state.remove_instance("fargate-1")
    assert state.count_ids_with_prefix("fargate-") == 1
    state.remove_instance("fargate-2")
    assert state.count_ids_with_prefix("fargate-") == 0
    assert state.count_ids_with_prefix("i-") == 2
    assert state.count_ids_with_prefix("x") == 0


def test_instance_listing_follows_changes_of_the_set_and_of_each_instance() -> None:
    """The listing is kept between calls: it must still see additions, removals and the
    resources a placement takes, with every ARN right."""
    state = PlacementState("prod")
    state.add_instance(spec("i-2"))
    state.add_instance(spec("i-1"))
    first = state.instances()
    assert [i.id for i in first] == ["i-1", "i-2"] == state.instance_ids()
    state.place(web(memory=512), 1, [BinPack("memory")])
    state.add_instance(spec("i-0"))
    listed = state.instances()
    assert [i.id for i in listed] == ["i-0", "i-1", "i-2"]
    assert listed[1].remaining_resources.memory == 2048 - 512
    assert listed[1] != first[0] and listed[2] is first[1]  # only the changed one is new
    assert [i.arn for i in listed] == [state.instance_arn(i.id) for i in listed]
    assert listed[0].arn.endswith(":container-instance/prod/i-0")
    state.remove_instance("i-1")
    assert state.instance_ids() == ["i-0", "i-2"]
    assert state.instance_arn("i-1").endswith("/prod/i-1")  # still answers for any id


@pytest.mark.parametrize(
    ("chain", "rules"),
    [
        (DEFAULT_SERVICE_STRATEGY, []),
        ([Spread("instanceId")], []),
        ([], [DistinctInstance()]),
        ([Spread(ZONE)], [MemberOf("attribute:ecs.availability-zone != us-east-1b")]),
    ],
)
def test_many_copies_in_one_call_go_where_one_copy_per_call_goes(
    chain: list[object], rules: list[object]
) -> None:
    """A walk in id order resumes where the previous copy's walk found its first
    instance; the copies still go exactly where separate calls would send them."""
    together, apart = PlacementState(), PlacementState()
    for state in (together, apart):
        state.add_instances(uniform_instances(60, zones=3, cpu=4096, memory=4096))
        state.place(PlacementRequest("service:other", memory=3500), 7, [Spread(ZONE)])
    rq = PlacementRequest("service:web", cpu=16, memory=256)
    result = together.place(rq, 80, chain, rules)
    one_by_one = []
    for _ in range(80):
        single = apart.place(rq, 1, chain, rules)
        if not single.placements:
            break
        one_by_one.append(single.placements[0].instance_id)
    assert [p.instance_id for p in result.placements] == one_by_one
    assert len(one_by_one) >= 40


def test_instance_listing_shows_every_kind_of_change_of_an_instance() -> None:
    """Between two listings only the instances that changed are taken anew: a placement,
    a release, a task marked running, a status, an agent and an attribute change all show."""
    state = PlacementState()
    state.add_instances([spec("i-1"), spec("i-2"), spec("i-3")])

    def listed(instance_id: str) -> ContainerInstance:
        return next(i for i in state.instances() if i.id == instance_id)

    before = state.instances()
    (p,) = state.place(web(memory=100), 1).placements
    assert listed(p.instance_id).pending_tasks_count == 1
    state.mark_running(p.task_key)
    assert listed(p.instance_id).running_tasks_count == 1
    state.release(p.task_key)
    assert listed(p.instance_id).remaining_resources.memory == 2048
    state.set_status("i-2", "DRAINING")
    assert listed("i-2").status == "DRAINING"
    state.set_agent_connected("i-3", False)
    assert listed("i-3").agent_connected is False
    state.put_attributes("i-1", {"tier": "web"})
    assert listed("i-1").attributes.get("tier") == "web"
    after = state.instances()
    assert [i.id for i in after] == ["i-1", "i-2", "i-3"]
    assert after == [state.instance(i) for i in ("i-1", "i-2", "i-3")]
    assert all(a is not b for a, b in zip(after, before, strict=True))
    assert state.instances() is not state.instances()  # the caller's own list


def test_an_instance_that_adopted_more_than_it_has_shows_nothing_left() -> None:
    state = PlacementState()
    state.add_instances(uniform_instances(1, zones=1, cpu=1024, memory=2048))
    instance = state.instances()[0].id
    big = PlacementRequest("g", cpu=1000, memory=1500)
    state.reserve("a", instance, big)
    state.reserve("b", instance, big)  # adopted: it runs there, whatever is left
    (snapshot,) = state.instances()  # no error for the negative amounts
    assert snapshot.remaining_resources.cpu == 0
    assert snapshot.remaining_resources.memory == 0
    assert snapshot.running_tasks_count + snapshot.pending_tasks_count == 2
    (failure,) = state.place(PlacementRequest("g", cpu=10, memory=10)).failures
    assert failure.reason == "RESOURCE:CPU"
    assert "with 0 CPU units free" in failure.detail
    state.release("b")
    (snapshot,) = state.instances()
    assert snapshot.remaining_resources.cpu == 24
    assert snapshot.remaining_resources.memory == 548
