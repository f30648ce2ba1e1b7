"""Scale-in: which tasks of a group to stop, following the group's strategy chain.

Each strategy ranks tasks by their instance as it would be once they stopped: ``binpack``
stops where the most of its field is free afterwards, ``spread`` where its group has the
most tasks (per instance or attribute value), ``random`` at random; ties go to the next
strategy, then to the newest task. Victims are chosen one at a time, each with the earlier
ones already taken away (they are released for the computation and put back after).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyecs.placement._index import GroupStats
from pyecs.placement._node import InstanceNode
from pyecs.placement._order import value_counts
from pyecs.placement._protocols import PlacementStrategy, PlacementView
from pyecs.placement._strategies import BinPack, Random, Spread
from pyecs.placement._types import PlacedTask

__all__ = ["choose_victims"]

_KeyFn = Callable[[PlacedTask], float]


def _key_fn(
    level: PlacementStrategy,
    nodes: dict[str, InstanceNode],
    groups: dict[str, GroupStats],
    view: PlacementView,
    group: str,
) -> _KeyFn:
    if isinstance(level, BinPack):
        if level.field == "cpu":
            return lambda t: -(nodes[t.instance_id].remaining_cpu + t.request.cpu)
        return lambda t: -(nodes[t.instance_id].remaining_memory + t.request.memory)
    if isinstance(level, Spread):
        name = level.attribute
        if name is None:
            return lambda t: -nodes[t.instance_id].groups.get(group, 0)
        counts = value_counts(groups, nodes, group, name)
        return lambda t: -counts.get(nodes[t.instance_id].attributes.get(name), 0)
    if isinstance(level, Random):
        rng = level.rng
        return lambda t: rng.random()
    return lambda t: level.scale_in_key(nodes[t.instance_id], t, view)


def choose_victims(
    pool: list[PlacedTask],
    count: int,
    chain: Sequence[PlacementStrategy],
    nodes: dict[str, InstanceNode],
    groups: dict[str, GroupStats],
    view: PlacementView,
    take: Callable[[PlacedTask], None],
    put_back: Callable[[PlacedTask], None],
) -> list[str]:
    """Pick up to ``count`` tasks of ``pool`` (one group) to stop, in stopping order.

    Args:
        pool: The tasks that may be stopped.
        count: How many.
        chain: The strategy chain.
        nodes: Every instance by id.
        groups: The group statistics.
        view: The view user strategies receive.
        take: Releases a task (temporarily).
        put_back: Reserves a task taken again, as it was (running or not).
    """
    if not pool:
        return []
    group = pool[0].group
    fns = [_key_fn(level, nodes, groups, view, group) for level in chain]

    def rank(task: PlacedTask) -> tuple[float, ...]:
        return (*(fn(task) for fn in fns), -task.sequence)

    chosen: list[PlacedTask] = []
    remaining = list(pool)
    try:
        for _ in range(min(count, len(remaining))):
            best = min(remaining, key=rank)
            remaining.remove(best)
            chosen.append(best)
            take(best)
    finally:
        for task in reversed(chosen):
            put_back(task)
    return [task.key for task in chosen]
