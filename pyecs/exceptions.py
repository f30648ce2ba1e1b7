"""The exceptions pyecs raises.

Every error derives from :class:`PyecsError`, so ``except pyecs.PyecsError`` catches
anything this library raises on purpose. Messages say what was wrong, where, and what
to do about it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "BackendError",
    "ClusterClosedError",
    "InvalidParameterError",
    "InvalidTaskDefinitionError",
    "PlacementError",
    "Problem",
    "PyecsError",
    "QuerySyntaxError",
    "ScalingObjectNotFoundError",
    "SecurityGroupError",
    "SecurityGroupNotFoundError",
    "ServiceNotFoundError",
    "StateStoreError",
    "TaskDefinitionNotFoundError",
    "TaskDefinitionWarning",
    "TaskNotFoundError",
    "TimeoutError",
]


class PyecsError(Exception):
    """The root of every error pyecs raises."""


@attrs.frozen
class Problem:
    """One thing wrong with an input, located by its JSON path.

    Attributes:
        path: Where the problem is, in ECS JSON terms, for example
            ``containerDefinitions[1].portMappings[0].containerPort``. Empty for the
            document as a whole.
        message: What is wrong and what is allowed.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidParameterError(PyecsError, ValueError):
    """An argument to a pyecs call is out of range or of the wrong kind."""


class InvalidTaskDefinitionError(PyecsError, ValueError):
    """A task definition breaks one or more ECS rules.

    Attributes:
        problems: Every problem found, each with its JSON path; never empty.
        source: Where the definition came from (a file name), if known.
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        n = len(self.problems)
        head = f"invalid task definition{where}: {n} problem{'s' if n != 1 else ''}"
        return head + "".join(f"\n  - {p}" for p in self.problems)

    @property
    def paths(self) -> list[str]:
        """The JSON paths of every problem, in the order found."""
        return [p.path for p in self.problems]


class TaskDefinitionWarning(UserWarning):
    """A task definition ECS accepts that may not do what its author expects.

    The message starts with the JSON path, then ``": "`` and what happens, e.g.
    ``containerDefinitions[0].healthCheck.command: starts with '/healthcheck', not CMD
    ...``. ``pyecs validate`` prints the same findings.
    """


class TaskDefinitionNotFoundError(PyecsError, LookupError):
    """A task definition reference matches nothing registered (or nothing ACTIVE)."""

    def __init__(self, reference: str, known: Sequence[str] = (), detail: str = "") -> None:
        self.reference = reference
        self.known = tuple(known)
        if detail:
            msg = f"task definition {reference!r}: {detail}"
        else:
            msg = f"task definition {reference!r} is not registered"
        if self.known:
            shown = ", ".join(self.known[:20]) + (", ..." if len(self.known) > 20 else "")
            msg += f"; registered: {shown}"
        else:
            msg += "; nothing is registered yet: call register_task_definition() first"
        super().__init__(msg)


class SecurityGroupError(InvalidParameterError):
    """A security group call breaks an EC2 rule (a duplicate name or rule, a group in use).

    Attributes:
        code: EC2's error code (``InvalidGroup.Duplicate``, ``InvalidPermission.Duplicate``,
            ``InvalidPermission.NotFound``, ``DependencyViolation``...).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class SecurityGroupNotFoundError(SecurityGroupError, LookupError):
    """A security group id matches no group of this cluster (EC2 ``InvalidGroup.NotFound``)."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidGroup.NotFound", message)


class TaskNotFoundError(PyecsError, LookupError):
    """A task ARN or id matches no task of this cluster."""


class ServiceNotFoundError(PyecsError, LookupError):
    """A service name matches no service of this cluster."""


class PlacementError(PyecsError):
    """A placement strategy or constraint is invalid, or a task cannot be placed."""


class QuerySyntaxError(PlacementError, ValueError):
    """An expression of the ECS cluster query language does not parse.

    Attributes:
        expression: The whole expression.
        column: The 1-based column where the problem was found.
    """

    def __init__(self, expression: str, column: int, message: str) -> None:
        self.expression = expression
        self.column = column
        self.reason = message
        pointer = " " * (column - 1) + "^"
        super().__init__(
            f"{message} at column {column} of the cluster query:\n  {expression}\n  {pointer}"
        )


class BackendError(PyecsError):
    """A backend (a Docker engine, the process supervisor...) failed or cannot be reached."""


class StateStoreError(PyecsError):
    """The state store of ``pyecs serve --state`` cannot be used (corrupt, newer, locked)."""


class ClusterClosedError(PyecsError, RuntimeError):
    """The cluster is not open: use it inside ``async with Cluster(...)``."""


class TimeoutError(PyecsError, builtins.TimeoutError):
    """A ``wait_<condition>`` call ran out of time before the condition held."""


class ScalingObjectNotFoundError(PyecsError, LookupError):
    """No such scalable target, scaling policy, scheduled action or alarm (Application
    Auto Scaling's ``ObjectNotFoundException``)."""
