"""The ECS placement constraints: ``distinctInstance`` and ``memberOf``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from pyecs.exceptions import PlacementError
from pyecs.placement._protocols import CandidateInstance, PlacementConstraint, PlacementView
from pyecs.placement._types import PlacementRequest
from pyecs.placement.query import Expression, parse

__all__ = [
    "MAX_CONSTRAINTS",
    "ConstraintLike",
    "DistinctInstance",
    "MemberOf",
    "constraint_from",
    "constraints_from",
]

#: ECS allows at most this many constraints per task or service (task definition's included).
MAX_CONSTRAINTS: Final = 10
#: Subjects whose value changes as tasks come and go (the rest change only by API calls).
_TASK_SUBJECTS = frozenset({"task:group", "runningTasksCount"})


@attrs.frozen
class DistinctInstance:
    """Place every task of a group on a different instance.

    ECS allows it on services and RunTask, not in a task definition.
    """

    def allows(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> bool:
        """Whether ``instance`` holds no task of the request's group yet."""
        return instance.group_task_count(request.group) == 0

    def to_dict(self) -> dict[str, str]:
        """The ECS JSON form."""
        return {"type": "distinctInstance"}

    def __str__(self) -> str:
        return "distinctInstance"


def _expression(value: str) -> str:
    if not isinstance(value, str):
        raise PlacementError(
            f"memberOf expression must be a cluster query string, not {value!r}; for example "
            "'attribute:ecs.availability-zone in [us-east-1a, us-east-1b]'"
        )
    return value


@attrs.frozen
class MemberOf:
    """Place only on instances that satisfy a cluster query language expression.

    Attributes:
        expression: The query, such as ``attribute:ecs.instance-type =~ t2.*``; parsed at
            construction (at most 2,000 characters).

    Raises:
        QuerySyntaxError: The expression does not parse (a :class:`PlacementError`).
    """

    expression: str = attrs.field(converter=_expression)
    _parsed: Expression = attrs.field(init=False, eq=False, hash=False, repr=False)
    _dynamic: bool = attrs.field(init=False, eq=False, hash=False, repr=False)

    @_parsed.default
    def _parse(self) -> Expression:
        return parse(self.expression)

    @_dynamic.default
    def _reads_tasks(self) -> bool:
        return not self._parsed.subjects.isdisjoint(_TASK_SUBJECTS)

    @property
    def parsed(self) -> Expression:
        """The parsed expression."""
        return self._parsed

    @property
    def reads_tasks(self) -> bool:
        """Whether the result can change as tasks are placed or stopped (``task:group``,
        ``runningTasksCount``); otherwise only attribute and agent changes matter."""
        return self._dynamic

    def allows(
        self, instance: CandidateInstance, request: PlacementRequest, view: PlacementView
    ) -> bool:
        """Whether ``instance`` satisfies the expression."""
        return self._parsed.evaluate(instance)

    def to_dict(self) -> dict[str, str]:
        """The ECS JSON form."""
        return {"type": "memberOf", "expression": self.expression}

    def __str__(self) -> str:
        return f"memberOf({self.expression})"


#: Anything :func:`constraint_from` accepts.
ConstraintLike = PlacementConstraint | Mapping[str, object]

_FORMS = (
    "DistinctInstance()/MemberOf(expression), an ECS dict such as {'type': 'memberOf', "
    "'expression': 'attribute:ecs.instance-type =~ t3.*'}, or an object with allows() "
    "(pyecs.abc.PlacementConstraint)"
)


def _from_fields(kind: object, fields: Mapping[str, object], where: str) -> PlacementConstraint:
    extra = sorted(str(k) for k in fields if k not in ("type", "expression"))
    if extra:
        raise PlacementError(
            f"{where}has unknown key(s) {', '.join(map(repr, extra))}; a placement constraint "
            "has only 'type' and 'expression'"
        )
    expression = fields.get("expression")
    kind_text = kind.lower() if isinstance(kind, str) else kind
    if kind_text == "distinctinstance":
        if expression is not None:
            raise PlacementError(
                f"{where}distinctInstance takes no expression (got {expression!r}); use "
                "memberOf for an expression"
            )
        return DistinctInstance()
    if kind_text == "memberof":
        if expression is None or expression == "":
            raise PlacementError(
                f"{where}memberOf needs an expression, such as "
                "'attribute:ecs.availability-zone in [us-east-1a, us-east-1b]'"
            )
        if not isinstance(expression, str):
            raise PlacementError(f"{where}memberOf expression must be a string")
        return MemberOf(expression)
    raise PlacementError(
        f"{where}unknown placement constraint type {kind!r}; expected 'distinctInstance' or "
        "'memberOf'"
    )


def constraint_from(obj: object, *, index: int | None = None) -> PlacementConstraint:
    """Normalise a placement constraint given in any accepted form.

    Args:
        obj: A :class:`DistinctInstance` or :class:`MemberOf`; an ECS dict such as
            ``{"type": "memberOf", "expression": "..."}``; an object with ``type`` and
            ``expression`` attributes (such as a task definition's placement constraint);
            or a user's own constraint implementing :class:`~pyecs.placement.PlacementConstraint`.
        index: The position in the caller's list, for error messages.

    Raises:
        PlacementError: The form is not a constraint, or is invalid; a
            :class:`~pyecs.exceptions.QuerySyntaxError` for an expression that does not parse.
    """
    where = f"placementConstraints[{index}]: " if index is not None else ""
    if isinstance(obj, DistinctInstance | MemberOf):
        return obj
    if isinstance(obj, Mapping):
        if "type" not in obj:
            raise PlacementError(f"{where}a placement constraint needs a 'type'; expected {_FORMS}")
        return _from_fields(obj["type"], obj, where)
    if isinstance(obj, PlacementConstraint):
        return obj
    kind = getattr(obj, "type", None)
    if isinstance(kind, str):
        fields = {"type": kind, "expression": getattr(obj, "expression", None)}
        return _from_fields(kind, fields, where)
    raise PlacementError(f"{where}expected {_FORMS}, not {obj!r}")


def constraints_from(objs: Iterable[object] | None) -> tuple[PlacementConstraint, ...]:
    """Normalise a list of constraints (all must hold).

    Raises:
        PlacementError: More than :data:`MAX_CONSTRAINTS`, or one is invalid.
    """
    if objs is None or objs == () or objs == []:  # (the common case, asked per launch)
        return ()
    if isinstance(objs, Mapping | str | bytes) or not isinstance(objs, Iterable):
        raise PlacementError(
            f"placement constraints must be a list, not {objs!r}; wrap one in a list: [{objs!r}]"
        )
    constraints = tuple(constraint_from(obj, index=i) for i, obj in enumerate(objs))
    if len(constraints) > MAX_CONSTRAINTS:
        raise PlacementError(
            f"{len(constraints)} placement constraints given (the task definition's count "
            f"too); ECS allows at most {MAX_CONSTRAINTS}: combine memberOf expressions with "
            "'and'"
        )
    return constraints
