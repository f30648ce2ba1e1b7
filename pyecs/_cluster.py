"""``Cluster``: the owner of everything one ECS-style cluster runs, in-process."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from types import TracebackType
from typing import Literal

import anyio
import anyio.abc

from pyecs._arn import DEFAULT_ACCOUNT, DEFAULT_REGION, ArnFactory
from pyecs._registry import (
    DeleteTaskDefinitionsResult,
    TaskDefinitionRegistry,
    TaskDefinitionSource,
)
from pyecs.exceptions import ClusterClosedError, InvalidParameterError
from pyecs.models.task_definition import TaskDefinition

__all__ = ["Cluster"]

_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Cluster:
    """An ECS-style cluster whose control loop runs in the caller's event loop.

    Use it as an async context manager: leaving the block stops every task the cluster
    started and removes what it created, also on an exception or on cancellation.

    Args:
        name: The cluster name, 1-255 letters, digits, ``-`` or ``_``.
        region: The region written into ARNs (default ``local``).
        account: The account written into ARNs (default ``000000000000``).
        clock: Returns the current UTC time; tests may pass their own.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        clock: Callable[[], datetime.datetime] = _utcnow,
    ) -> None:
        if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
            raise InvalidParameterError(
                f"cluster name {name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        self.name = name
        self._arns = ArnFactory(name, region=region, account=account)
        self._clock = clock
        self._registry = TaskDefinitionRegistry(self._arns, clock=clock)
        self._task_group: anyio.abc.TaskGroup | None = None
        self._state: Literal["new", "open", "closed"] = "new"

    def __repr__(self) -> str:
        return f"<Cluster {self.name!r} {self._state}>"

    @property
    def arn(self) -> str:
        """``arn:aws:ecs:<region>:<account>:cluster/<name>``."""
        return self._arns.cluster_arn

    @property
    def is_open(self) -> bool:
        """True inside ``async with``."""
        return self._state == "open"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        if self._state != "new":
            raise ClusterClosedError(
                f"cluster {self.name!r} was already {self._state}; create a new Cluster"
            )
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        self._state = "open"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            await self.aclose()
        finally:
            tg, self._task_group = self._task_group, None
            if tg is not None:
                tg.cancel_scope.cancel()
                await tg.__aexit__(exc_type, exc, tb)
        return None

    async def aclose(self) -> None:
        """Stop everything this cluster started. Idempotent."""
        self._state = "closed"

    def _require_open(self) -> None:
        if self._state != "open":
            raise ClusterClosedError(
                f"cluster {self.name!r} is {self._state}: use it inside "
                f"`async with Cluster({self.name!r}) as cluster:`"
            )

    # -- task definitions ------------------------------------------------------------------

    async def register_task_definition(
        self, task_definition: TaskDefinitionSource
    ) -> TaskDefinition:
        """Register a revision of a task definition (a model, ECS JSON dict or file path).

        Returns:
            The registered definition, with ``revision``, ``task_definition_arn`` and
            ``status`` ACTIVE set.

        Raises:
            InvalidTaskDefinitionError: when the definition breaks an ECS rule.
        """
        self._require_open()
        return self._registry.register(task_definition)

    async def deregister_task_definition(self, reference: str) -> TaskDefinition:
        """Mark ``family:revision`` INACTIVE: no new tasks; running ones keep running."""
        self._require_open()
        return self._registry.deregister(reference)

    async def delete_task_definitions(self, references: list[str]) -> DeleteTaskDefinitionsResult:
        """Delete INACTIVE revisions; ACTIVE or unknown ones come back as failures."""
        self._require_open()
        return self._registry.delete(list(references))

    def describe_task_definition(self, reference: str) -> TaskDefinition:
        """Resolve ``family`` (latest ACTIVE revision), ``family:revision`` or an ARN.

        Raises:
            TaskDefinitionNotFoundError: naming what is registered.
        """
        return self._registry.describe(reference)

    def list_task_definitions(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] = "ACTIVE",
        sort: Literal["ASC", "DESC"] = "ASC",
    ) -> list[str]:
        """ARNs of registered revisions (ACTIVE by default), sorted by family and revision."""
        return self._registry.list_arns(family_prefix=family_prefix, status=status, sort=sort)

    def list_task_definition_families(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "ALL"] = "ACTIVE",
    ) -> list[str]:
        """Family names (ACTIVE: those with at least one ACTIVE revision)."""
        return self._registry.list_families(family_prefix=family_prefix, status=status)
