"""Checks of ECS JSON against botocore's ECS model (the copy in :mod:`._api_model`).

The members pyecs keeps as plain JSON (cloud-only settings such as ``runtimePlatform`` or
``efsVolumeConfiguration``) get their types, enum values, required members and ranges from
the model, as the typed members do from the pyecs models: a problem comes back as a
:class:`Problem` with its JSON path, never as a traceback.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pyecs.ecs._api_model import SHAPES
from pyecs.exceptions import Problem
from pyecs.models.task_definition import without_nulls

__all__ = [
    "REQUEST_SHAPE",
    "RESPONSE_SHAPE",
    "TYPE_NAMES",
    "check_shape",
    "describe_json",
    "enum_values",
    "member_shape",
    "model_shape",
    "shape",
    "without_nulls",
]

#: The request a task definition file is (``register-task-definition --cli-input-json``).
REQUEST_SHAPE = "RegisterTaskDefinitionRequest"
#: What ``describe-task-definition`` returns; its extra members are output only.
RESPONSE_SHAPE = "TaskDefinition"

#: pyecs model classes whose botocore shape has another name (the rest share theirs).
_MODEL_SHAPES = {
    "TaskDefinition": REQUEST_SHAPE,
    "RestartPolicy": "ContainerRestartPolicy",
    "Capabilities": "KernelCapabilities",
}

#: How a message names each JSON type of the model.
TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "boolean": "true or false",
    "double": "a number",
    "timestamp": "a timestamp (a number or ISO 8601 text)",
    "list": "a list",
    "map": "an object",
    "structure": "an object",
}


def shape(name: str) -> dict[str, Any]:
    """The botocore shape called ``name``."""
    return SHAPES[name]


def model_shape(cls_name: str) -> str:
    """The botocore shape of a pyecs task-definition model class, by class name."""
    return _MODEL_SHAPES.get(cls_name, cls_name)


def member_shape(shape_name: str, member: str) -> str | None:
    """The shape of ``member`` of the structure ``shape_name`` (None if it has none).

    The request shape also answers for the output-only members of a describe response.
    """
    members: dict[str, str] = SHAPES[shape_name].get("members", {})
    found = members.get(member)
    if found is None and shape_name == REQUEST_SHAPE:
        found = SHAPES[RESPONSE_SHAPE]["members"].get(member)
    return found


def enum_values(shape_name: str) -> tuple[str, ...]:
    """The enum values of a string shape (empty when it has no enum)."""
    values: tuple[str, ...] = SHAPES[shape_name].get("enum", ())
    return values


def describe_json(value: object) -> str:
    """A JSON value as a message shows it: its kind, and short values themselves."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str | int | float):
        kind = "a string" if isinstance(value, str) else "an integer"
        if isinstance(value, float):
            kind = "a number"
        try:
            shown = json.dumps(value)
        except ValueError:  # an int too long to print
            return f"{kind} (too large)"
        return f"{kind} ({shown[:40]}{'...' if len(shown) > 40 else ''})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a Python {type(value).__name__}"


def _type_ok(kind: str, value: object) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "double":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "timestamp":
        return isinstance(value, int | float | str) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list | tuple)
    return isinstance(value, Mapping)  # map, structure


def enum_problem(value: str, shape_name: str, path: str, hint: str = "") -> Problem | None:
    """A problem when ``value`` is not one of the enum values of ``shape_name``."""
    allowed = enum_values(shape_name)
    if not allowed or value in allowed:
        return None
    same_case = [a for a in allowed if a.lower() == value.lower()]
    close = same_case or difflib.get_close_matches(value, allowed, n=1)
    if close:
        hint = f"; did you mean {close[0]!r}?{' ' + hint if hint else ''}"
    elif hint:
        hint = f"; {hint}"
    return Problem(path, f"{value!r} is not one of {', '.join(allowed)}{hint}")


Part = Literal["types", "values"]


def check_shape(
    value: object, shape_name: str, path: str, problems: list[Problem], part: Part = "types"
) -> None:
    """Add a problem for everything in ``value`` that the shape does not allow.

    Validation runs in two parts, as for the typed members: ``"types"`` checks the JSON
    types and unknown members of structures (with a close match as a hint); ``"values"``
    (on a value whose types passed) checks enum values, integer and length ranges and
    missing required members. ``value`` is expected without ``null`` members
    (:func:`without_nulls`); a ``null`` list item is a type problem.
    """
    spec = SHAPES[shape_name]
    kind: str = spec["type"]
    if part == "types" and not _type_ok(kind, value):
        problems.append(Problem(path, f"must be {TYPE_NAMES[kind]}, not {describe_json(value)}"))
        return
    if kind == "string" and part == "values":
        assert isinstance(value, str)
        problem = enum_problem(value, shape_name, path)
        if problem is not None:
            problems.append(problem)
        _range(len(value), spec, path, "characters", problems)
    elif kind in ("integer", "long") and part == "values":
        assert isinstance(value, int)
        _range(value, spec, path, "", problems)
    elif kind == "list":
        assert isinstance(value, list | tuple)
        if part == "values":
            _range(len(value), spec, path, "items", problems)
        for i, item in enumerate(value):
            check_shape(item, spec["member"], f"{path}[{i}]", problems, part)
    elif kind == "map":
        assert isinstance(value, Mapping)
        for key, item in value.items():
            check_shape(item, spec["value"], f"{path}.{key}", problems, part)
    elif kind == "structure":
        assert isinstance(value, Mapping)
        _check_structure(value, shape_name, path, problems, part)


def _check_structure(
    value: Mapping[Any, Any], shape_name: str, path: str, problems: list[Problem], part: Part
) -> None:
    members: dict[str, str] = SHAPES[shape_name]["members"]
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        target = members.get(key)
        if target is None:
            if part == "types":
                close = difflib.get_close_matches(str(key), list(members), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(where, f"unknown field {key!r}{hint}"))
            continue
        if item is not None:
            check_shape(item, target, where, problems, part)
    if part == "values":
        for name in SHAPES[shape_name].get("required", ()):
            if value.get(name) is None:
                where = f"{path}.{name}" if path else name
                problems.append(Problem(where, "is required"))


def _range(n: int, spec: dict[str, Any], path: str, unit: str, problems: list[Problem]) -> None:
    lo, hi = spec.get("min"), spec.get("max")
    what = f" {unit}" if unit else ""
    if lo is not None and n < lo:
        if hi is not None:
            problems.append(Problem(path, f"must be {lo} to {hi}{what}, got {n}"))
        else:
            problems.append(Problem(path, f"must be at least {lo}{what}, got {n}"))
    elif hi is not None and n > hi:
        problems.append(Problem(path, f"must be at most {hi}{what}, got {n}"))
