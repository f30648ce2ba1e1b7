"""The seam through which task definitions reach ECS JSON and the ECS rules.

Models import nothing above them, yet ``TaskDefinition.from_dict`` and friends need the
converter and the validation rules of :mod:`pyecs.ecs`. That package installs its codec
here when it is imported, and ``pyecs/__init__.py`` imports it: importing any ``pyecs``
module imports the package first, so the codec is always in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from pyecs.models.task_definition import TaskDefinition

__all__ = ["TaskDefinitionCodec", "install_task_definition_codec", "task_definition_codec"]


class TaskDefinitionCodec(Protocol):
    """ECS JSON in and out of :class:`TaskDefinition`, and the ECS rules it must follow."""

    def structure(self, data: object, *, source: str | None) -> TaskDefinition:
        """Parsed ECS JSON -> a validated task definition."""
        ...

    def loads(self, text: str | bytes, *, source: str | None) -> TaskDefinition:
        """ECS JSON text -> a validated task definition."""
        ...

    def load_file(self, path: str | Path) -> TaskDefinition:
        """A ``task-definition.json`` file -> a validated task definition."""
        ...

    def unstructure(self, td: TaskDefinition, *, include_response_fields: bool) -> dict[str, Any]:
        """A task definition -> ECS camelCase JSON, unset fields omitted."""
        ...

    def validate(self, td: TaskDefinition) -> None:
        """Raise :class:`~pyecs.exceptions.InvalidTaskDefinitionError` listing every problem."""
        ...


_codec: TaskDefinitionCodec | None = None


def install_task_definition_codec(codec: TaskDefinitionCodec) -> None:
    """Make ``codec`` the one that every task definition uses (:mod:`pyecs.ecs` calls this)."""
    global _codec
    _codec = codec


def task_definition_codec() -> TaskDefinitionCodec:
    """The installed codec.

    Raises:
        RuntimeError: when none is installed, which only happens if ``pyecs.models`` was
            loaded without the ``pyecs`` package (importing ``pyecs`` installs it).
    """
    if _codec is None:
        raise RuntimeError(
            "no task-definition codec is installed: import pyecs (pyecs.ecs installs it)"
        )
    return _codec
