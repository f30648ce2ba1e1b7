"""How a capacity provider strategy spreads tasks over its providers: pure and sync.

ECS: "The base value designates how many tasks, at a minimum, to run on the specified
capacity provider ... The weight value designates the relative percentage of the total
number of tasks launched that should use the specified capacity provider. The weight
value is taken into consideration after the base value, if defined, is satisfied." With
weights 1 and 4, "for every one task that's run using capacityProviderA, four tasks would
use capacityProviderB".

pyecs decides one task at a time, so that a service that scales by one keeps the split:

1. while the provider with a base runs fewer tasks than its base, the task goes there;
2. otherwise it goes to the provider of weight > 0 whose share beyond its base is
   furthest behind its weight: the smallest ``(tasks beyond base + 1) / weight``; a tie
   goes to the larger weight, then to the earlier item of the strategy.

At every multiple of the weights' sum the split beyond the base is exactly proportional
(base 2 on A, weights A 1 : B 3, 10 tasks: A 2 + 2, B 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyecs.models.capacity import CapacityProviderStrategyItem

__all__ = ["split_by_strategy"]


def split_by_strategy(
    strategy: Sequence[CapacityProviderStrategyItem],
    count: int,
    current: Mapping[str, int] | None = None,
) -> list[str]:
    """The provider of each of ``count`` new tasks, in launch order.

    Args:
        strategy: A checked strategy (``pyecs.models.capacity.strategy_from``).
        count: How many tasks to add.
        current: Tasks the group (a service) already runs per provider; they count
            toward the base and the shares.

    Returns:
        ``count`` provider names.
    """
    counts = {i.capacity_provider: (current or {}).get(i.capacity_provider, 0) for i in strategy}
    order = {i.capacity_provider: n for n, i in enumerate(strategy)}
    weighted = [i for i in strategy if i.weight > 0]
    out: list[str] = []
    for _ in range(count):
        chosen = None
        for item in strategy:
            if item.base and counts[item.capacity_provider] < item.base:
                chosen = item.capacity_provider
                break
        if chosen is None:

            def behind(item: CapacityProviderStrategyItem) -> tuple[float, int, int]:
                beyond = max(0, counts[item.capacity_provider] - item.base)
                return ((beyond + 1) / item.weight, -item.weight, order[item.capacity_provider])

            chosen = min(weighted, key=behind).capacity_provider
        counts[chosen] += 1
        out.append(chosen)
    return out
