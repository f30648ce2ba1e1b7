"""Capacity providers as ECS describes them (``DescribeCapacityProviders``), as values.

A capacity provider owns a group of container instances, as an EC2 Auto Scaling group's
capacity provider owns the group's instances. A task placed through a provider lands on
one of its instances (or, for ``FARGATE`` and ``FARGATE_SPOT``, on capacity of its own).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "FARGATE_PROVIDERS",
    "LAUNCH_TYPES",
    "PROVIDER_ATTRIBUTE",
    "CapacityProvider",
    "CapacityProviderStrategyItem",
    "ManagedScaling",
    "strategy_from",
]

#: The two providers every account has: they need only be associated with a cluster.
FARGATE_PROVIDERS: Final = ("FARGATE", "FARGATE_SPOT")
#: The ``launchType`` values pyecs runs.
LAUNCH_TYPES: Final = ("EC2", "FARGATE")
#: ECS: "The name ... can contain up to 255 characters: letters, numbers, underscores,
#: and hyphens"; it may not start with ``aws``, ``ecs`` or ``fargate``.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RESERVED_PREFIXES: Final = ("aws", "ecs", "fargate")


def check_provider_name(name: object, *, creating: bool = False) -> str:
    """A provider name, checked; ``creating`` also refuses the reserved prefixes."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            f"capacity provider name {name!r} must be 1-255 letters, digits, '-' or '_'"
        )
    if creating and name.lower().startswith(_RESERVED_PREFIXES):
        raise InvalidParameterError(
            f"capacity provider name {name!r} cannot begin with 'aws', 'ecs' or 'fargate' "
            "(those are reserved by ECS); choose another name"
        )
    return name


def _int_in(low: int, high: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidParameterError(
                f"{attribute.name} must be a whole number from {low} to {high}, got {value!r}"
            )

    return check


@attrs.frozen
class CapacityProviderStrategyItem:
    """One item of a capacity provider strategy (ECS ``CapacityProviderStrategyItem``).

    Attributes:
        capacity_provider: The provider's short name.
        weight: Its relative share of the tasks once every base is met (0-1,000); a
            provider of weight 0 gets no task beyond its base.
        base: How many tasks, at a minimum, run on this provider (0-100,000); only one
            item of a strategy may set it.
    """

    capacity_provider: str = attrs.field(converter=check_provider_name)
    weight: int = attrs.field(default=0, validator=_int_in(0, 1000))
    base: int = attrs.field(default=0, validator=_int_in(0, 100_000))

    def to_dict(self) -> dict[str, Any]:
        """The ECS JSON form."""
        return {
            "capacityProvider": self.capacity_provider,
            "weight": self.weight,
            "base": self.base,
        }


def _item_from(value: object) -> CapacityProviderStrategyItem:
    if isinstance(value, CapacityProviderStrategyItem):
        return value
    if isinstance(value, Mapping):
        unknown = set(value) - {"capacityProvider", "weight", "base"}
        if unknown or "capacityProvider" not in value:
            raise InvalidParameterError(
                "a capacity provider strategy item is {'capacityProvider': name, 'weight': "
                f"0-1000, 'base': 0-100000}}, got {dict(value)!r}"
            )
        return CapacityProviderStrategyItem(
            value["capacityProvider"],
            weight=0 if value.get("weight") is None else value["weight"],
            base=0 if value.get("base") is None else value["base"],
        )
    raise InvalidParameterError(
        "capacity_provider_strategy items must be pyecs.CapacityProviderStrategyItem or the "
        f"ECS dict form {{'capacityProvider': ..., 'weight': ..., 'base': ...}}, got {value!r}"
    )


def strategy_from(items: Iterable[object]) -> tuple[CapacityProviderStrategyItem, ...]:
    """Check a capacity provider strategy by ECS's rules and return it as values.

    Rules: at most 20 items (ECS's limit), each provider once, at most one item with a
    base, and at least one item with a weight above 0.

    Raises:
        InvalidParameterError: naming the rule that is broken.
    """
    if isinstance(items, (str, bytes, Mapping)):
        raise InvalidParameterError(
            "capacity_provider_strategy must be a list of items, e.g. "
            "[{'capacityProvider': 'FARGATE', 'weight': 1}]"
        )
    out = tuple(_item_from(i) for i in items)
    if not out:
        raise InvalidParameterError(
            "capacity_provider_strategy is empty: give at least one item, or leave it out "
            "to use the cluster's default strategy"
        )
    if len(out) > 20:
        raise InvalidParameterError(
            f"a capacity provider strategy has at most 20 items, got {len(out)}"
        )
    names = [i.capacity_provider for i in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidParameterError(
            f"capacity provider {twice[0]!r} appears more than once in the strategy; "
            "list each provider once"
        )
    if sum(1 for i in out if i.base) > 1:
        raise InvalidParameterError(
            "only one capacity provider in a capacity provider strategy can have a base "
            f"defined; bases given for {', '.join(i.capacity_provider for i in out if i.base)}"
        )
    if not any(i.weight for i in out):
        raise InvalidParameterError(
            "at least one capacity provider in the strategy must have a weight greater "
            "than zero; a provider of weight 0 gets no task beyond its base"
        )
    fargate = [n in FARGATE_PROVIDERS for n in names]
    if any(fargate) and not all(fargate):
        raise InvalidParameterError(
            "a capacity provider strategy cannot mix FARGATE or FARGATE_SPOT with Auto "
            "Scaling group capacity providers; use one kind or the other"
        )
    return out


@attrs.frozen
class ManagedScaling:
    """ECS managed scaling of a provider's instances (ECS ``ManagedScaling``).

    Attributes:
        status: ``ENABLED`` or ``DISABLED``.
        target_capacity: The CapacityProviderReservation to keep (1-100 percent); 100
            means no spare instance.
        minimum_scaling_step_size: The fewest instances one scale-out adds (1-10,000).
        maximum_scaling_step_size: The most instances one scaling step adds or removes.
        instance_warmup_period: Seconds a new instance needs before it counts (0-10,000).
    """

    status: Literal["ENABLED", "DISABLED"] = "ENABLED"
    target_capacity: int = attrs.field(default=100, validator=_int_in(1, 100))
    minimum_scaling_step_size: int = attrs.field(default=1, validator=_int_in(1, 10_000))
    maximum_scaling_step_size: int = attrs.field(default=10_000, validator=_int_in(1, 10_000))
    instance_warmup_period: int = attrs.field(default=300, validator=_int_in(0, 10_000))

    def __attrs_post_init__(self) -> None:
        if self.status not in ("ENABLED", "DISABLED"):
            raise InvalidParameterError(
                f"managed scaling status must be ENABLED or DISABLED, got {self.status!r}"
            )
        if self.minimum_scaling_step_size > self.maximum_scaling_step_size:
            raise InvalidParameterError(
                "minimum_scaling_step_size must not exceed maximum_scaling_step_size "
                f"({self.minimum_scaling_step_size} > {self.maximum_scaling_step_size})"
            )

    @property
    def enabled(self) -> bool:
        """True when ``status`` is ENABLED."""
        return self.status == "ENABLED"


@attrs.frozen
class CapacityProvider:
    """A snapshot of one capacity provider (ECS ``CapacityProvider``).

    Attributes:
        name: The short name.
        arn: ``arn:aws:ecs:<region>:<account>:capacity-provider/<name>``.
        status: ``ACTIVE`` (or ``INACTIVE`` once deleted).
        managed_scaling: How ECS scales its instances, or None (no managed scaling).
        managed_termination_protection: ``ENABLED``: an instance that runs non-daemon
            tasks is never removed by scale-in.
        instance_ids: The container instances it owns now.
        fargate: True for ``FARGATE`` and ``FARGATE_SPOT``.
    """

    name: str
    arn: str
    status: Literal["ACTIVE", "INACTIVE"] = "ACTIVE"
    managed_scaling: ManagedScaling | None = None
    managed_termination_protection: Literal["ENABLED", "DISABLED"] = "DISABLED"
    instance_ids: tuple[str, ...] = ()
    fargate: bool = False


#: The instance attribute that names the capacity provider an instance belongs to.
PROVIDER_ATTRIBUTE: Final = "pyecs.capacity-provider"
