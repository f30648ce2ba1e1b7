"""The ECS placement strategies: ``binpack``, ``spread`` and ``random``."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from pyecs.exceptions import PlacementError
from pyecs.placement._protocols import CandidateInstance, PlacementStrategy, PlacementView
from pyecs.placement._types import PlacedTask, PlacementRequest

__all__ = [
    "DEFAULT_SERVICE_STRATEGY",
    "MAX_STRATEGIES",
    "BinPack",
    "Random",
    "Spread",
    "StrategyLike",
    "strategies_from",
    "strategy_from",
]

#: ECS allows at most this many strategies per task or service.
MAX_STRATEGIES: Final = 5
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_./-]{1,128}")
_SPREAD_FIELDS = "'instanceId', 'host' or 'attribute:<name>'"


def _binpack_field(value: str) -> str:
    if not isinstance(value, str) or value.lower() not in ("cpu", "memory"):
        raise PlacementError(
            f"binpack field must be 'cpu' or 'memory', not {value!r}: binpack packs tasks onto "
            "the instance with the least of that resource left"
        )
    return value.lower()


@attrs.frozen
class BinPack:
    """Place on the instance with the least of ``field`` left that still fits the task.

    On scale-in, stop the task whose instance has the most of ``field`` free afterwards,
    so that lightly used instances empty first.

    Attributes:
        field: ``cpu`` or ``memory``.
    """

    field: str = attrs.field(converter=_binpack_field)

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        """The remaining amount of ``field``: least first."""
        return instance.remaining_cpu if self.field == "cpu" else instance.remaining_memory

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        """Minus what would be free once the task stopped: most first."""
        if self.field == "cpu":
            return -(instance.remaining_cpu + task.request.cpu)
        return -(instance.remaining_memory + task.request.memory)

    def to_dict(self) -> dict[str, str]:
        """The ECS JSON form."""
        return {"type": "binpack", "field": self.field}


def _spread_field(value: str) -> str:
    if isinstance(value, str):
        if value.lower() in ("instanceid", "host"):
            return "instanceId" if value.lower() == "instanceid" else "host"
        if value.startswith("attribute:") and _ATTRIBUTE_NAME.fullmatch(value[10:]):
            return value
        if value.startswith("attribute:"):
            raise PlacementError(
                f"spread field {value!r} needs an attribute name of 1 to 128 letters, digits, "
                "'-', '_', '/' or '.' after 'attribute:', such as "
                "'attribute:ecs.availability-zone'"
            )
    raise PlacementError(f"spread field must be {_SPREAD_FIELDS}, not {value!r}")


@attrs.frozen
class Spread:
    """Place where the task's group has the fewest tasks, by instance or by attribute value.

    Service tasks spread relative to their service (group ``service:<name>``), standalone
    tasks relative to their group. On scale-in, stop from the value with the most tasks.

    Attributes:
        field: ``instanceId`` (``host`` is the same) or ``attribute:<name>``, such as
            ``attribute:ecs.availability-zone``.
    """

    field: str = attrs.field(converter=_spread_field)

    @property
    def attribute(self) -> str | None:
        """The attribute name spread over, or None when spreading over instances."""
        return self.field[10:] if self.field.startswith("attribute:") else None

    def _count(self, instance: CandidateInstance, group: str, view: PlacementView) -> int:
        name = self.attribute
        if name is None:
            return instance.group_task_count(group)
        return view.tasks_in_group(group, name, instance.attributes.get(name))

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        """Tasks of the group on the instance or its attribute value: fewest first."""
        return self._count(instance, request.group, view)

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        """Minus the tasks of the group there: most first."""
        return -self._count(instance, task.group, view)

    def to_dict(self) -> dict[str, str]:
        """The ECS JSON form."""
        return {"type": "spread", "field": self.field}


@attrs.frozen
class Random:
    """Place on a random instance among those that fit (or break ties at random).

    Attributes:
        seed: Seed of the generator; with one, the choices repeat from run to run given the
            same sequence of calls. The generator advances with use, so one ``Random``
            object shared by several services draws from one sequence.
    """

    seed: int | None = None
    _rng: random.Random = attrs.field(init=False, eq=False, hash=False, repr=False)

    @_rng.default
    def _make_rng(self) -> random.Random:
        return random.Random(self.seed)

    @property
    def rng(self) -> random.Random:
        """The generator the scheduler draws from."""
        return self._rng

    def placement_key(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> float:
        """A fresh random number."""
        return self._rng.random()

    def scale_in_key(
        self, instance: CandidateInstance, task: PlacedTask, view: PlacementView
    ) -> float:
        """A fresh random number."""
        return self._rng.random()

    def to_dict(self) -> dict[str, str]:
        """The ECS JSON form."""
        return {"type": "random"}


#: The default for a service given no strategy, as ECS does it: fewest tasks of the service
#: per availability zone, then per instance (and the reverse, most first, on scale-in).
DEFAULT_SERVICE_STRATEGY: Final[tuple[Spread, Spread]] = (
    Spread("attribute:ecs.availability-zone"),
    Spread("instanceId"),
)

#: Anything :func:`strategy_from` accepts.
StrategyLike = PlacementStrategy | Mapping[str, object]

_FORMS = (
    "BinPack/Spread/Random, an ECS dict such as {'type': 'binpack', 'field': 'memory'}, or an "
    "object with placement_key() and scale_in_key() (pyecs.abc.PlacementStrategy)"
)


def _from_fields(kind: object, fields: Mapping[str, object], where: str) -> PlacementStrategy:
    extra = sorted(str(k) for k in fields if k not in ("type", "field"))
    if extra:
        raise PlacementError(
            f"{where}has unknown key(s) {', '.join(map(repr, extra))}; a placement strategy "
            "has only 'type' and 'field'"
        )
    field = fields.get("field")
    kind_text = kind.lower() if isinstance(kind, str) else kind
    if kind_text == "random":
        if field is not None:
            raise PlacementError(f"{where}random strategy takes no field, got {field!r}")
        return Random()
    if kind_text not in ("binpack", "spread"):
        raise PlacementError(
            f"{where}unknown placement strategy type {kind!r}; expected 'binpack', 'spread' "
            "or 'random'"
        )
    if field is None:
        allowed = "'cpu' or 'memory'" if kind_text == "binpack" else _SPREAD_FIELDS
        raise PlacementError(f"{where}{kind_text} strategy needs a field: {allowed}")
    if not isinstance(field, str):
        raise PlacementError(f"{where}strategy field must be a string, not {field!r}")
    try:
        return BinPack(field) if kind_text == "binpack" else Spread(field)
    except PlacementError as error:
        raise PlacementError(f"{where}{error}") from None


def strategy_from(obj: object, *, index: int | None = None) -> PlacementStrategy:
    """Normalise a placement strategy given in any accepted form.

    Args:
        obj: A :class:`BinPack`, :class:`Spread` or :class:`Random`; an ECS dict such as
            ``{"type": "spread", "field": "attribute:ecs.availability-zone"}``; an object
            with ``type`` and ``field`` attributes (a model of that dict); or a user's own
            strategy implementing :class:`~pyecs.placement.PlacementStrategy`.
        index: The position in the caller's list, for error messages.

    Raises:
        PlacementError: The form is not a strategy, or its type or field is not allowed;
            the message names the bad field and what is allowed.
    """
    where = f"placementStrategy[{index}]: " if index is not None else ""
    if isinstance(obj, BinPack | Spread | Random):
        return obj
    if isinstance(obj, Mapping):
        if "type" not in obj:
            raise PlacementError(f"{where}a placement strategy needs a 'type'; expected {_FORMS}")
        return _from_fields(obj["type"], obj, where)
    if isinstance(obj, PlacementStrategy):
        return obj
    kind = getattr(obj, "type", None)
    if isinstance(kind, str):
        return _from_fields(kind, {"type": kind, "field": getattr(obj, "field", None)}, where)
    raise PlacementError(f"{where}expected {_FORMS}, not {obj!r}")


def strategies_from(objs: Iterable[object] | None) -> tuple[PlacementStrategy, ...]:
    """Normalise a chain of strategies (each later one breaks the ties of the earlier ones).

    Raises:
        PlacementError: More than :data:`MAX_STRATEGIES`, or one is invalid.
    """
    if objs is None:
        return ()
    if isinstance(objs, Mapping | str | bytes) or not isinstance(objs, Iterable):
        raise PlacementError(
            f"placement strategies must be a list, not {objs!r}; wrap one in a list: [{objs!r}]"
        )
    chain = tuple(strategy_from(obj, index=i) for i, obj in enumerate(objs))
    if len(chain) > MAX_STRATEGIES:
        raise PlacementError(
            f"{len(chain)} placement strategies given; ECS allows at most {MAX_STRATEGIES}: "
            "drop the ones that only break ties nobody notices"
        )
    return chain
