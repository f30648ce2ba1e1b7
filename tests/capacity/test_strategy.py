"""Capacity provider strategies: ECS's rules and the split, computed by hand."""

from __future__ import annotations

import pytest

from pyecs import CapacityProviderStrategyItem, InvalidParameterError
from pyecs.models.capacity import strategy_from
from pyecs.placement._capacity import split_by_strategy


def _s(*items: dict[str, object]) -> tuple[CapacityProviderStrategyItem, ...]:
    return strategy_from(list(items))


def test_base_first_then_weights_one_to_three() -> None:
    """base 2 on A, then A 1 : B 3. Ten tasks: A gets its 2, then the other 8 split 2 : 6."""
    s = _s(
        {"capacityProvider": "A", "base": 2, "weight": 1},
        {"capacityProvider": "B", "weight": 3},
    )
    order = split_by_strategy(s, 10)
    assert order[:2] == ["A", "A"]
    assert order.count("A") == 4 and order.count("B") == 6
    # After every multiple of the weights' sum beyond the base, the split is exact.
    assert order[2:6].count("B") == 3 and order[6:10].count("B") == 3


def test_one_to_four_as_in_the_ecs_guide() -> None:
    """ECS: weights 1 and 4, "for every one task ... using capacityProviderA, four tasks
    would use capacityProviderB"."""
    s = _s({"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 4})
    order = split_by_strategy(s, 15)
    assert order.count("A") == 3 and order.count("B") == 12


def test_equal_weights_split_evenly_and_weight_zero_gets_nothing_beyond_base() -> None:
    s = _s(
        {"capacityProvider": "A", "weight": 1},
        {"capacityProvider": "B", "weight": 1},
        {"capacityProvider": "C", "weight": 0, "base": 1},
    )
    order = split_by_strategy(s, 7)
    assert order[0] == "C"
    assert order.count("C") == 1 and order.count("A") == 3 and order.count("B") == 3


def test_existing_tasks_count_toward_base_and_shares() -> None:
    """A service that already has 2 on A (the base) and 1 on B adds where B is behind."""
    s = _s(
        {"capacityProvider": "A", "base": 2, "weight": 1},
        {"capacityProvider": "B", "weight": 3},
    )
    assert split_by_strategy(s, 2, {"A": 2, "B": 1}) == ["B", "B"]


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (
            [
                {"capacityProvider": "A", "base": 1, "weight": 1},
                {"capacityProvider": "B", "base": 1, "weight": 1},
            ],
            "only one capacity provider in a capacity provider strategy can have a base",
        ),
        ([{"capacityProvider": "A", "weight": 0}], "must have a weight greater than zero"),
        ([{"capacityProvider": "A", "weight": 1001}], "weight must be a whole number"),
        ([{"capacityProvider": "A", "weight": 1, "base": 100001}], "base must be"),
        ([], "is empty"),
        (
            [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "A", "weight": 2}],
            "more than once",
        ),
        (
            [{"capacityProvider": "FARGATE", "weight": 1}, {"capacityProvider": "A", "weight": 1}],
            "cannot mix FARGATE",
        ),
    ],
)
def test_strategy_rules(items: list[dict[str, object]], words: str) -> None:
    with pytest.raises(InvalidParameterError, match=words):
        strategy_from(items)
