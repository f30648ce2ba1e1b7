"""ECS ``overrides`` for RunTask: per-container command, environment, cpu and memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from pyecs.ecs import quiet_warnings
from pyecs.exceptions import InvalidParameterError, InvalidTaskDefinitionError
from pyecs.models.task_definition import ContainerDefinition, KeyValuePair, TaskDefinition

__all__ = ["apply_overrides"]

_CONTAINER_KEYS = {"name", "command", "environment", "cpu", "memory", "memoryReservation"}
_TASK_KEYS = {"containerOverrides", "cpu", "memory"}


def apply_overrides(td: TaskDefinition, overrides: Mapping[str, Any] | None) -> TaskDefinition:
    """The task definition with an ECS ``TaskOverride`` applied.

    Supported: ``containerOverrides`` [{name, command, environment, cpu, memory,
    memoryReservation}], task ``cpu`` and ``memory``. Environment entries are merged
    (an override wins over the definition's value of the same name).

    Raises:
        InvalidParameterError: an unknown key or container name, or a wrong type.
    """
    if not overrides:
        return td
    if not isinstance(overrides, Mapping):
        raise InvalidParameterError("overrides must be a dict in the ECS TaskOverride shape")
    unknown = set(overrides) - _TASK_KEYS
    if unknown:
        raise InvalidParameterError(
            f"overrides: unsupported key(s) {sorted(unknown)}; pyecs applies {sorted(_TASK_KEYS)}"
        )
    containers = {c.name: c for c in td.containers}
    for i, co in enumerate(overrides.get("containerOverrides") or ()):
        where = f"overrides.containerOverrides[{i}]"
        if not isinstance(co, Mapping):
            raise InvalidParameterError(f"{where} must be a dict")
        bad = set(co) - _CONTAINER_KEYS
        if bad:
            raise InvalidParameterError(
                f"{where}: unsupported key(s) {sorted(bad)}; use {sorted(_CONTAINER_KEYS)}"
            )
        name = co.get("name")
        if name not in containers:
            raise InvalidParameterError(
                f"{where}.name: {name!r} is not a container of {td.family!r} "
                f"({', '.join(map(str, containers))})"
            )
        containers[name] = _override_container(containers[name], co, where)
    changes: dict[str, Any] = {"container_definitions": tuple(containers.values())}
    for key in ("cpu", "memory"):
        if key in overrides:
            changes[key] = str(overrides[key])
    try:
        with quiet_warnings():
            return attrs.evolve(td, **changes)
    except InvalidTaskDefinitionError as exc:
        raise InvalidParameterError(
            "overrides make the task definition invalid: " + "; ".join(str(p) for p in exc.problems)
        ) from None


def _override_container(
    c: ContainerDefinition, co: Mapping[str, Any], where: str
) -> ContainerDefinition:
    changes: dict[str, Any] = {}
    if "command" in co:
        cmd = co["command"]
        if not isinstance(cmd, list) or not all(isinstance(x, str) for x in cmd):
            raise InvalidParameterError(f"{where}.command must be a list of strings")
        changes["command"] = tuple(cmd)
    if "environment" in co:
        env = c.environment_dict()
        for j, kv in enumerate(co["environment"] or ()):
            if not isinstance(kv, Mapping) or not isinstance(kv.get("name"), str):
                raise InvalidParameterError(
                    f"{where}.environment[{j}] must be {{'name': ..., 'value': ...}}"
                )
            env[kv["name"]] = str(kv.get("value", ""))
        changes["environment"] = tuple(KeyValuePair(k, v) for k, v in env.items())
    for key, attr in (
        ("cpu", "cpu"),
        ("memory", "memory"),
        ("memoryReservation", "memory_reservation"),
    ):
        if key in co:
            value = co[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidParameterError(f"{where}.{key} must be an integer")
            changes[attr] = value
    return attrs.evolve(c, **changes)
