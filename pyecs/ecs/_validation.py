"""The ECS rules a task definition must follow, checked all at once.

Every rule that fails adds a :class:`Problem` with the JSON path of the offending value;
:func:`validate_task_definition` raises one :class:`InvalidTaskDefinitionError` with all
of them.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import re
import typing
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import attrs

from pyecs.ecs._api_schema import enum_values
from pyecs.ecs._converter import camel, check_model_types, unstructure_task_definition
from pyecs.ecs._rules import (
    fargate_problems,
    memory_budget_problems,
    task_definition_warnings,
    value_problems,
)
from pyecs.exceptions import (
    InvalidTaskDefinitionError,
    Problem,
    QuerySyntaxError,
    TaskDefinitionWarning,
)
from pyecs.models import task_definition as m
from pyecs.models._units import parse_cpu, parse_memory
from pyecs.placement.query import parse as parse_query

if TYPE_CHECKING:
    from pyecs.models.task_definition import ContainerDefinition, TaskDefinition

__all__ = [
    "quiet_warnings",
    "tag_problems",
    "text_problems",
    "unicode_problem",
    "validate_task_definition",
]

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_PORT_RANGE_RE = re.compile(r"^([0-9]{1,5})-([0-9]{1,5})$")
# The enum values come from botocore's ECS model (pyecs/ecs/_api_model.py).
_ULIMIT_NAMES = frozenset(enum_values("UlimitName"))
_LOG_DRIVERS = frozenset(enum_values("LogDriver"))
_NETWORK_MODES = enum_values("NetworkMode")
_CONDITIONS = enum_values("ContainerCondition")
_COMPATIBILITIES = enum_values("Compatibility")
_MAX_CONTAINERS = 10
_MAX_SIZE = 64 * 1024
_MAX_TAGS = 50


def _range(value: int | None, lo: int, hi: int, path: str, what: str, out: list[Problem]) -> None:
    if value is not None and not lo <= value <= hi:
        out.append(Problem(path, f"{what} must be between {lo} and {hi}, got {value}"))


_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("pyecs_td_quiet", default=False)


@contextlib.contextmanager
def quiet_warnings() -> typing.Iterator[None]:
    """No :class:`TaskDefinitionWarning` for the definitions built inside (copies that the
    registry makes of a definition already warned about)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def validate_task_definition(td: TaskDefinition) -> None:
    """Check every ECS rule; raise once with every problem found.

    A definition that passes but holds something ECS accepts without doing what its
    author may expect (see :func:`task_definition_warnings`) gets a
    :class:`~pyecs.TaskDefinitionWarning` per finding, naming its JSON path.

    Raises:
        InvalidTaskDefinitionError: when any rule fails.
    """
    problems = definition_problems(td)
    if problems:
        raise InvalidTaskDefinitionError(problems)
    if not _quiet.get():
        for w in task_definition_warnings(td):
            warnings.warn(
                f"{w.path}: {w.message}", TaskDefinitionWarning, stacklevel=_caller_level()
            )


def definition_problems(td: TaskDefinition) -> list[Problem]:
    """Every rule a definition breaks, with JSON paths (empty when it is valid)."""
    # A definition built in Python may hold values of any type: report them, as a JSON
    # document's would be, before the rules below (which rely on the types) run.
    problems = check_model_types(td)
    if not problems:
        # Text that cannot reach the OS (NUL characters, lone surrogates) first; a rule
        # below that trips over the same value would only say the same thing again.
        problems = text_problems(td)
        seen = {p.path for p in problems}
        problems.extend(p for p in _task_problems(td) if p.path not in seen)
        seen = {p.path for p in problems}
        problems.extend(p for p in value_problems(td) if p.path not in seen)
    return problems


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside pyecs, attrs and cattrs: the user's
    call that built the definition."""
    level = 1
    here = inspect.currentframe()
    frame = here.f_back if here is not None else None
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        generated = frame.f_code.co_filename.startswith("<")  # attrs' and cattrs' code
        if not generated and not module.startswith(("pyecs.", "attr", "cattr")):
            return level
        frame = frame.f_back
        level += 1
    return 1


def _task_problems(td: TaskDefinition) -> Iterator[Problem]:
    out: list[Problem] = []
    if td.family is None:
        out.append(Problem("family", "is required: 1-255 letters, digits, '-' or '_'"))
    elif not NAME_RE.match(td.family):
        out.append(Problem("family", f"{td.family!r} must be 1-255 letters, digits, '-' or '_'"))
    mode = td.network_mode
    if mode is not None and mode not in _NETWORK_MODES:
        out.append(Problem("networkMode", f"{mode!r} is not one of {', '.join(_NETWORK_MODES)}"))
    for i, comp in enumerate(td.requires_compatibilities or ()):
        if comp not in _COMPATIBILITIES:
            out.append(
                Problem(
                    f"requiresCompatibilities[{i}]",
                    f"{comp!r} is not one of {', '.join(_COMPATIBILITIES)}",
                )
            )
    task_cpu = _parse_task_value(td.cpu, "cpu", parse_cpu, out)
    task_memory = _parse_task_value(td.memory, "memory", parse_memory, out)
    fargate_problems(td, task_cpu, task_memory, out)
    memory_budget_problems(td, task_memory, out)
    if "FARGATE" in (td.requires_compatibilities or ()):
        for key, value in (("cpu", td.cpu), ("memory", td.memory)):
            if value is None:
                out.append(Problem(key, "is required at task level for FARGATE compatibility"))
        if mode != "awsvpc":
            out.append(Problem("networkMode", "must be 'awsvpc' for FARGATE compatibility"))
    for key, value in (("pidMode", td.pid_mode), ("ipcMode", td.ipc_mode)):
        allowed = enum_values("PidMode" if key == "pidMode" else "IpcMode")
        if value is not None and value not in allowed:
            out.append(Problem(key, f"{value!r} is not one of {', '.join(allowed)}"))

    containers = td.container_definitions
    if not containers:
        out.append(Problem("containerDefinitions", "at least one container is required"))
        containers = ()
    elif len(containers) > _MAX_CONTAINERS:
        out.append(
            Problem(
                "containerDefinitions",
                f"has {len(containers)} containers; ECS allows at most {_MAX_CONTAINERS} per "
                "task definition: split it into several task definitions",
            )
        )
    volume_names = _volume_problems(td, out)
    names: dict[str, int] = {}
    for i, c in enumerate(containers):
        if c.name is not None and NAME_RE.match(c.name):
            if c.name in names:
                out.append(
                    Problem(
                        f"containerDefinitions[{i}].name",
                        f"{c.name!r} is already the name of containerDefinitions"
                        f"[{names[c.name]}]; container names must be unique",
                    )
                )
            else:
                names[c.name] = i
    for i, c in enumerate(containers):
        _container_problems(
            td, c, f"containerDefinitions[{i}]", names, volume_names, task_memory, out
        )
    if containers and not any(c.is_essential for c in containers):
        out.append(Problem("containerDefinitions", "at least one container must be essential"))
    _host_port_clashes(td, out)
    _dependency_problems(td, names, out)
    _constraint_and_tag_problems(td, out)
    if task_cpu is not None and task_cpu <= 0:
        out.append(Problem("cpu", "must be a positive number of CPU units"))
    if task_memory is not None and task_memory < 6:
        out.append(Problem("memory", "must be at least 6 MiB"))
    if not out:
        out.extend(_size_problems(td))
    yield from out


def _parse_task_value(value: str | None, key: str, parse: object, out: list[Problem]) -> int | None:
    if value is None:
        return None
    try:
        return parse(value)  # type: ignore[operator, no-any-return]
    except ValueError as exc:
        out.append(Problem(key, str(exc)))
        return None
    except OverflowError:
        out.append(Problem(key, f"is too large ({len(value)} characters)"))
        return None


def _volume_problems(td: TaskDefinition, out: list[Problem]) -> set[str]:
    names: set[str] = set()
    for i, v in enumerate(td.volumes or ()):
        path = f"volumes[{i}]"
        if v.name is None or not NAME_RE.match(v.name):
            out.append(Problem(f"{path}.name", "is required: 1-255 letters, digits, '-' or '_'"))
        elif v.name in names:
            out.append(Problem(f"{path}.name", f"volume {v.name!r} is defined twice"))
        else:
            names.add(v.name)
        if v.host is not None and v.docker_volume_configuration is not None:
            out.append(Problem(path, "set either host or dockerVolumeConfiguration, not both"))
        dvc = v.docker_volume_configuration
        if dvc is not None:
            if dvc.scope is not None and dvc.scope not in ("task", "shared"):
                out.append(
                    Problem(
                        f"{path}.dockerVolumeConfiguration.scope",
                        f"{dvc.scope!r} is not one of task, shared",
                    )
                )
            if dvc.autoprovision and dvc.scope != "shared":
                out.append(
                    Problem(
                        f"{path}.dockerVolumeConfiguration.autoprovision",
                        "autoprovision is only allowed with scope 'shared'",
                    )
                )
        if (
            v.host is not None
            and v.host.source_path is not None
            and not (v.host.source_path.startswith("/"))
        ):
            out.append(
                Problem(
                    f"{path}.host.sourcePath", f"{v.host.source_path!r} must be an absolute path"
                )
            )
    return names


def _container_problems(
    td: TaskDefinition,
    c: ContainerDefinition,
    path: str,
    names: dict[str, int],
    volume_names: set[str],
    task_memory: int | None,
    out: list[Problem],
) -> None:
    if c.name is None:
        out.append(Problem(f"{path}.name", "is required: 1-255 letters, digits, '-' or '_'"))
    elif not NAME_RE.match(c.name):
        out.append(Problem(f"{path}.name", f"{c.name!r} must be 1-255 letters, digits, '-' or '_'"))
    if not c.image:
        out.append(Problem(f"{path}.image", "is required (an image name such as 'nginx:latest')"))
    elif len(c.image) > 255:
        out.append(Problem(f"{path}.image", "must be at most 255 characters"))
    if c.cpu is not None and c.cpu < 0:
        out.append(Problem(f"{path}.cpu", f"must be 0 or more CPU units, got {c.cpu}"))
    if c.memory is not None and c.memory < 6:
        out.append(Problem(f"{path}.memory", f"must be at least 6 MiB, got {c.memory}"))
    if c.memory_reservation is not None and c.memory_reservation < 6:
        out.append(
            Problem(
                f"{path}.memoryReservation", f"must be at least 6 MiB, got {c.memory_reservation}"
            )
        )
    if (
        c.memory is not None
        and c.memory_reservation is not None
        and c.memory <= c.memory_reservation
    ):
        out.append(
            Problem(
                f"{path}.memoryReservation",
                f"must be less than memory ({c.memory} MiB), got {c.memory_reservation}: "
                "memory is the hard limit, memoryReservation the soft one",
            )
        )
    if (
        task_memory is None
        and td.memory is None
        and c.memory is None
        and (c.memory_reservation is None)
    ):
        out.append(
            Problem(
                f"{path}.memory",
                "set memory or memoryReservation on the container, or memory on the task",
            )
        )
    if task_memory is not None and c.memory is not None and c.memory > task_memory:
        out.append(
            Problem(
                f"{path}.memory", f"{c.memory} MiB exceeds the task's memory ({task_memory} MiB)"
            )
        )
    _port_problems(td, c, path, out)
    _health_problems(c, path, out)
    for j, u in enumerate(c.ulimits or ()):
        up = f"{path}.ulimits[{j}]"
        if u.name not in _ULIMIT_NAMES:
            out.append(
                Problem(
                    f"{up}.name",
                    f"{u.name!r} is not a ulimit name; use one of "
                    f"{', '.join(sorted(_ULIMIT_NAMES))}",
                )
            )
        if u.soft_limit is None:
            out.append(Problem(f"{up}.softLimit", "is required"))
        if u.hard_limit is None:
            out.append(Problem(f"{up}.hardLimit", "is required"))
        if u.soft_limit is not None and u.hard_limit is not None and u.soft_limit > u.hard_limit:
            out.append(
                Problem(f"{up}.softLimit", f"{u.soft_limit} is above hardLimit {u.hard_limit}")
            )
    _range(c.stop_timeout, 0, 120, f"{path}.stopTimeout", "stopTimeout (seconds)", out)
    _range(c.start_timeout, 2, 600, f"{path}.startTimeout", "startTimeout (seconds)", out)
    for j, kv in enumerate(c.environment or ()):
        _env_name_problems(kv.name, f"{path}.environment[{j}].name", out)
    for j, ef in enumerate(c.environment_files or ()):
        if not ef.value:
            out.append(
                Problem(
                    f"{path}.environmentFiles[{j}].value",
                    "is required: ECS expects the ARN of an S3 object holding a .env file "
                    "(arn:aws:s3:::bucket/app.env); pyecs, which cannot reach S3, reads a "
                    "local path or file:// URL given here instead",
                )
            )
    for j, s in enumerate(c.secrets or ()):
        _env_name_problems(s.name, f"{path}.secrets[{j}].name", out)
        if not s.value_from:
            out.append(Problem(f"{path}.secrets[{j}].valueFrom", "is required"))
    for j, mp in enumerate(c.mount_points or ()):
        if not mp.container_path:
            out.append(Problem(f"{path}.mountPoints[{j}].containerPath", "is required"))
        if mp.source_volume is None:
            out.append(Problem(f"{path}.mountPoints[{j}].sourceVolume", "is required"))
        elif mp.source_volume not in volume_names:
            known = ", ".join(sorted(volume_names)) or "none are defined"
            out.append(
                Problem(
                    f"{path}.mountPoints[{j}].sourceVolume",
                    f"{mp.source_volume!r} is not a volume of this task ({known})",
                )
            )
    for j, vf in enumerate(c.volumes_from or ()):
        src = vf.source_container
        if src is None or src not in names or src == c.name:
            out.append(
                Problem(
                    f"{path}.volumesFrom[{j}].sourceContainer",
                    f"{src!r} must name another container of this task",
                )
            )
    for j, link in enumerate(c.links or ()):
        target = link.split(":", 1)[0]
        if td.effective_network_mode != "bridge":
            out.append(Problem(f"{path}.links[{j}]", "links are only allowed in bridge mode"))
        elif target not in names or target == c.name:
            out.append(
                Problem(
                    f"{path}.links[{j}]",
                    f"{link!r} must be 'name' or 'name:alias' of another container",
                )
            )
    lc = c.log_configuration
    if lc is not None:
        if lc.log_driver is None:
            out.append(Problem(f"{path}.logConfiguration.logDriver", "is required"))
        elif lc.log_driver not in _LOG_DRIVERS:
            out.append(
                Problem(
                    f"{path}.logConfiguration.logDriver",
                    f"{lc.log_driver!r} is not one of {', '.join(sorted(_LOG_DRIVERS))}",
                )
            )
    rp = c.restart_policy
    if rp is not None:
        if rp.enabled is None:
            out.append(Problem(f"{path}.restartPolicy.enabled", "is required"))
        if len(rp.ignored_exit_codes or ()) > 50:
            out.append(
                Problem(
                    f"{path}.restartPolicy.ignoredExitCodes", "at most 50 exit codes are allowed"
                )
            )
        _range(
            rp.restart_attempt_period,
            60,
            1800,
            f"{path}.restartPolicy.restartAttemptPeriod",
            "restartAttemptPeriod (seconds)",
            out,
        )
    lp = c.linux_parameters
    if lp is not None:
        if lp.shared_memory_size is not None and lp.shared_memory_size <= 0:
            out.append(
                Problem(
                    f"{path}.linuxParameters.sharedMemorySize", "must be a positive number of MiB"
                )
            )
        for j, t in enumerate(lp.tmpfs or ()):
            tp = f"{path}.linuxParameters.tmpfs[{j}]"
            if not t.container_path:
                out.append(Problem(f"{tp}.containerPath", "is required"))
            if t.size is None or t.size <= 0:
                out.append(Problem(f"{tp}.size", "is required: a positive number of MiB"))


def _env_name_problems(name: str | None, path: str, out: list[Problem]) -> None:
    """An environment variable name: not empty, and no '=' (NUL: see text_problems).

    ECS takes any string, but ``NAME=value`` is how every runtime passes a variable on:
    a name holding '=' would be split there, and Docker and the OS refuse it.
    """
    if not name:
        out.append(Problem(path, "is required: the environment variable's name"))
    elif "=" in name:
        out.append(
            Problem(
                path,
                f"environment variable names cannot contain '=' (got {name!r}): the "
                "variable would be split there; rename it",
            )
        )


def _port_problems(
    td: TaskDefinition, c: ContainerDefinition, path: str, out: list[Problem]
) -> None:
    mode = td.effective_network_mode
    if mode == "none" and c.port_mappings:
        out.append(
            Problem(
                f"{path}.portMappings",
                "networkMode 'none' allows no port mappings: remove them or use bridge",
            )
        )
        return
    for j, pm in enumerate(c.port_mappings or ()):
        pp = f"{path}.portMappings[{j}]"
        if pm.container_port_range is not None:
            rm = _PORT_RANGE_RE.match(pm.container_port_range)
            if not rm or not 1 <= int(rm.group(1)) < int(rm.group(2)) <= 65535:
                out.append(
                    Problem(
                        f"{pp}.containerPortRange",
                        f"{pm.container_port_range!r} must look like '8000-8010' "
                        "with ports from 1 to 65535, low to high",
                    )
                )
            if pm.container_port is not None or pm.host_port is not None:
                out.append(Problem(pp, "containerPortRange excludes containerPort and hostPort"))
        elif pm.container_port is None:
            out.append(Problem(f"{pp}.containerPort", "is required (1-65535)"))
        else:
            _range(pm.container_port, 1, 65535, f"{pp}.containerPort", "containerPort", out)
        _range(pm.host_port, 0, 65535, f"{pp}.hostPort", "hostPort", out)
        if pm.protocol is not None and pm.protocol not in ("tcp", "udp"):
            out.append(Problem(f"{pp}.protocol", f"{pm.protocol!r} is not one of tcp, udp"))
        if pm.app_protocol is not None and pm.app_protocol not in ("http", "http2", "grpc"):
            out.append(
                Problem(f"{pp}.appProtocol", f"{pm.app_protocol!r} is not one of http, http2, grpc")
            )
        if (
            mode in ("host", "awsvpc")
            and pm.host_port
            and pm.container_port is not None
            and pm.host_port != pm.container_port
        ):
            out.append(
                Problem(
                    f"{pp}.hostPort",
                    f"in {mode} network mode hostPort must be omitted or equal "
                    f"containerPort ({pm.container_port}), got {pm.host_port}",
                )
            )


def _host_port_clashes(td: TaskDefinition, out: list[Problem]) -> None:
    seen: dict[tuple[int, str], str] = {}
    host_mode = td.effective_network_mode in ("host", "awsvpc")
    for i, c in enumerate(td.containers):
        for j, pm in enumerate(c.port_mappings or ()):
            port = pm.host_port or (pm.container_port if host_mode else None)
            if not port:
                continue
            key = (port, pm.effective_protocol)
            here = f"containerDefinitions[{i}].portMappings[{j}]"
            if key in seen:
                out.append(
                    Problem(
                        f"{here}.hostPort",
                        f"host port {port}/{key[1]} is already used by {seen[key]}",
                    )
                )
            else:
                seen[key] = here


def _health_problems(c: ContainerDefinition, path: str, out: list[Problem]) -> None:
    hc = c.health_check
    if hc is None:
        return
    hp = f"{path}.healthCheck"
    cmd = hc.command or ()
    # ECS registers a command that starts with neither CMD nor CMD-SHELL (a warning says
    # what happens to it); CMD or CMD-SHELL alone has nothing to run.
    if not cmd or (cmd[0] in ("CMD", "CMD-SHELL") and len(cmd) < 2):
        out.append(
            Problem(
                f"{hp}.command",
                'must be "CMD" or "CMD-SHELL" followed by the command, e.g. '
                '["CMD-SHELL", "curl -f http://localhost/ || exit 1"]',
            )
        )
    _range(hc.interval, 5, 300, f"{hp}.interval", "interval (seconds)", out)
    _range(hc.timeout, 2, 60, f"{hp}.timeout", "timeout (seconds)", out)
    _range(hc.retries, 1, 10, f"{hp}.retries", "retries", out)
    _range(hc.start_period, 0, 300, f"{hp}.startPeriod", "startPeriod (seconds)", out)


def _dependency_problems(td: TaskDefinition, names: dict[str, int], out: list[Problem]) -> None:
    containers = td.containers
    edges: dict[str, list[str]] = {}
    for i, c in enumerate(containers):
        for j, dep in enumerate(c.depends_on or ()):
            dp = f"containerDefinitions[{i}].dependsOn[{j}]"
            target = dep.container_name
            if target is None or target not in names:
                known = f"it has {', '.join(sorted(names))}" if names else "it has none yet"
                message = (
                    f"is required: the name of another container of this task ({known})"
                    if target is None
                    else f"{target!r} is not a container of this task ({known})"
                )
                out.append(Problem(f"{dp}.containerName", message))
                continue
            if target == c.name:
                out.append(Problem(f"{dp}.containerName", "a container cannot depend on itself"))
                continue
            edges.setdefault(str(c.name), []).append(target)
            other = containers[names[target]]
            if dep.condition not in _CONDITIONS:
                out.append(
                    Problem(
                        f"{dp}.condition",
                        f"{dep.condition!r} is not one of {', '.join(_CONDITIONS)}",
                    )
                )
            elif dep.condition in ("COMPLETE", "SUCCESS") and other.is_essential:
                out.append(
                    Problem(
                        f"{dp}.condition",
                        f"{dep.condition} is not allowed on {target!r}, an essential "
                        'container; mark it "essential": false or use START/HEALTHY',
                    )
                )
            elif dep.condition == "HEALTHY" and other.health_check is None:
                out.append(
                    Problem(
                        f"{dp}.condition",
                        f"HEALTHY needs a healthCheck on {target!r}; add one or use START",
                    )
                )
    cycle = _find_cycle(edges)
    if cycle:
        first = names[cycle[0]]
        out.append(
            Problem(
                f"containerDefinitions[{first}].dependsOn",
                "dependency cycle: " + " -> ".join(cycle),
            )
        )


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    # Depth-first, with an explicit stack: a definition may have any number of containers
    # before the limit is reported, and recursion would overflow on a long chain.
    state: dict[str, int] = {}
    for start in sorted(edges):
        if start in state:
            continue
        state[start] = 1
        path = [start]
        todo = [iter(edges.get(start, ()))]
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                todo.pop()
                state[path.pop()] = 2
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(edges.get(nxt, ())))
    return None


def _constraint_and_tag_problems(td: TaskDefinition, out: list[Problem]) -> None:
    constraints = td.placement_constraints or ()
    if len(constraints) > 10:
        out.append(Problem("placementConstraints", "at most 10 placement constraints"))
    for i, pc in enumerate(constraints):
        cp = f"placementConstraints[{i}]"
        if pc.type != "memberOf":
            out.append(
                Problem(
                    f"{cp}.type",
                    f"{pc.type!r}: a task definition only allows 'memberOf' constraints "
                    "(give distinctInstance to run_task or create_service instead)",
                )
            )
        if pc.type != "memberOf" and not pc.expression:
            continue
        if not pc.expression:
            out.append(Problem(f"{cp}.expression", "is required for memberOf"))
        elif len(pc.expression) > 2000:
            out.append(Problem(f"{cp}.expression", "must be at most 2000 characters"))
        else:
            try:
                parse_query(pc.expression)
            except QuerySyntaxError as exc:
                out.append(Problem(f"{cp}.expression", f"{exc.reason} at column {exc.column}"))
    tags = td.tags or ()
    out.extend(tag_problems([(t.key, t.value) for t in tags], lambda i: f"tags[{i}]"))


def tag_problems(
    tags: Sequence[tuple[str | None, str | None]],
    item_path: Callable[[int], str],
    path: str = "tags",
) -> list[Problem]:
    """The ECS tag rules, for a task definition's tags and for ``run_task(tags=...)`` alike.

    At most 50 tags; each key 1-128 characters, unique, not starting with ``aws:``
    (reserved); each value at most 256 characters.

    Args:
        tags: ``(key, value)`` pairs, in order.
        item_path: The path of the i-th tag (``tags[0]``); ``.key`` or ``.value`` is added.
        path: The path of the tags as a whole.
    """
    out: list[Problem] = []
    if len(tags) > _MAX_TAGS:
        out.append(Problem(path, f"has {len(tags)} tags; at most {_MAX_TAGS} are allowed"))
    keys: set[str] = set()
    for i, (key, value) in enumerate(tags):
        where = item_path(i)
        if not key:
            out.append(Problem(f"{where}.key", "is required: 1-128 characters"))
        elif len(key) > 128:
            out.append(Problem(f"{where}.key", f"must be at most 128 characters, got {len(key)}"))
        elif key.lower().startswith("aws:"):
            out.append(Problem(f"{where}.key", "the 'aws:' prefix is reserved for AWS"))
        elif key in keys:
            out.append(Problem(f"{where}.key", f"{key!r} is given twice"))
        else:
            keys.add(key)
        if value is not None and len(value) > 256:
            out.append(
                Problem(f"{where}.value", f"must be at most 256 characters, got {len(value)}")
            )
    return out


def _size_problems(td: TaskDefinition) -> list[Problem]:
    size = len(
        json.dumps(
            unstructure_task_definition(td, include_response_fields=False), separators=(",", ":")
        )
    )
    if size > _MAX_SIZE:
        return [Problem("", f"is {size} bytes of JSON; ECS allows at most {_MAX_SIZE}")]
    return []


# -- text that cannot reach the OS ---------------------------------------------------------

_ARGUMENT = "which no process argument can hold"
_ENVIRONMENT = "which no environment variable can hold"
_PATH = "which no file path can hold"
_LABEL = "which no Docker label can hold"
_OTHER = "which Docker and the operating system cannot pass on (C strings end there)"

#: What a string at ``<model>.<field>`` becomes, for the NUL message. Unlisted fields get
#: the general reason: every string of a definition may reach Docker or a process.
_NUL_KINDS = {
    "ContainerDefinition.command": _ARGUMENT,
    "ContainerDefinition.entryPoint": _ARGUMENT,
    "HealthCheck.command": _ARGUMENT,
    "KeyValuePair.name": _ENVIRONMENT,
    "KeyValuePair.value": _ENVIRONMENT,
    "Secret.name": _ENVIRONMENT,
    "ContainerDefinition.workingDirectory": _PATH,
    "MountPoint.containerPath": _PATH,
    "Tmpfs.containerPath": _PATH,
    "HostVolumeProperties.sourcePath": _PATH,
    "EnvironmentFile.value": _PATH,
    "ContainerDefinition.dockerLabels": _LABEL,
    "DockerVolumeConfiguration.labels": _LABEL,
}


def unicode_problem(text: str, path: str, what: str = "") -> Problem | None:
    """A problem when ``text`` holds a lone surrogate (it cannot be encoded as UTF-8).

    JSON text ``"\\ud800"`` decodes to such a string; no file, argument or environment
    variable can hold it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = f"\\u{ord(text[exc.start]):04x}"
        return Problem(
            path,
            f"{what}is not valid Unicode (lone surrogate {char} at offset {exc.start}); "
            "write the character itself (a JSON surrogate pair such as \\ud83d\\ude00 is "
            "fine), or remove it",
        )
    return None


def _nul_problem(text: str, path: str, kind: str, what: str = "") -> Problem | None:
    at = text.find("\x00")
    if at < 0:
        return None
    return Problem(
        path, f"{what}contains a NUL character (\\u0000) at offset {at}, {kind}; remove it"
    )


def _shown_key(key: str) -> str:
    """A mapping key as a path shows it: NUL and lone surrogates escaped, else as it is."""
    if "\x00" not in key and unicode_problem(key, "") is None:
        return key
    return key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


def text_problems(td: TaskDefinition) -> list[Problem]:
    """Strings that could never reach a process or Docker: with a NUL character, or not
    valid Unicode (a lone surrogate), anywhere in the definition.

    Fields kept as plain JSON (cloud-only settings pyecs does not run) are only checked
    for valid Unicode.
    """
    out: list[Problem] = []
    _walk_model(td, "", out)
    return out


def _walk_model(obj: object, path: str, out: list[Problem]) -> None:
    cls: typing.Any = type(obj)  # an attrs model class
    plain_json = _plain_json_fields(cls)
    for a in attrs.fields(cls):
        value = getattr(obj, a.name)
        if value is None:
            continue
        key = camel(a.name)
        where = f"{path}.{key}" if path else key
        kind = None if a.name in plain_json else _NUL_KINDS.get(f"{cls.__name__}.{key}", _OTHER)
        if kind == _ENVIRONMENT and ".secretOptions[" in where:
            kind = _OTHER
        _walk_value(value, where, kind, out)


def _walk_value(value: object, path: str, kind: str | None, out: list[Problem]) -> None:
    """Check every string in ``value``; ``kind`` None: Unicode only (plain JSON)."""
    if isinstance(value, str):
        problem = unicode_problem(value, path)
        if problem is None and kind is not None:
            problem = _nul_problem(value, path, kind)
        if problem is not None:
            out.append(problem)
    elif attrs.has(type(value)):
        _walk_model(value, path, out)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _walk_value(item, f"{path}[{i}]", kind, out)
    elif isinstance(value, dict):
        for k, item in value.items():
            where = f"{path}.{_shown_key(k)}" if isinstance(k, str) else f"{path}.{k}"
            if isinstance(k, str):
                problem = unicode_problem(k, where, "this key ")
                if problem is None and kind is not None:
                    problem = _nul_problem(k, where, kind, "this key ")
                if problem is not None:
                    out.append(problem)
                    continue
            _walk_value(item, where, kind, out)


@functools.cache
def _plain_json_fields(cls: type) -> frozenset[str]:
    """The fields of a model kept as plain JSON (typed ``Json``, that is ``Any``)."""
    hints = typing.get_type_hints(cls, vars(m))
    return frozenset(name for name, tp in hints.items() if tp is typing.Any)
