"""``ProcessBackend``: each container's ``entryPoint`` + ``command`` as a local process.

Like Nomad's ``raw_exec`` driver: no Docker, no images, no isolation. This machine is one
container instance; a container is a program started in a process group of its own, with
the task definition's environment, working directory, user and ulimits. Host ports are
checked and picked here and handed to the program in ``PORT`` / ``PYECS_PORT_<port>``,
since a process has no network namespace in which ``containerPort`` could mean anything.
Nothing outlives the Python process: see :mod:`pyecs.backends.process._spawn`.

See ``docs/backends.md`` for what is and is not enforced.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import attrs

from pyecs._pids import pid_alive
from pyecs.abc import (
    Backend,
    BackendCapabilities,
    ClusterContext,
    ContainerExit,
    ContainerLaunch,
    ContainerStartError,
    ContainerUsage,
    StartedContainer,
)
from pyecs.backends.process._config import (
    ContainerPlan,
    PortAllocator,
    host_instance,
    plan_container,
    port_environment,
    port_requests,
    resolve_user,
)
from pyecs.backends.process._health import HealthState, run_health_checks
from pyecs.backends.process._logs import LogCapture
from pyecs.backends.process._spawn import Child, SpawnSpec, argv0_error, docker_exit_code
from pyecs.backends.process._usage import group_usage
from pyecs.backends.process._watchdog import Watchdog
from pyecs.exceptions import BackendError, InvalidParameterError
from pyecs.models.instance import InstanceSpec
from pyecs.models.task import HealthStatus, NetworkBinding

__all__ = ["ProcessBackend"]

log = logging.getLogger("pyecs.backends.process")

_TMP_PREFIX = "pyecs-process-"
# How long aclose() waits for SIGKILLed processes to be reaped.
_KILL_GRACE = 5.0
# Spawns in flight at once; a spawning thread mostly waits for the child's exec.
_SPAWN_THREADS = 16


@attrs.define(eq=False)
class _Container:
    runtime_id: str
    launch: ContainerLaunch
    plan: ContainerPlan
    logs: LogCapture
    state: Literal["created", "starting", "running", "exited"] = "created"
    child: Child | None = None
    spec: SpawnSpec | None = None
    bindings: tuple[NetworkBinding, ...] = ()
    result: ContainerExit | None = None
    exited: anyio.Event = attrs.field(factory=anyio.Event)
    health: HealthState = attrs.field(factory=HealthState)
    health_scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    pump_scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)


class ProcessBackend(Backend):
    """Runs each container as a local child process; this machine is the one instance.

    Args:
        cpu: CPU units the instance offers; ``os.cpu_count() * 1024`` by default.
        memory: MiB the instance offers; the machine's total memory by default.
        availability_zone: The ``ecs.availability-zone`` attribute.
        attributes: Extra instance attributes (they win over the built-in ones).
        bind_ip: The address host ports are checked and reported on, and ``PYECS_HOST``.
        inherit_environment: Give containers the whole environment of this process
            instead of the minimal base (``PATH``, ``HOME``, ``LANG``, ``LC_ALL``, ``TZ``,
            ``TMPDIR``).
        health_check_time_scale: Multiplies every health-check timing (interval, timeout,
            start period). A testing aid: ``0.01`` turns ECS's minimum 5 s interval into
            50 ms. Leave it at 1.0 otherwise.

    ``open()`` and ``aclose()`` must be awaited in the same task (the cluster does): the
    backend's task group, which supervises the processes, lives between them.
    """

    name = "process"
    capabilities = BackendCapabilities(
        health_checks=True,
        memory_limit=False,
        images=False,
        logs=True,
        real_processes=True,
        shares_host_network=True,
        containers_outlive_process=False,
    )

    def __init__(
        self,
        *,
        cpu: int | None = None,
        memory: int | None = None,
        availability_zone: str = "local-1a",
        attributes: Mapping[str, str | None] | None = None,
        bind_ip: str = "127.0.0.1",
        inherit_environment: bool = False,
        health_check_time_scale: float = 1.0,
    ) -> None:
        if not health_check_time_scale > 0:
            raise InvalidParameterError(
                f"health_check_time_scale must be above 0, not {health_check_time_scale!r}"
            )
        self._instance = host_instance(
            cpu=cpu, memory=memory, availability_zone=availability_zone, attributes=attributes
        )
        self.bind_ip = bind_ip
        self.inherit_environment = inherit_environment
        self.health_check_time_scale = float(health_check_time_scale)
        self._ports = PortAllocator(bind_ip)
        self._containers: dict[str, _Container] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._tmp: Path | None = None
        self._watchdog: Watchdog | None = None
        self._marker = ""
        self._spawn_limiter: anyio.CapacityLimiter | None = None
        self._spawning = 0  # spawns in flight
        self._added = 0
        #: Instances managed scaling gave back, in order (for tests and curiosity).
        self.removed_instances: list[str] = []

    @property
    def instance(self) -> InstanceSpec:
        """This machine as a container instance."""
        return self._instance

    @property
    def running(self) -> list[str]:
        """Runtime ids of containers that started and have not exited."""
        return [rid for rid, c in self._containers.items() if c.state == "running"]

    # -- InstanceProvider: more instances as resource envelopes of this machine ----------

    async def add_instances(self, provider: str, count: int) -> Sequence[InstanceSpec]:
        """Instances for a capacity provider's managed scaling: envelopes of the size of
        :attr:`instance` on this same machine. Placement reserves within each; nothing
        enforces them (``capabilities.fargate_limits`` is False too)."""
        base = self._instance
        specs = []
        for _ in range(count):
            self._added += 1
            specs.append(
                attrs.evolve(
                    base,
                    id=f"process-{provider}-{self._added}",
                    ec2_instance_id=f"process-{provider}-{self._added}",
                )
            )
        return specs

    async def remove_instances(self, provider: str, instance_ids: Sequence[str]) -> None:
        """Nothing to stop: an envelope is only bookkeeping (its tasks are gone already)."""
        self.removed_instances.extend(instance_ids)

    def pid(self, runtime_id: str) -> int | None:
        """The process id of a running container (its process group id too)."""
        c = self._get(runtime_id)
        return c.child.pid if c.child is not None and c.state == "running" else None

    # -- open / close ----------------------------------------------------------------------

    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        """Start the supervising task group and the watchdog; return this machine."""
        if self._tg is not None:
            raise BackendError("this ProcessBackend is already open; use one per cluster")
        _remove_dead_leftovers()
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
        self._marker = f"{os.getpid()}-{secrets.token_hex(8)}"
        self._watchdog = Watchdog.start(f"PYECS_OWNER={self._marker}", self._tmp / "groups")
        self._spawn_limiter = anyio.CapacityLimiter(_SPAWN_THREADS)
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return [self._instance]

    async def aclose(self) -> None:
        """SIGKILL every process still running, stop the supervisors, remove the logs."""
        tg, self._tg = self._tg, None
        if tg is None:
            return
        try:
            live = [c for c in self._containers.values() if c.state == "running"]
            for c in live:
                assert c.child is not None
                c.child.kill_group(signal.SIGKILL)
            # The supervisors reap what was killed; cancelling them would reap it too.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_KILL_GRACE):
                for c in live:
                    await c.exited.wait()
            tg.cancel_scope.cancel()
            # (The task group's scope is the innermost one here, as it must be to exit.)
            await tg.__aexit__(None, None, None)
        finally:
            for c in self._containers.values():
                self._finish(c, ContainerExit(None))  # wakes any waiter of a created one
                c.logs.finish()
            self._containers.clear()
            if self._watchdog is not None:
                await self._watchdog.aclose()
                self._watchdog = None
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    # -- containers ------------------------------------------------------------------------

    async def create_container(self, container: ContainerLaunch) -> str:
        """Resolve the program, environment and limits; nothing runs yet."""
        if self._tmp is None:
            raise BackendError("the process backend is not open; open the cluster first")
        plan = await plan_container(container, inherit_environment=self.inherit_environment)
        rid = uuid.uuid4().hex
        self._containers[rid] = _Container(rid, container, plan, LogCapture(self._tmp / rid))
        return rid

    async def start_container(self, runtime_id: str) -> StartedContainer:
        """Pick the ports, spawn the program, start its supervisor, log reader and checks."""
        c = self._get(runtime_id)
        if self._tg is None:
            raise BackendError("the process backend is closed; open the cluster first")
        if c.state != "created" or c.result is not None:
            raise BackendError(f"container {runtime_id} cannot start: it is {c.state}")
        name = c.launch.name
        user = resolve_user(c.plan.user, name)
        bindings = self._ports.allocate(port_requests(c.launch), name)
        env = dict(c.plan.env)
        if user is not None and user.home and "HOME" not in c.launch.definition.environment_dict():
            env["HOME"] = user.home
        env.update(port_environment(bindings, self.bind_ip))
        env["PYECS_CONTAINER_NAME"] = name
        env["PYECS_TASK_ARN"] = c.launch.task.task_arn
        env["PYECS_OWNER"] = self._marker
        spec = SpawnSpec(
            argv=c.plan.argv,
            env=env,
            cwd=c.plan.cwd,
            rlimits=c.plan.rlimits,
            uid=None if user is None else user.uid,
            gid=None if user is None else user.gid,
            groups=None if user is None else user.groups,
        )
        read_end, write_end = os.pipe()
        c.state = "starting"
        try:
            child = await self._spawn(spec, output=write_end)
        except BaseException as exc:
            os.close(read_end)
            self._ports.release(bindings)
            c.state = "created"
            if isinstance(exc, OSError) and not os.path.isdir(spec.cwd):
                # (Looked at only now: a stat on every start would cost more.)
                detail = (
                    f"working directory {spec.cwd!r} does not exist; create it or fix "
                    "workingDirectory"
                )
            elif isinstance(exc, OSError):
                detail = argv0_error(spec.argv, exc)
            elif isinstance(exc, subprocess.SubprocessError):
                detail = f"cannot apply user or ulimits: {exc}"
            else:
                raise
            raise ContainerStartError(
                "CannotStartContainerError", f"container {name!r}: {detail}"
            ) from None
        finally:
            os.close(write_end)
        os.set_blocking(read_end, False)
        c.child, c.spec, c.bindings, c.state = child, spec, tuple(bindings), "running"
        if c.result is not None:  # stopped or removed while it was being spawned
            c.state = "exited"
            self._ports.release(c.bindings)
            child.kill_group(signal.SIGKILL)  # (the supervisor reaps it)
        self._tg.start_soon(self._guarded, self._supervise, c, name=f"pyecs-proc-{name}")
        self._tg.start_soon(self._guarded, functools.partial(self._pump, fd=read_end), c)
        if c.plan.health_argv is not None:
            self._tg.start_soon(self._guarded, self._health_checks, c)
        return StartedContainer(c.bindings)

    async def _guarded(self, fn: Callable[[_Container], Awaitable[None]], c: _Container) -> None:
        # The task group is the cluster's too: a failing helper must not cancel the cluster.
        try:
            await fn(c)
        except Exception:  # pragma: no cover - a bug; keep the cluster running
            log.exception("pyecs process backend: supervising %s failed", c.runtime_id)

    async def _supervise(self, c: _Container) -> None:
        child = c.child
        assert child is not None
        try:
            await child.wait_exit()
        finally:
            with anyio.CancelScope(shield=True):
                if not child.exit_seen:  # cancelled
                    child.kill_group(signal.SIGKILL)
                    await child.wait_exit()
                # A container's processes end with its main process (a PID namespace would
                # see to that); the zombie leader keeps the group id from being reused.
                child.kill_group(signal.SIGKILL)
                self._forget(child)
                code = docker_exit_code(child.reap())
                # Like `docker wait`: once the exit is reported, the logs are complete.
                c.logs.process_exited()
                if not c.logs.done:  # (usually the reader saw the end of file first)
                    with anyio.move_on_after(_KILL_GRACE):
                        await c.logs.drained.wait()
                self._finish(c, ContainerExit(code))

    async def _pump(self, c: _Container, fd: int) -> None:
        with c.pump_scope:
            await c.logs.pump(fd)

    async def _health_checks(self, c: _Container) -> None:
        hc = c.launch.definition.health_check
        assert hc is not None and c.plan.health_argv is not None and c.spec is not None
        spec = attrs.evolve(c.spec, argv=c.plan.health_argv)
        with c.health_scope:
            await run_health_checks(
                hc,
                spec,
                c.health,
                time_scale=self.health_check_time_scale,
                spawn=self._spawn,
                forget=self._forget,
            )

    async def _spawn(self, spec: SpawnSpec, output: int = subprocess.DEVNULL) -> Child:
        watched = self._watchdog is not None and self._watchdog.alive
        self._spawning += 1
        try:
            if watched and not spec.needs_setup:
                # One checkpoint lets the other starts of a burst get here meanwhile.
                await anyio.lowlevel.checkpoint()
            if watched and not spec.needs_setup and self._spawning > 1:
                # Others are spawning too: the vfork fast path in worker threads, so that
                # they overlap (a thread is fine here: only a parent-death signal is tied
                # to the forking thread).
                spawn = functools.partial(Child.spawn, spec, output=output)
                child = await anyio.to_thread.run_sync(spawn, limiter=self._spawn_limiter)
            else:
                # Alone (the fast path still, without a thread's two wake-ups), or with a
                # parent-death signal (always without a watchdog): on the loop's thread.
                death = None if watched else signal.SIGKILL
                child = Child.spawn(spec, output=output, death_signal=death)
        finally:
            self._spawning -= 1
        if self._watchdog is not None:
            self._watchdog.register(child.pid)
        return child

    def _forget(self, child: Child) -> None:
        if self._watchdog is not None:
            self._watchdog.forget(child.pid)

    def _finish(self, c: _Container, result: ContainerExit) -> None:
        if c.result is not None:
            return
        c.result = result
        if c.state != "starting":
            c.state = "exited"
        self._ports.release(c.bindings)
        if c.plan.health_argv is not None:  # (no checks, no task to cancel or watcher to wake)
            c.health_scope.cancel()
            c.health.finish()
        c.exited.set()

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """Wait for the exit (the supervisor awaits the process: no polling)."""
        c = self._get(runtime_id)
        await c.exited.wait()
        assert c.result is not None
        return c.result

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """SIGTERM the process group; SIGKILL it after ``timeout`` seconds; wait for the exit."""
        c = self._containers.get(runtime_id)
        if c is None or c.result is not None:
            return
        if c.child is None:  # created, never started (or being spawned: killed at once)
            self._finish(c, ContainerExit(None))
            return
        c.child.kill_group(signal.SIGTERM)
        with anyio.move_on_after(timeout):
            await c.exited.wait()
        if c.result is None:
            c.child.kill_group(signal.SIGKILL)
            await c.exited.wait()

    async def remove_container(self, runtime_id: str) -> None:
        """Kill what still runs, stop reading its output and delete its log."""
        c = self._containers.get(runtime_id)
        if c is None:
            return
        if c.child is not None and c.result is None:
            c.child.kill_group(signal.SIGKILL)
            await c.exited.wait()
        self._finish(c, ContainerExit(None))
        del self._containers[runtime_id]
        if not c.logs.done:
            c.pump_scope.cancel()
            c.logs.finish()
        c.logs.remove()

    async def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        """Yield HEALTHY / UNHEALTHY as they change; nothing without a health check."""
        c = self._get(runtime_id)
        if c.plan.health_argv is None:
            return
        async for status in c.health.changes():
            yield status

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        """CPU time and memory of each container's process group (one ``/proc`` scan, in
        a worker thread: it reads a file per process of the machine, which took up to
        14 ms on the event loop with ~70 processes under load, and grows with them)."""
        pgids = {}
        for rid in runtime_ids:
            c = self._containers.get(rid)
            if c is not None and c.child is not None and c.state == "running":
                pgids[c.child.pid] = rid
        if not pgids:
            return {}
        found = await anyio.to_thread.run_sync(group_usage, list(pgids))
        return {pgids[g]: u for g, u in found.items()}

    async def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        """Yield stdout and stderr lines, in the order written; ``follow`` waits for more."""
        c = self._get(runtime_id)
        async for line in c.logs.lines(follow=follow):
            yield line

    def _get(self, runtime_id: str) -> _Container:
        try:
            return self._containers[runtime_id]
        except KeyError:
            raise BackendError(
                f"no container {runtime_id!r} in the process backend (removed already?)"
            ) from None


def dead_run_dirs() -> list[Path]:
    """The temporary directories (logs, groups file) of backends whose process is gone."""
    found: list[Path] = []
    with contextlib.suppress(OSError):
        for path in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*-*"):
            pid = path.name[len(_TMP_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                found.append(path)
    return found


def _remove_dead_leftovers() -> None:
    """Delete the directories of earlier runs whose process is gone."""
    for path in dead_run_dirs():
        shutil.rmtree(path, ignore_errors=True)
