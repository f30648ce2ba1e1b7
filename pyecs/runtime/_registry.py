"""The task-definition registry: families, revisions, ACTIVE/INACTIVE, ARNs."""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from pyecs.ecs import quiet_warnings
from pyecs.exceptions import InvalidParameterError, TaskDefinitionNotFoundError
from pyecs.models._arn import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    TASK_DEFINITION_ARN_RE,
    ArnFactory,
)
from pyecs.models.task_definition import TaskDefinition

__all__ = [
    "DeleteTaskDefinitionsResult",
    "TaskDefinitionFailure",
    "TaskDefinitionRegistry",
    "TaskDefinitionSource",
]

#: What ``register_task_definition`` takes: a model, ECS JSON as a dict, or a file path.
TaskDefinitionSource = TaskDefinition | Mapping[str, object] | str | os.PathLike[str]

Status = Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"]


@attrs.frozen
class TaskDefinitionFailure:
    """A reference a batch call could not act on, as ECS reports it."""

    arn: str
    reason: str
    detail: str = ""


@attrs.frozen
class DeleteTaskDefinitionsResult:
    """What ``delete_task_definitions`` did: deleted definitions and failures."""

    task_definitions: tuple[TaskDefinition, ...]
    failures: tuple[TaskDefinitionFailure, ...]


#: The most references whose ACTIVE revision is remembered between writes.
_RESOLVED_KEPT = 1000


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def coerce_task_definition(source: TaskDefinitionSource) -> TaskDefinition:
    """A :class:`TaskDefinition` from a model, an ECS JSON dict or a file path."""
    if isinstance(source, TaskDefinition):
        return source
    if isinstance(source, Mapping):
        return TaskDefinition.from_dict(dict(source))
    if isinstance(source, str | os.PathLike):
        return TaskDefinition.from_file(Path(source))
    raise InvalidParameterError(
        f"cannot register a {type(source).__name__}: pass a TaskDefinition, an ECS JSON "
        "dict, or the path of a task-definition.json file"
    )


class TaskDefinitionRegistry:
    """Revisions per family, never reused, with ECS's ACTIVE/INACTIVE life cycle.

    In ECS, task definitions belong to an account and a region, not to a cluster: every
    :class:`~pyecs.Cluster` given the same registry (``Cluster(..., task_definitions=r)``)
    sees the same families and revisions. A cluster without one gets its own.

    Args:
        region: The region written into the ARNs.
        account: The account written into the ARNs.
        clock: Returns the current time (UTC); tests may pass their own.
    """

    def __init__(
        self,
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        clock: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        # Task-definition ARNs name no cluster.
        self._arns = ArnFactory("", region=region, account=account)
        self._clock = clock
        self._families: dict[str, dict[int, TaskDefinition]] = {}
        self._last_revision: dict[str, int] = {}
        # resolve_active's answers since the last write (a loop of run_task calls asks
        # the same reference again and again); any write forgets them all.
        self._resolved: dict[str, TaskDefinition] = {}

    @property
    def region(self) -> str:
        """The region of the ARNs."""
        return self._arns.region

    @property
    def account(self) -> str:
        """The account of the ARNs."""
        return self._arns.account

    def restore(self, td: TaskDefinition) -> None:
        """Put back a revision registered earlier, as it is (a state store reloading it).

        Later registrations of its family continue after the highest revision restored,
        also when that one was deleted: revisions are never reused.

        Raises:
            InvalidParameterError: when ``td`` has no revision or ARN of this registry.
        """
        m = TASK_DEFINITION_ARN_RE.match(str(td.task_definition_arn or ""))
        if td.revision is None or m is None or m.group("region") != self.region:
            raise InvalidParameterError(
                f"cannot restore {td.family}:{td.revision}: it needs the revision and the "
                f"task definition ARN this registry ({self.region}) gave it"
            )
        family, revision = str(td.family), int(td.revision)
        self._store(td)
        self._last_revision[family] = max(self._last_revision.get(family, 0), revision)

    # -- writes ----------------------------------------------------------------------------

    def register(self, source: TaskDefinitionSource) -> TaskDefinition:
        """Register a new revision of the definition's family and return it.

        Response-only fields of the input (a pasted describe output's ``revision``,
        ``status``, ARN ...) are ignored and set anew.
        """
        td = coerce_task_definition(source)
        family = str(td.family)
        revision = self._last_revision.get(family, 0) + 1
        with quiet_warnings():  # the copy of a definition already warned about
            registered = attrs.evolve(
                td,
                task_definition_arn=self._arns.task_definition(family, revision),
                revision=revision,
                status="ACTIVE",
                registered_at=self._clock().isoformat(),
                registered_by="pyecs",
                deregistered_at=None,
                delete_requested_at=None,
                requires_attributes=None,
                compatibilities=None,
            )
        self._last_revision[family] = revision
        self._store(registered)
        return registered

    def deregister(self, reference: str) -> TaskDefinition:
        """Mark ``family:revision`` (or its ARN) INACTIVE; running tasks are untouched."""
        td = self._exact(reference, action="deregister")
        if td.status != "ACTIVE":
            return td
        return self._replace(td, status="INACTIVE", deregistered_at=self._clock().isoformat())

    def delete(self, references: list[str]) -> DeleteTaskDefinitionsResult:
        """Delete INACTIVE revisions (status DELETE_IN_PROGRESS); ACTIVE ones fail."""
        done: list[TaskDefinition] = []
        failures: list[TaskDefinitionFailure] = []
        for ref in references:
            try:
                td = self._exact(ref, action="delete")
            except TaskDefinitionNotFoundError as exc:
                failures.append(TaskDefinitionFailure(ref, "MISSING", str(exc)))
                continue
            if td.status == "ACTIVE":
                failures.append(
                    TaskDefinitionFailure(
                        str(td.task_definition_arn),
                        "TASK_DEFINITION_NOT_INACTIVE",
                        f"{td.ref} is ACTIVE: deregister it before deleting it",
                    )
                )
                continue
            done.append(
                self._replace(
                    td,
                    status="DELETE_IN_PROGRESS",
                    delete_requested_at=self._clock().isoformat(),
                )
            )
        return DeleteTaskDefinitionsResult(tuple(done), tuple(failures))

    def _replace(self, td: TaskDefinition, **changes: Any) -> TaskDefinition:
        with quiet_warnings():
            new = attrs.evolve(td, **changes)
        self._store(new)
        return new

    def _store(self, td: TaskDefinition) -> None:
        """Keep ``td`` as its family's revision: every write goes here, and forgets what
        ``resolve_active`` remembered."""
        self._resolved.clear()
        self._families.setdefault(str(td.family), {})[int(td.revision or 0)] = td

    # -- reads -----------------------------------------------------------------------------

    def describe(self, reference: str) -> TaskDefinition:
        """Resolve ``family`` (latest ACTIVE), ``family:revision`` or an ARN.

        Raises:
            TaskDefinitionNotFoundError: naming what is registered.
        """
        family, revision = self._split(reference)
        revisions = self._families.get(family)
        if not revisions:
            raise TaskDefinitionNotFoundError(reference, self.list_families(status="ALL"))
        if revision is None:
            active = [r for r, td in revisions.items() if td.status == "ACTIVE"]
            if not active:
                raise TaskDefinitionNotFoundError(
                    reference,
                    [td.ref for td in revisions.values()],
                    detail=f"family {family!r} has no ACTIVE revision (all are deregistered)",
                )
            return revisions[max(active)]
        td = revisions.get(revision)
        if td is None:
            raise TaskDefinitionNotFoundError(
                reference,
                [t.ref for t in revisions.values()],
                detail=f"family {family!r} has no revision {revision}",
            )
        return td

    def resolve_active(self, reference: str) -> TaskDefinition:
        """Like :meth:`describe`, but the revision must be ACTIVE (to start new tasks).

        Raises:
            TaskDefinitionNotFoundError: missing, or INACTIVE (which cannot start tasks).
        """
        td = self._resolved.get(reference)
        if td is not None:
            return td
        td = self.describe(reference)
        if td.status != "ACTIVE":
            family = str(td.family)
            active = [t.ref for t in self._families[family].values() if t.status == "ACTIVE"]
            raise TaskDefinitionNotFoundError(
                reference,
                active,
                detail=f"{td.ref} is {td.status} and cannot start new tasks or services; "
                "register it again or use an ACTIVE revision",
            )
        if len(self._resolved) >= _RESOLVED_KEPT:
            self._resolved.clear()
        self._resolved[reference] = td
        return td

    def list_arns(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] = "ACTIVE",
        sort: Literal["ASC", "DESC"] = "ASC",
    ) -> list[str]:
        """ARNs of the revisions with ``status``, by family then revision."""
        if sort not in ("ASC", "DESC"):
            raise InvalidParameterError(f"sort must be 'ASC' or 'DESC', got {sort!r}")
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise InvalidParameterError(
                f"status must be ACTIVE, INACTIVE or DELETE_IN_PROGRESS, got {status!r}"
            )
        rows = [
            (family, rev, str(td.task_definition_arn))
            for family, revisions in self._families.items()
            if family_prefix is None or family.startswith(family_prefix)
            for rev, td in revisions.items()
            if td.status == status
        ]
        rows.sort(reverse=sort == "DESC")
        return [arn for _, _, arn in rows]

    def list_families(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "ALL"] = "ACTIVE",
    ) -> list[str]:
        """Family names; a family is ACTIVE while any of its revisions is."""
        if status not in ("ACTIVE", "INACTIVE", "ALL"):
            raise InvalidParameterError(f"status must be ACTIVE, INACTIVE or ALL, got {status!r}")
        out = []
        for family, revisions in sorted(self._families.items()):
            if family_prefix is not None and not family.startswith(family_prefix):
                continue
            active = any(td.status == "ACTIVE" for td in revisions.values())
            if status == "ALL" or (status == "ACTIVE") == active:
                out.append(family)
        return out

    # -- references ------------------------------------------------------------------------

    def _exact(self, reference: str, *, action: str) -> TaskDefinition:
        _, revision = self._split(reference)
        if revision is None:
            raise InvalidParameterError(
                f"cannot {action} {reference!r}: name a revision, as 'family:revision' or its ARN"
            )
        return self.describe(reference)

    @staticmethod
    def _split(reference: str) -> tuple[str, int | None]:
        if not isinstance(reference, str) or not reference:
            raise InvalidParameterError(
                f"a task definition reference must be 'family', 'family:revision' or an "
                f"ARN, got {reference!r}"
            )
        m = TASK_DEFINITION_ARN_RE.match(reference)
        if m:
            return m.group("family"), int(m.group("revision"))
        if reference.startswith("arn:"):
            raise InvalidParameterError(
                f"{reference!r} is not a task definition ARN "
                "(arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>)"
            )
        family, sep, rev = reference.partition(":")
        if not sep:
            return family, None
        if not re.fullmatch(r"[0-9]{1,9}", rev) or int(rev) < 1:
            raise InvalidParameterError(
                f"{reference!r}: the revision after ':' must be a number from 1"
            )
        return family, int(rev)
