"""The aws CLI's own checks of ``register-task-definition --cli-input-json`` (opt-in).

pyecs follows the ECS service, which is more lenient than the aws CLI: botocore checks a
request against the ECS model before it sends it, and refuses some files that the service
takes (the GitHub deploy action strips nulls for that reason). ``pyecs validate
--strict-cli`` adds these checks for users who register through the CLI:

- every member must be one of ``RegisterTaskDefinitionRequest``'s (so no describe output,
  its ``taskDefinition`` wrapper or its output-only members such as ``revision``);
- no ``null`` anywhere (botocore: "Invalid type for parameter ..., value: None");
- exact JSON types: task-level ``cpu`` and ``memory`` are strings (the service also takes
  numbers); integers where the model has integers;
- required members, and the model's minimum lengths and values.

botocore does not check enum values or maximums: the service does (the default checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyecs.ecs._api_model import SHAPES
from pyecs.ecs._api_schema import REQUEST_SHAPE, TYPE_NAMES, describe_json
from pyecs.exceptions import Problem

__all__ = ["cli_problems"]

_PREFIX = "the aws CLI refuses this before sending it: "

#: botocore's accepted Python types per shape type (``bool`` is an ``int`` to it, too).
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "double": (float, int),
    "timestamp": (str, int, float),
    "list": (list, tuple),
    "map": (dict,),
    "structure": (dict,),
}


def cli_problems(data: object) -> list[Problem]:
    """What the aws CLI (botocore's parameter validation) refuses in ``data``.

    Args:
        data: The parsed ``--cli-input-json`` document, nulls and all.

    Returns:
        A problem per finding, with its JSON path; empty when the CLI would send it.
    """
    out: list[Problem] = []
    _check(data, REQUEST_SHAPE, "", out)
    return out


def _check(value: object, shape_name: str, path: str, out: list[Problem]) -> None:
    spec: dict[str, Any] = SHAPES[shape_name]
    kind: str = spec["type"]
    if not isinstance(value, _TYPES[kind]):
        where = path or "(the document)"
        out.append(
            Problem(
                path,
                f"{_PREFIX}{where} must be {TYPE_NAMES[kind]}, not {describe_json(value)}"
                + ("; leave the member out instead of null" if value is None else ""),
            )
        )
        return
    lo = spec.get("min")
    if kind in ("string", "list") and lo is not None:
        assert isinstance(value, str | list | tuple)
        if len(value) < lo:
            out.append(Problem(path, f"{_PREFIX}length {len(value)} is below the minimum {lo}"))
    elif kind in ("integer", "long") and lo is not None:
        assert isinstance(value, int)
        if value < lo:
            out.append(Problem(path, f"{_PREFIX}{value} is below the minimum {lo}"))
    if kind == "list":
        assert isinstance(value, list | tuple)
        for i, item in enumerate(value):
            _check(item, spec["member"], f"{path}[{i}]", out)
    elif kind == "map":
        assert isinstance(value, Mapping)
        for key, item in value.items():
            _check(item, spec["value"], f"{path}.{key}", out)
    elif kind == "structure":
        assert isinstance(value, Mapping)
        members: dict[str, str] = spec["members"]
        for name in spec.get("required", ()):
            if name not in value:
                out.append(Problem(_join(path, name), f"{_PREFIX}missing required member"))
        for key, item in value.items():
            if key not in members:
                out.append(
                    Problem(
                        _join(path, str(key)),
                        f"{_PREFIX}unknown parameter {key!r} (a describe-task-definition "
                        "output must be trimmed to the register request's members)",
                    )
                )
                continue
            _check(item, members[key], _join(path, key), out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
