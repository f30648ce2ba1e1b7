"""What the process backend derives from a container definition, before anything runs.

Pure functions and small values: the program (``entryPoint`` + ``command``), the environment
(a minimal base, then what the task definition gives, resolved by the rules every backend
shares: :mod:`pyecs.backends._shared`), the working directory, the user, the ulimits, the
host ports, and the host as an ECS container instance.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import platform
import pwd
import resource
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from pyecs.abc import ContainerLaunch, ContainerStartError
from pyecs.backends._shared import resolve_environment
from pyecs.models.instance import InstanceSpec
from pyecs.models.task import NetworkBinding
from pyecs.models.task_definition import ContainerDefinition

__all__ = [
    "BASE_ENVIRONMENT",
    "ContainerPlan",
    "PortAllocator",
    "PortRequest",
    "UserSwitch",
    "host_instance",
    "plan_container",
    "port_environment",
    "port_requests",
    "resolve_user",
]

#: The variables a container inherits from the Python process (when they are set there).
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ECS ulimit names -> resource constants (RLIMIT_LOCKS is 10 on Linux; Python lacks it).
_RLIMITS: dict[str, int] = {
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "memlock": resource.RLIMIT_MEMLOCK,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "stack": resource.RLIMIT_STACK,
}
for _name, _const in (
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
):
    if hasattr(resource, _const):
        _RLIMITS[_name] = getattr(resource, _const)
if sys.platform.startswith("linux"):
    _RLIMITS["locks"] = getattr(resource, "RLIMIT_LOCKS", 10)


def _create_error(message: str) -> ContainerStartError:
    return ContainerStartError("CannotCreateContainerError", message)


def _start_error(message: str) -> ContainerStartError:
    return ContainerStartError("CannotStartContainerError", message)


@attrs.frozen
class ContainerPlan:
    """A container definition resolved for the process backend (ports come at start)."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    rlimits: tuple[tuple[int, int, int], ...]
    user: str | None
    health_argv: tuple[str, ...] | None


async def plan_container(launch: ContainerLaunch, *, inherit_environment: bool) -> ContainerPlan:
    """Resolve what can be resolved at create time. The task definition's environment
    comes from :func:`pyecs.backends._shared.resolve_environment`, the rules every backend
    shares; the base below it (``BASE_ENVIRONMENT`` or, with ``inherit_environment``, this
    process's whole environment) is the process backend's own.

    Raises:
        ContainerStartError: ``CannotCreateContainerError`` (no program, an environment file
            or a secret that cannot be read, a ulimit this platform lacks).
    """
    c = launch.definition
    argv = tuple(c.entry_point or ()) + tuple(c.command or ())
    if not argv:
        raise _create_error(
            f"container {launch.name!r} has no entryPoint or command: the process backend "
            'runs programs, not images; add "command": [...]'
        )
    cwd = Path(c.working_directory or ".").expanduser()
    return ContainerPlan(
        argv=argv,
        env=_environment(inherit_environment, await resolve_environment(c)),
        cwd=str(cwd if cwd.is_absolute() else Path.cwd() / cwd),
        rlimits=_rlimits(c),
        user=c.user,
        health_argv=_health_argv(c),
    )


def _environment(inherit: bool, resolved: Mapping[str, str]) -> dict[str, str]:
    """The base (this process's whole environment, or the minimal one), then the task
    definition's environment over it."""
    if inherit:
        env = dict(os.environ)
    else:
        env = {k: os.environ[k] for k in BASE_ENVIRONMENT if k in os.environ}
        env.setdefault("PATH", _DEFAULT_PATH)
    env.update(resolved)
    return env


def _rlimits(c: ContainerDefinition) -> tuple[tuple[int, int, int], ...]:
    limits = []
    for u in c.ulimits or ():
        res = _RLIMITS.get(str(u.name))
        if res is None:
            raise _create_error(
                f"container {c.name!r}: ulimit {u.name!r} does not exist on {sys.platform}; "
                "remove it from ulimits"
            )
        soft = int(u.soft_limit if u.soft_limit is not None else resource.RLIM_INFINITY)
        hard = int(u.hard_limit if u.hard_limit is not None else soft)
        if os.geteuid() != 0:
            _, current_hard = resource.getrlimit(res)
            if current_hard != resource.RLIM_INFINITY and (
                hard == resource.RLIM_INFINITY or hard > current_hard
            ):
                raise _create_error(
                    f"container {c.name!r}: ulimit {u.name} hard limit {hard} is above this "
                    f"process's {current_hard}, and only root may raise it; lower hardLimit"
                )
        limits.append((res, soft, hard))
    return tuple(limits)


def _health_argv(c: ContainerDefinition) -> tuple[str, ...] | None:
    hc = c.health_check
    if hc is None or not hc.command or not hc.is_probe:
        return None  # another kind than CMD/CMD-SHELL: Docker runs no probe either
    kind, *rest = hc.command
    if kind == "CMD-SHELL":
        return ("/bin/sh", "-c", " ".join(rest))
    return tuple(rest)


# -- users -------------------------------------------------------------------------------


@attrs.frozen
class UserSwitch:
    """The ids to switch to before ``exec`` (None when no switch is needed)."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str | None


def resolve_user(user: str | None, container: str) -> UserSwitch | None:
    """Resolve ECS ``user`` (``name``, ``uid``, ``name:group``, ``uid:gid``...).

    Raises:
        ContainerStartError: ``CannotStartContainerError`` for an unknown user or group, or
            another user than the current one when not running as root.
    """
    if not user:
        return None
    name, _, group = user.partition(":")
    entry: pwd.struct_passwd | None
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        if not name.isdigit():
            raise _start_error(
                f"container {container!r}: unable to find user {name}: no matching entries "
                "in passwd file; use a user of this machine or a numeric uid"
            ) from None
        entry = None
    uid = int(name) if entry is None else entry.pw_uid
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise _start_error(
                f"container {container!r}: unable to find group {group}: no matching entries "
                "in group file; use a group of this machine or a numeric gid"
            ) from None
    else:
        gid = entry.pw_gid if entry is not None else 0
    if os.geteuid() != 0:
        if uid == os.geteuid() and (not group or gid == os.getegid()):
            return None
        raise _start_error(
            f"container {container!r} asks for user {user!r}, but this process runs as uid "
            f'{os.geteuid()} and only root can switch users; remove "user" or run as root'
        )
    groups = tuple(os.getgrouplist(entry.pw_name, gid)) if entry is not None else (gid,)
    return UserSwitch(uid, gid, groups, entry.pw_dir if entry is not None else None)


# -- ports -------------------------------------------------------------------------------


@attrs.frozen
class PortRequest:
    """One port to publish: ``host_port`` None asks for a dynamic one."""

    container_port: int
    protocol: str
    host_port: int | None


def port_requests(launch: ContainerLaunch) -> list[PortRequest]:
    """The container's port mappings, ranges expanded, in definition order.

    In ``host`` and ``awsvpc`` network modes a mapping without a host port is static on
    the container port, as in ECS; otherwise it is dynamic.
    """
    host_mode = launch.task.task_definition.effective_network_mode in ("host", "awsvpc")
    out = []
    for pm in launch.definition.port_mappings or ():
        if pm.container_port_range:
            lo, _, hi = pm.container_port_range.partition("-")
            ports = range(int(lo), int(hi or lo) + 1)
        else:
            ports = range(int(pm.container_port or 0), int(pm.container_port or 0) + 1)
        for port in ports:
            static = pm.host_port or (port if host_mode else None)
            out.append(PortRequest(port, pm.effective_protocol, static))
    return out


def port_environment(bindings: Sequence[NetworkBinding], bind_ip: str) -> dict[str, str]:
    """``PORT``, ``PYECS_HOST`` and ``PYECS_PORT_<containerPort>[_UDP]``."""
    env = {"PYECS_HOST": bind_ip}
    if bindings:
        env["PORT"] = str(bindings[0].host_port)
    for b in bindings:
        suffix = "_UDP" if b.protocol == "udp" else ""
        env[f"PYECS_PORT_{b.container_port}{suffix}"] = str(b.host_port)
    return env


class PortAllocator:
    """Host ports of one bind address: checked free with the OS, and not handed out twice."""

    def __init__(self, bind_ip: str) -> None:
        self.bind_ip = bind_ip
        self._family = socket.AF_INET6 if ":" in bind_ip else socket.AF_INET
        self._held: set[tuple[str, int]] = set()

    def allocate(self, requests: Sequence[PortRequest], container: str) -> list[NetworkBinding]:
        """Reserve every requested port, or none of them.

        Raises:
            ContainerStartError: ``CannotStartContainerError`` when a static port is taken.
        """
        taken: list[tuple[str, int]] = []
        try:
            for req in requests:
                port = self._static(req, container) if req.host_port else self._dynamic(req)
                self._held.add((req.protocol, port))
                taken.append((req.protocol, port))
        except BaseException:
            self._held.difference_update(taken)
            raise
        return [
            NetworkBinding(self.bind_ip, req.container_port, port, req.protocol)
            for req, (_, port) in zip(requests, taken, strict=True)
        ]

    def release(self, bindings: Sequence[NetworkBinding]) -> None:
        """Give the ports of an exited container back."""
        for b in bindings:
            self._held.discard((b.protocol, b.host_port))

    def _static(self, req: PortRequest, container: str) -> int:
        port = int(req.host_port or 0)
        if (req.protocol, port) in self._held or self._bind(req.protocol, port) is None:
            proto = "" if req.protocol == "tcp" else f"{req.protocol} "
            raise _start_error(
                f"container {container!r}: {proto}port {port} is already in use on "
                f"{self.bind_ip}; stop what listens there, or use a dynamic host port "
                "(hostPort 0)"
            )
        return port

    def _dynamic(self, req: PortRequest) -> int:
        for _ in range(64):
            port = self._bind(req.protocol, 0)
            if port is not None and (req.protocol, port) not in self._held:
                return port
        raise _start_error(f"no free {req.protocol} port on {self.bind_ip}")  # pragma: no cover

    def _bind(self, protocol: str, port: int) -> int | None:
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        with socket.socket(self._family, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # Ignore sockets in TIME_WAIT, as servers do; a listener still conflicts.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.bind_ip, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return None
                raise _start_error(f"cannot bind {self.bind_ip}:{port}: {exc}") from None
            return int(sock.getsockname()[1])


# -- the host as a container instance -----------------------------------------------------

_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def _total_memory_mib() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    return 1024  # pragma: no cover - no way to tell


def host_instance(
    *,
    cpu: int | None,
    memory: int | None,
    availability_zone: str,
    attributes: Mapping[str, str | None] | None,
) -> InstanceSpec:
    """This machine as one container instance, ``process-<hostname>``."""
    machine = platform.machine().lower()
    built_in: dict[str, str | None] = {
        "ecs.os-type": platform.system().lower() or "linux",
        "ecs.os-family": "LINUX" if sys.platform.startswith("linux") else platform.system(),
        "ecs.cpu-architecture": _ARCHITECTURES.get(machine, machine),
        "ecs.instance-type": "process",
        "ecs.availability-zone": availability_zone,
    }
    built_in.update(attributes or {})
    instance_id = f"process-{socket.gethostname()}"
    return InstanceSpec(
        cpu=(os.cpu_count() or 1) * 1024 if cpu is None else cpu,
        memory=_total_memory_mib() if memory is None else memory,
        attributes=built_in,
        id=instance_id,
    )
