"""The syntax tree of the ECS cluster query language, and how it is evaluated.

The parser lives in :mod:`pyecs.placement.query`; this module holds the immutable nodes it
builds and the rules for comparing an instance's values with a query's arguments.
"""

from __future__ import annotations

import abc
import datetime
import re
import warnings
from collections.abc import Collection, Mapping
from typing import Protocol, TypeVar

import attrs

__all__ = [
    "And",
    "Comparison",
    "Expression",
    "Not",
    "Or",
    "QueryTarget",
    "argument_key",
    "compile_pattern",
    "format_value",
]

_Key = tuple[float, ...]
_Ordered = TypeVar("_Ordered", _Key, str)

#: Operators that are the negation of another one: ``a != b`` is ``not (a == b)``.
NEGATIONS = {"!=": "==", "!in": "in", "!~": "=~", "!exists": "exists"}
#: Subjects whose values have a type other than text, and that type.
TYPED_SUBJECTS = {
    "agentConnected": "boolean",
    "agentVersion": "version",
    "registeredAt": "date",
    "runningTasksCount": "number",
}

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_VERSION = re.compile(r"v?\d+(?:\.\d+)*")
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?"
)
# What an argument may look like unquoted; anything else is written back in quotes.
SCALAR_WORD = re.compile(r"(?:[^\s()'\"\[\],&|]|&(?!&)|\|(?!\|))(?:[^\s()'\"&|]|&(?!&)|\|(?!\|))*")
LIST_WORD = re.compile(r"[^\s()'\"\[\],]+")


class QueryTarget(Protocol):
    """What a container instance offers to a query; a container instance implements it."""

    @property
    def ec2_instance_id(self) -> str:
        """The EC2 instance id, for ``ec2InstanceId``."""

    @property
    def agent_connected(self) -> bool:
        """Whether the agent is connected, for ``agentConnected``."""

    @property
    def agent_version(self) -> str:
        """The agent version such as ``1.20.3``, for ``agentVersion``."""

    @property
    def registered_at(self) -> datetime.datetime:
        """When the instance registered (timezone-aware UTC), for ``registeredAt``."""

    @property
    def running_tasks_count(self) -> int:
        """How many tasks run on the instance, for ``runningTasksCount``."""

    @property
    def attributes(self) -> Mapping[str, str | None]:
        """The instance attributes, for ``attribute:<name>``; a value may be None."""

    @property
    def task_groups(self) -> Collection[str]:
        """The groups of the tasks now on the instance, for ``task:group``."""


def _number_key(text: str) -> _Key | None:
    return (float(text),) if _NUMBER.fullmatch(text) else None


def _version_key(text: str) -> _Key | None:
    if not _VERSION.fullmatch(text):
        return None
    parts = [float(p) for p in text.lstrip("v").split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.20.0 equals 1.20
        parts.pop()
    return tuple(parts)


def _date_key(value: str | datetime.datetime) -> _Key | None:
    if isinstance(value, str):
        if not _DATE.fullmatch(value):
            return None
        try:
            value = datetime.datetime.fromisoformat(value.upper().replace(" ", "T"))
        except ValueError:  # a date of the right shape that does not exist: 2018-02-30
            return None
    if value.tzinfo is None:  # a date without a zone is UTC, as in ECS
        value = value.replace(tzinfo=datetime.UTC)
    return (value.timestamp(),)


def _boolean_key(text: str) -> _Key | None:
    lowered = text.lower()
    return (1.0,) if lowered == "true" else (0.0,) if lowered == "false" else None


_KEYS = {
    "boolean": _boolean_key,
    "version": _version_key,
    "date": _date_key,
    "number": _number_key,
}


def argument_key(subject: str, argument: str) -> _Key | None:
    """The comparison key of an argument: None where it is compared as text.

    Typed subjects need an argument of their type (the parser rejects the rest);
    attributes are compared as numbers when both sides are numbers.
    """
    kind = TYPED_SUBJECTS.get(subject)
    if kind is not None:
        return _KEYS[kind](argument)
    return _number_key(argument) if subject.startswith("attribute:") else None


def _order(operator: str, left: _Ordered, right: _Ordered) -> bool:
    if operator == ">":
        return left > right
    if operator == ">=":
        return left >= right
    if operator == "<":
        return left < right
    return left <= right


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a ``=~`` argument; warnings about future syntax changes are not the user's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return re.compile(pattern)


def format_value(value: str, *, in_list: bool = False) -> str:
    """An argument as the parser reads it back: bare when it can be, else quoted."""
    if (LIST_WORD if in_list else SCALAR_WORD).fullmatch(value):
        return value
    if "'" in value and '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


class Expression(abc.ABC):
    """A parsed cluster query: immutable, hashable, and equal when the meaning is the same.

    Attributes:
        source: The text this expression was parsed from (for the root, the whole query).
    """

    __slots__ = ()
    source: str

    @abc.abstractmethod
    def evaluate(self, target: QueryTarget) -> bool:
        """Whether ``target`` satisfies this expression."""

    @property
    @abc.abstractmethod
    def subjects(self) -> frozenset[str]:
        """Every subject this expression reads, such as ``attribute:ecs.instance-type``."""

    @abc.abstractmethod
    def __str__(self) -> str:
        """The canonical text of this expression, which parses back to an equal one."""

    def _default_source(self) -> None:
        """Without a ``source`` (built in code, not parsed), it is the canonical text."""
        if not self.source:
            object.__setattr__(self, "source", str(self))


@attrs.frozen
class Comparison(Expression):
    """``subject operator [argument]``: one test of one value of an instance.

    Attributes:
        subject: ``agentConnected``, ``attribute:<name>``, ``task:group``...
        operator: The symbol form: ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``exists``,
            ``!exists``, ``in``, ``!in``, ``=~`` or ``!~``.
        arguments: None for ``exists``, one for most operators, the list for ``in``.
    """

    subject: str
    operator: str
    arguments: tuple[str, ...] = ()
    source: str = attrs.field(default="", eq=False, repr=False, kw_only=True)
    _keys: tuple[_Key | None, ...] = attrs.field(init=False, eq=False, repr=False)
    _pattern: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        keys = tuple(argument_key(self.subject, a) for a in self.arguments)
        pattern = compile_pattern(self.arguments[0]) if self.operator in ("=~", "!~") else None
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_pattern", pattern)
        self._default_source()

    @property
    def subjects(self) -> frozenset[str]:
        """Every subject this expression reads: here the one it compares."""
        return frozenset((self.subject,))

    def __str__(self) -> str:
        if self.operator in ("exists", "!exists"):
            return f"{self.subject} {self.operator}"
        if self.operator in ("in", "!in"):
            items = ", ".join(format_value(a, in_list=True) for a in self.arguments)
            return f"{self.subject} {self.operator} [{items}]"
        return f"{self.subject} {self.operator} {format_value(self.arguments[0])}"

    def _values(self, target: QueryTarget) -> tuple[bool, list[tuple[str, _Key | None]]]:
        """Whether the subject is present on ``target``, and its values as (text, key)."""
        subject = self.subject
        if subject.startswith("attribute:"):
            name = subject[len("attribute:") :]
            if name not in target.attributes:
                return False, []
            value = target.attributes[name]
            return True, [] if value is None else [(value, _number_key(value))]
        if subject == "task:group":
            groups = target.task_groups
            return bool(groups), [(g, None) for g in groups]
        if subject == "agentConnected":
            connected = target.agent_connected
            return True, [("true" if connected else "false", (1.0 if connected else 0.0,))]
        if subject == "agentVersion":
            version = target.agent_version
            return True, [(version, _version_key(version))]
        if subject == "registeredAt":
            at = target.registered_at
            return True, [(at.isoformat(), _date_key(at))]
        if subject == "runningTasksCount":
            count = target.running_tasks_count
            return True, [(str(count), (float(count),))]
        return True, [(target.ec2_instance_id, None)]

    def _test(self, operator: str, text: str, key: _Key | None) -> bool:
        if operator == "=~":
            return self._pattern is not None and self._pattern.fullmatch(text) is not None
        if operator in ("==", "in"):
            typed = self.subject in TYPED_SUBJECTS
            return any(
                key == k if typed and key is not None and k is not None else text == a
                for a, k in zip(self.arguments, self._keys, strict=True)
            )
        arg_key = self._keys[0]
        if key is not None and arg_key is not None:
            return _order(operator, key, arg_key)
        return _order(operator, text, self.arguments[0])

    def evaluate(self, target: QueryTarget) -> bool:
        """Whether ``target`` satisfies the comparison.

        A subject with several values (``task:group``) satisfies a positive operator when
        any value does; ``!=``, ``!in``, ``!~`` and ``!exists`` are the negations of
        ``==``, ``in``, ``=~`` and ``exists``. A missing attribute, or one without a value,
        satisfies no positive operator but ``exists`` (for one without a value).
        """
        negated = self.operator in NEGATIONS
        operator = NEGATIONS.get(self.operator, self.operator)
        present, values = self._values(target)
        if operator == "exists":
            result = present
        else:
            result = any(self._test(operator, text, key) for text, key in values)
        return result != negated


@attrs.frozen
class Not(Expression):
    """``not expression``, also written ``!expression``."""

    operand: Expression
    source: str = attrs.field(default="", eq=False, repr=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        self._default_source()

    @property
    def subjects(self) -> frozenset[str]:
        """Every subject the operand reads."""
        return self.operand.subjects

    def evaluate(self, target: QueryTarget) -> bool:
        """Whether ``target`` does not satisfy the operand."""
        return not self.operand.evaluate(target)

    def __str__(self) -> str:
        return f"not ({self.operand})"


@attrs.frozen
class _Junction(Expression):
    """What ``and`` and ``or`` share: a flat tuple of operands."""

    operands: tuple[Expression, ...]
    source: str = attrs.field(default="", eq=False, repr=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        self._default_source()

    @property
    def subjects(self) -> frozenset[str]:
        """Every subject any operand reads."""
        return frozenset().union(*(o.subjects for o in self.operands))


@attrs.frozen
class And(_Junction):
    """``a and b and ...``, also written with ``&&``: every operand holds."""

    def evaluate(self, target: QueryTarget) -> bool:
        """Whether ``target`` satisfies every operand."""
        return all(o.evaluate(target) for o in self.operands)

    def __str__(self) -> str:
        return " and ".join(f"({o})" if isinstance(o, Or) else str(o) for o in self.operands)


@attrs.frozen
class Or(_Junction):
    """``a or b or ...``, also written with ``||``: at least one operand holds."""

    def evaluate(self, target: QueryTarget) -> bool:
        """Whether ``target`` satisfies at least one operand."""
        return any(o.evaluate(target) for o in self.operands)

    def __str__(self) -> str:
        return " or ".join(str(o) for o in self.operands)
