"""Hypothesis data shared by the placement property tests: clusters of instances and
placement requests, over the value sets each test chooses."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from pyecs.models.instance import InstanceSpec
from pyecs.placement import PlacementRequest

GROUPS = ("g0", "g1", "g2")


def clusters(
    cpus: Sequence[int], memories: Sequence[int]
) -> Callable[[], st.SearchStrategy[list[InstanceSpec]]]:
    """1 to 10 instances in zones a-c, some with a tier, some DRAINING, with their ids
    in a random order (placement must not depend on the order they were added in)."""

    @st.composite
    def draw_cluster(draw: st.DrawFn) -> list[InstanceSpec]:
        count = draw(st.integers(1, 10))
        specs = []
        for index in draw(st.permutations(range(count))):
            zone = draw(st.sampled_from("abc"))
            attributes: dict[str, str | None] = {"ecs.availability-zone": zone}
            tier = draw(st.sampled_from(["web", "db", None]))
            if tier is not None:
                attributes["tier"] = tier
            specs.append(
                InstanceSpec(
                    cpu=draw(st.sampled_from(cpus)),
                    memory=draw(st.sampled_from(memories)),
                    attributes=attributes,
                    id=f"i-{index:02d}",
                    reserved_ports=draw(st.sampled_from([frozenset(), frozenset({22})])),
                    status=draw(st.sampled_from(["ACTIVE"] * 8 + ["DRAINING"])),
                )
            )
        return specs

    return draw_cluster


def requests(
    cpus: Sequence[int], memories: Sequence[int], tcp_ports: Sequence[frozenset[int]]
) -> st.SearchStrategy[PlacementRequest]:
    """Requests of the three groups, with or without host ports."""
    return st.builds(
        PlacementRequest,
        group=st.sampled_from(GROUPS),
        cpu=st.sampled_from(cpus),
        memory=st.sampled_from(memories),
        tcp_ports=st.sampled_from([frozenset(), frozenset(), *tcp_ports]),
        udp_ports=st.sampled_from([frozenset(), frozenset(), frozenset({53})]),
    )


def many_instances(count: int) -> list[InstanceSpec]:
    """``count`` instances of four cpu and three memory sizes, over zones a-c and tiers
    web/db (for runs of many copies across the chunks of the sorted indexes)."""
    return [
        InstanceSpec(
            cpu=256 * (1 + k % 4),
            memory=512 * (1 + k % 3),
            attributes={"ecs.availability-zone": "abc"[k % 3], "tier": ("web", "db")[k % 2]},
            id=f"i-{k:03d}",
        )
        for k in range(count)
    ]
