"""ECS JSON (camelCase) in and out of the pyecs models, through one cattrs converter.

This module builds :data:`converter` with the task-definition models (both ways);
:mod:`pyecs.ecs._shapes` adds the response shapes (tasks, services, failures...) to it.

Input is checked against the models' types *before* cattrs sees it, so wrong types, nulls,
unknown keys and nested garbage come back as one :class:`InvalidTaskDefinitionError`
listing every problem with its JSON path, never as a raw cattrs, attrs or TypeError
traceback.
"""

from __future__ import annotations

import difflib
import functools
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from pyecs._files import read_bounded
from pyecs.ecs._api_model import SHAPES
from pyecs.ecs._api_schema import (
    check_shape,
    describe_json,
    member_shape,
    model_shape,
    without_nulls,
)
from pyecs.exceptions import InvalidTaskDefinitionError, Problem
from pyecs.models import task_definition as m

__all__ = [
    "RESPONSE_ONLY_FIELDS",
    "TASK_DEFINITION_FILE_LIMIT",
    "check_model_types",
    "converter",
    "load_task_definition_file",
    "loads_task_definition",
    "structure_task_definition",
    "unstructure_task_definition",
]

#: describe-task-definition fields that are output only: accepted on load, never input.
RESPONSE_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)

#: The largest task-definition file read, whitespace included (1 MiB). ECS counts 64 KiB of
#: compact JSON, which validation checks; a pretty-printed file may be 2-3 times as big.
TASK_DEFINITION_FILE_LIMIT = 1024 * 1024

_MODELS: tuple[type, ...] = tuple(
    obj for obj in vars(m).values() if isinstance(obj, type) and attrs.has(obj)
)


def camel(name: str) -> str:
    """``container_port_range`` -> ``containerPortRange``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@functools.cache
def _schema(cls: type) -> dict[str, tuple[str, Any]]:
    """JSON key -> (attribute name, resolved type) for an attrs model class."""
    hints = typing.get_type_hints(cls, vars(m))
    return {camel(a.name): (a.name, hints[a.name]) for a in attrs.fields(cls)}


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(unstruct_collection_overrides={tuple: list}, detailed_validation=False)
    for cls in _MODELS:
        names: dict[str, Any] = {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **names))
        conv.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **names)
        )
    return conv


#: The one converter between ECS JSON and the models.
converter = _build_converter()


# -- type checking ahead of cattrs ---------------------------------------------------------


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if origin is tuple:
        return (
            f"a list of {_expected(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
        )
    if origin is dict:
        return "an object of string values"
    if attrs.has(tp):
        return "an object"
    return "a JSON value"


def _check(
    value: object, tp: Any, path: str, problems: list[Problem], shape: str | None = None
) -> None:
    """Check the JSON types of ``value`` against the model type ``tp``.

    A member the model keeps as plain JSON (``Any``) is checked against its botocore
    ``shape`` instead (types and unknown members; values come with the rules).
    """
    if tp is Any:
        if shape is not None:
            check_shape(value, shape, path, problems)
        return
    origin = typing.get_origin(tp)
    if origin is typing.Union or isinstance(tp, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        _check(value, inner[0], path, problems, shape)
        return
    ok = True
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    elif origin is tuple:
        if isinstance(value, list | tuple):
            item = typing.get_args(tp)[0]
            item_shape = SHAPES[shape]["member"] if shape is not None else None
            for i, v in enumerate(value):
                _check(v, item, f"{path}[{i}]", problems, item_shape)
            return
        ok = False
    elif origin is dict:
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(v, str):
                    problems.append(
                        Problem(f"{path}.{k}", f"must be a string, not {describe_json(v)}")
                    )
            return
        ok = False
    elif attrs.has(tp):
        if isinstance(value, dict):
            _check_object(value, tp, path, problems)
            return
        ok = False
    if not ok:
        problems.append(Problem(path, f"must be {_expected(tp)}, not {describe_json(value)}"))


def _check_object(data: Mapping[Any, Any], cls: type, path: str, problems: list[Problem]) -> None:
    schema = _schema(cls)
    shape = model_shape(cls.__name__)
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            inputs = [k for k in schema if k not in RESPONSE_ONLY_FIELDS]
            close = difflib.get_close_matches(str(key), inputs, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(where, f"unknown field {key!r}{hint}"))
            continue
        _check(value, schema[key][1], where, problems, member_shape(shape, key))


def _check_python(
    value: object, tp: Any, path: str, problems: list[Problem], shape: str | None = None
) -> None:
    """Like :func:`_check`, for a model built in Python: nested models are instances."""
    if value is None:
        return  # None is "unset" on a model
    if tp is Any:
        try:
            json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            problems.append(
                Problem(path, "must be a JSON value (dicts, lists, strings, numbers, bools, None)")
            )
            return
        if shape is not None:
            check_shape(value, shape, path, problems)
        return
    origin = typing.get_origin(tp)
    if origin is typing.Union or isinstance(tp, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        _check_python(value, inner[0], path, problems, shape)
        return
    if origin is tuple and isinstance(value, tuple):
        item = typing.get_args(tp)[0]
        item_shape = SHAPES[shape]["member"] if shape is not None else None
        for i, v in enumerate(value):
            if v is None:
                problems.append(Problem(f"{path}[{i}]", f"must be {_expected(item)}, not null"))
            else:
                _check_python(v, item, f"{path}[{i}]", problems, item_shape)
        return
    if attrs.has(tp) and isinstance(value, tp):
        check_model_types(value, path, problems)
        return
    if tp is str or tp is int or tp is bool or origin is dict:
        _check(value, tp, path, problems, shape)
        return
    if attrs.has(tp):
        got = (
            f"a {type(value).__name__}" if isinstance(value, dict | list) else describe_json(value)
        )
        problems.append(Problem(path, f"must be a {tp.__name__}, not {got}"))
    else:
        problems.append(Problem(path, f"must be {_expected(tp)}, not {describe_json(value)}"))


def check_model_types(
    obj: object, path: str = "", problems: list[Problem] | None = None
) -> list[Problem]:
    """Every field of a model (and the models it holds) whose value has the wrong type.

    Models built from JSON are checked on the way in; this covers those built in Python,
    such as ``ContainerDefinition(memory="512")``.
    """
    out: list[Problem] = [] if problems is None else problems
    cls: type = type(obj)
    shape = model_shape(cls.__name__)
    for key, (name, tp) in _schema(cls).items():
        where = f"{path}.{key}" if path else key
        _check_python(getattr(obj, name), tp, where, out, member_shape(shape, key))
    return out


# -- the public edges ----------------------------------------------------------------------


def _unwrap(data: object) -> object:
    """Accept describe-task-definition output: ``{"taskDefinition": {...}, "tags": [...]}``.

    boto3's response also carries ``ResponseMetadata``, which is dropped.
    """
    if isinstance(data, dict) and isinstance(data.get("taskDefinition"), dict):
        inner = dict(data["taskDefinition"])
        if "tags" in data and "tags" not in inner:
            inner["tags"] = data["tags"]
        extra = set(data) - {"taskDefinition", "tags", "ResponseMetadata"}
        if not extra:
            return inner
    return data


def structure_task_definition(data: object, *, source: str | None = None) -> m.TaskDefinition:
    """ECS JSON (parsed) -> :class:`TaskDefinition`, validated.

    Raises:
        InvalidTaskDefinitionError: listing every problem with its JSON path.
    """
    # JSON null is an absent member, at every level (old console exports are full of them).
    data = _unwrap(without_nulls(data))
    if not isinstance(data, dict):
        raise InvalidTaskDefinitionError(
            [Problem("", f"a task definition must be a JSON object, not {describe_json(data)}")],
            source=source,
        )
    data = dict(data)
    # Task-level cpu and memory are strings in ECS, but numbers are common in the wild.
    for key in ("cpu", "memory"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                data[key] = str(value)
            except ValueError:  # more digits than Python prints
                raise InvalidTaskDefinitionError(
                    [Problem(key, "is too large")], source=source
                ) from None
    problems: list[Problem] = []
    _check_object(data, m.TaskDefinition, "", problems)
    if problems:
        raise InvalidTaskDefinitionError(problems, source=source)
    try:
        return converter.structure(data, m.TaskDefinition)
    except InvalidTaskDefinitionError as exc:
        if source is None or exc.source is not None:
            raise
        raise InvalidTaskDefinitionError(exc.problems, source=source) from None


def loads_task_definition(text: str | bytes, *, source: str | None = None) -> m.TaskDefinition:
    """ECS JSON text -> :class:`TaskDefinition`; malformed JSON names line and column."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}" if source else f"line {exc.lineno}"
        raise InvalidTaskDefinitionError(
            [
                Problem(
                    "",
                    f"malformed JSON at {where} (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                )
            ],
            source=source,
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidTaskDefinitionError(
            [Problem("", f"not UTF-8 text: {exc.reason}")], source=source
        ) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python converts
        raise InvalidTaskDefinitionError(
            [Problem("", f"unreadable JSON: {exc}")], source=source
        ) from None
    except RecursionError:
        raise InvalidTaskDefinitionError(
            [Problem("", "malformed JSON: nested too deeply")], source=source
        ) from None
    return structure_task_definition(data, source=source)


def load_task_definition_file(path: str | Path) -> m.TaskDefinition:
    """Read and validate a ``task-definition.json`` file.

    Only a regular file of at most :data:`TASK_DEFINITION_FILE_LIMIT` bytes is read (not
    ``/dev/zero``, a FIFO or a directory): ECS takes at most 64 KiB of task definition JSON,
    which validation checks once the file is read.

    Raises:
        InvalidTaskDefinitionError: for malformed JSON or ECS rule violations.
        FileNotFoundError: when the file does not exist.
        OSError: when it cannot be read, is not a regular file or is too big; ``strerror``
            says which, and what to do.
    """
    p = Path(path)
    data = read_bounded(
        p,
        TASK_DEFINITION_FILE_LIMIT,
        what="a task-definition JSON file",
        too_big="ECS allows at most 65536 bytes of task definition JSON",
    )
    return loads_task_definition(data, source=str(p))


def unstructure_task_definition(
    td: m.TaskDefinition, *, include_response_fields: bool = True
) -> dict[str, Any]:
    """:class:`TaskDefinition` -> ECS camelCase JSON, unset fields omitted."""
    out: dict[str, Any] = converter.unstructure(td)
    if not include_response_fields:
        for key in RESPONSE_ONLY_FIELDS:
            out.pop(key, None)
    return out
