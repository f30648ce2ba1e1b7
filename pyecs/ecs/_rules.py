"""ECS rules that span a whole task definition: Fargate sizes and volumes, the memory
budget, required members, and the warnings (accepted, but worth saying).

Each rule cites the ECS documentation it follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from pyecs.ecs._api_model import SHAPES
from pyecs.ecs._api_schema import check_shape, enum_problem, member_shape, model_shape
from pyecs.ecs._converter import camel
from pyecs.exceptions import Problem

if TYPE_CHECKING:
    from pyecs.models.task_definition import TaskDefinition

__all__ = [
    "FARGATE_SIZES",
    "fargate_problems",
    "memory_budget_problems",
    "task_definition_warnings",
    "value_problems",
]

_GIB = 1024

#: CPU units -> the memory sizes (MiB) Fargate offers with it. "Task CPU and memory",
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
#: and https://docs.aws.amazon.com/AmazonECS/latest/userguide/task-cpu-memory-error.html
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1 * _GIB, 2 * _GIB),
    512: tuple(range(1 * _GIB, 4 * _GIB + 1, _GIB)),
    1024: tuple(range(2 * _GIB, 8 * _GIB + 1, _GIB)),
    2048: tuple(range(4 * _GIB, 16 * _GIB + 1, _GIB)),
    4096: tuple(range(8 * _GIB, 30 * _GIB + 1, _GIB)),
    8192: tuple(range(16 * _GIB, 60 * _GIB + 1, 4 * _GIB)),
    16384: tuple(range(32 * _GIB, 120 * _GIB + 1, 8 * _GIB)),
}


def _sizes(mib: tuple[int, ...]) -> str:
    if len(mib) <= 4:
        return ", ".join(str(m) for m in mib)
    step = mib[1] - mib[0]
    return f"{mib[0]} to {mib[-1]} in steps of {step}"


def fargate_problems(
    td: TaskDefinition, cpu: int | None, memory: int | None, out: list[Problem]
) -> None:
    """The rules of a definition whose ``requiresCompatibilities`` holds ``FARGATE``.

    - ``cpu`` and ``memory`` must be one of Fargate's task sizes; ECS answers
      "Invalid 'cpu' setting for task." (or 'memory') otherwise.
    - A bind-mount volume may not name a ``sourcePath``: Fargate offers only bind mounts
      of task storage ("Bind mounts", developer guide: "sourcePath ... is not supported
      for tasks that are hosted on Fargate").
    """
    if "FARGATE" not in (td.requires_compatibilities or ()):
        return
    if cpu is not None and cpu not in FARGATE_SIZES:
        sizes = ", ".join(str(c) for c in FARGATE_SIZES)
        out.append(
            Problem(
                "cpu",
                f"Invalid 'cpu' setting for task: {cpu} CPU units is not a Fargate task size; "
                f"use one of {sizes} (256 is .25 vCPU, 1024 is 1 vCPU)",
            )
        )
    elif cpu is not None and memory is not None and memory not in FARGATE_SIZES[cpu]:
        out.append(
            Problem(
                "memory",
                f"Invalid 'memory' setting for task: with cpu {cpu} Fargate offers "
                f"{_sizes(FARGATE_SIZES[cpu])} MiB, not {memory}; change memory, or "
                "cpu to a size that offers it",
            )
        )
    for i, v in enumerate(td.volumes or ()):
        if v.host is not None and v.host.source_path is not None:
            out.append(
                Problem(
                    f"volumes[{i}].host.sourcePath",
                    "is not supported for FARGATE: Fargate bind mounts use the task's own "
                    'storage; write "host": {} (or leave host out), or drop FARGATE from '
                    "requiresCompatibilities",
                )
            )


def memory_budget_problems(td: TaskDefinition, task_memory: int | None, out: list[Problem]) -> None:
    """The containers' memory must fit in the task's.

    ContainerDefinition ``memory``: "If a task-level memory value is specified, the
    container-level memory value must be less than or equal to the task-level memory
    value"; ``memoryReservation``: "the total amount of memory reserved for all containers
    within a task must be lower than the task memory value, if one is specified" (ECS API
    reference). Each container counts with its hard limit, or its reservation when it has
    none.
    """
    if task_memory is None:
        return
    parts = [
        (c.name, c.memory if c.memory is not None else c.memory_reservation) for c in td.containers
    ]
    counted = [(name, mib) for name, mib in parts if mib is not None]
    total = sum(mib for _, mib in counted)
    # One container above the task's memory is reported at its own path already.
    alone = any(c.memory is not None and c.memory > task_memory for c in td.containers)
    if total > task_memory and not alone:
        shown = " + ".join(f"{mib} ({name})" for name, mib in counted)
        out.append(
            Problem(
                "memory",
                f"the containers need {total} MiB ({shown}), more than the task's "
                f"{task_memory} MiB; raise the task memory or lower the containers'",
            )
        )


# -- values: enums, ranges, required members (botocore's ECS model) -------------------------

#: What to do instead, for an enum value ECS refuses (by botocore shape).
_ENUM_HINTS = {
    "TaskDefinitionPlacementConstraintType": (
        "a task definition only allows memberOf constraints (give distinctInstance to "
        "run_task or create_service instead)"
    ),
    "LogDriver": (
        "ECS takes only these drivers (pyecs keeps each container's output itself, "
        "whichever is named)"
    ),
}


def value_problems(td: TaskDefinition) -> list[Problem]:
    """What botocore's ECS model refuses in a definition whose types are right.

    Enum values (networkMode, logDriver, versionConsistency, firelensConfiguration.type
    ...), the model's ranges, and the members it marks required: the ECS service refuses
    a request without them, as botocore does before sending it.
    """
    out: list[Problem] = []
    _walk_values(td, "", out)
    return out


def _walk_values(obj: object, path: str, out: list[Problem]) -> None:
    cls: Any = type(obj)  # an attrs model class
    shape = model_shape(cls.__name__)
    required = SHAPES[shape].get("required", ())
    for a in attrs.fields(cls):
        key = camel(a.name)
        where = f"{path}.{key}" if path else key
        value = getattr(obj, a.name)
        target = member_shape(shape, key)
        if value is None:
            if key in required:
                out.append(Problem(where, "is required"))
        elif target is not None:
            _value(value, target, where, out)


def _value(value: object, shape: str, path: str, out: list[Problem]) -> None:
    if attrs.has(type(value)):
        _walk_values(value, path, out)
    elif isinstance(value, tuple):
        item = SHAPES[shape]["member"]
        for i, v in enumerate(value):
            _value(v, item, f"{path}[{i}]", out)
    elif isinstance(value, str):
        problem = enum_problem(value, shape, path, _ENUM_HINTS.get(shape, ""))
        if problem is not None:
            out.append(problem)
    elif isinstance(value, dict | list):  # a member kept as plain JSON
        check_shape(value, shape, path, out, "values")


# -- warnings ------------------------------------------------------------------------------

_PROBE_KINDS = ("CMD", "CMD-SHELL")


def task_definition_warnings(td: TaskDefinition) -> list[Problem]:
    """What ECS accepts but does not do as the author may think, with JSON paths.

    - A ``healthCheck.command`` that starts with neither ``CMD`` nor ``CMD-SHELL``: the
      API reference asks for one of them, but registration does not enforce it (AWS's own
      OpenTelemetry collector templates use ``["/healthcheck"]``). The Docker engine runs
      no probe for such a test ("Unknown healthcheck type"), and neither does pyecs: the
      container's health stays UNKNOWN, and it counts as a container without a health
      check.
    """
    out: list[Problem] = []
    unprobed = {c.name for c in td.containers if c.health_check is not None}
    unprobed -= {c.name for c in td.containers if c.has_health_probe}
    for i, c in enumerate(td.containers):
        hc = c.health_check
        command = hc.command if hc is not None else None
        for j, dep in enumerate(c.depends_on or ()):
            if dep.condition == "HEALTHY" and dep.container_name in unprobed:
                out.append(
                    Problem(
                        f"containerDefinitions[{i}].dependsOn[{j}].condition",
                        f"HEALTHY waits for {dep.container_name!r}, whose health check does "
                        "not run (it starts with neither CMD nor CMD-SHELL): this container "
                        "would never start; fix that check or use START",
                    )
                )
        if command and command[0] not in _PROBE_KINDS:
            out.append(
                Problem(
                    f"containerDefinitions[{i}].healthCheck.command",
                    f"starts with {_clipped(command[0])}, not CMD or CMD-SHELL: ECS registers it, "
                    "but Docker (and pyecs) run no check for it, so the container's health "
                    'stays UNKNOWN; write ["CMD", ...] to run the command, or '
                    '["CMD-SHELL", "..."] to run it in a shell',
                )
            )
    return out


def _clipped(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message echoes what it was given,
    which may be any length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
