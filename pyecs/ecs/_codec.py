"""The task-definition codec that :mod:`pyecs.ecs` installs into :mod:`pyecs.models`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyecs.ecs._converter import (
    load_task_definition_file,
    loads_task_definition,
    structure_task_definition,
    unstructure_task_definition,
)
from pyecs.ecs._validation import validate_task_definition
from pyecs.models._codec import install_task_definition_codec
from pyecs.models.task_definition import TaskDefinition

__all__ = ["install"]


class _EcsTaskDefinitionCodec:
    """ECS JSON through the one converter; the rules of :mod:`pyecs.ecs._validation`."""

    def structure(self, data: object, *, source: str | None) -> TaskDefinition:
        return structure_task_definition(data, source=source)

    def loads(self, text: str | bytes, *, source: str | None) -> TaskDefinition:
        return loads_task_definition(text, source=source)

    def load_file(self, path: str | Path) -> TaskDefinition:
        return load_task_definition_file(path)

    def unstructure(self, td: TaskDefinition, *, include_response_fields: bool) -> dict[str, Any]:
        return unstructure_task_definition(td, include_response_fields=include_response_fields)

    def validate(self, td: TaskDefinition) -> None:
        validate_task_definition(td)


def install() -> None:
    """Make every :class:`TaskDefinition` load, write and validate through :mod:`pyecs.ecs`."""
    install_task_definition_codec(_EcsTaskDefinitionCodec())
