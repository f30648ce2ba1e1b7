"""``SimulatedBackend``: in-memory instances and containers, no processes, deterministic.

For scheduler and service tests without Docker, and for scale (thousands of instances).
Containers run until stopped unless a :class:`Behavior` says otherwise; behaviours are
chosen by image or by container name, so a test can say "image ``bad:2`` cannot be
pulled" or "container ``worker`` exits with 3 after 2 s". Time is anyio time: under trio's
``MockClock(autojump_threshold=0)`` a simulated minute passes at once.

A container's environment is resolved as on every backend
(:func:`pyecs.backends._shared.resolve_environment`: ``environmentFiles``, ``secrets``,
``environment``), so a file that cannot be read or a secret that is not set fails the
create the same way; :meth:`SimulatedBackend.environment` shows the result, and
``Behavior(print_environment=True)`` prints it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import anyio
import anyio.abc
import attrs

from pyecs._waits import Flag, first_completed
from pyecs.abc import (
    Backend,
    BackendCapabilities,
    ClusterContext,
    ContainerExit,
    ContainerLaunch,
    ContainerStartError,
    ContainerUsage,
    StartedContainer,
    TaskLaunch,
)
from pyecs.backends._shared import resolve_environment
from pyecs.exceptions import BackendError, InvalidParameterError
from pyecs.models.instance import InstanceSpec, uniform_instances
from pyecs.models.task import HealthStatus, NetworkBinding
from pyecs.models.task_definition import ContainerDefinition, TaskDefinition

__all__ = ["Behavior", "SimulatedBackend"]


@attrs.frozen
class Behavior:
    """What a simulated container does.

    Attributes:
        exit_code: Exit with this code after ``exit_after`` seconds; None runs until stopped.
        exit_after: Seconds after start before the exit.
        pull_error: Fail the task's image pull with this message (CannotPullContainerError).
        start_error: Fail the container start with this message (CannotStartContainerError).
        start_delay: Seconds ``start_container`` takes.
        health: ``(seconds after start, status)`` transitions for containers with a health
            check; the default turns HEALTHY at once.
        ignore_sigterm: On stop, keep running until the stop timeout, then exit 137.
        stop_exit_code: The exit code after a graceful stop.
        oom_after: Be OOM-killed (exit 137) this many seconds after start.
        logs: Lines the container prints at start.
        print_environment: Print the container's environment at start, before ``logs``:
            one ``NAME=value`` line per variable, in name order (as ``env`` would).
        spot_interruption_after: On FARGATE_SPOT, AWS takes the capacity back this many
            seconds after the task is RUNNING (a Spot interruption, with its warning).
        cpu: CPU the container uses while it runs, in CPU units (1024 = one vCPU busy);
            change it over time with :meth:`SimulatedBackend.set_load`.
        memory: Memory the container uses while it runs, in MiB.
    """

    exit_code: int | None = None
    exit_after: float = 0.0
    pull_error: str | None = None
    start_error: str | None = None
    start_delay: float = 0.0
    health: tuple[tuple[float, HealthStatus], ...] = ((0.0, "HEALTHY"),)
    ignore_sigterm: bool = False
    stop_exit_code: int = 0
    oom_after: float | None = None
    logs: tuple[str, ...] = ()
    print_environment: bool = False
    spot_interruption_after: float | None = None
    cpu: float = 0.0
    memory: float = 0.0


def _cpu_seconds(used: float, since: float, cpu: float, now: float) -> float:
    """CPU seconds used up to ``now``: ``used`` up to ``since``, then ``cpu`` units."""
    return used + max(0.0, now - since) * cpu / 1024


class _Container:
    """One simulated container.

    Its flags, health and log lists are made on first use: the containers of a large
    simulation (a million, started at once) carry only what they use.
    """

    __slots__ = (
        "_exited",
        "_health",
        "_health_changed",
        "_logs",
        "behavior",
        "cpu",
        "cpu_seconds",
        "definition",
        "environment",
        "memory",
        "on_exit",
        "result",
        "scope",
        "since",
        "started",
        "task_arn",
    )

    def __init__(
        self,
        task_arn: str,
        definition: ContainerDefinition,
        behavior: Behavior,
        environment: dict[str, str],
        *,
        on_exit: Callable[[str], None] | None = None,
    ) -> None:
        self.task_arn = task_arn
        self.definition = definition
        self.behavior = behavior
        self.environment = environment
        self.result: ContainerExit | None = None
        self.started = False
        self.scope: anyio.CancelScope | None = None
        #: Called once with ``task_arn`` when the container exits by itself (tasks
        #: started at once).
        self.on_exit = on_exit
        # The load while it runs (CPU units, MiB), and the CPU time integrated over its
        # changes (anyio time) up to ``since``.
        self.cpu = 0.0
        self.memory = 0.0
        self.since = 0.0
        self.cpu_seconds = 0.0
        self._exited: Flag | None = None
        self._health: list[HealthStatus] | None = None
        self._health_changed: Flag | None = None
        self._logs: list[str] | None = None

    def start(self, now: float) -> None:
        """Mark it started at ``now``, with its behaviour's load."""
        self.started = True
        self.cpu = self.behavior.cpu
        self.memory = self.behavior.memory
        self.since = now

    def change_load(self, now: float, cpu: float | None, memory: float | None) -> None:
        self.cpu_seconds = self.cpu_used(now)
        self.since = now
        if cpu is not None:
            self.cpu = cpu
        if memory is not None:
            self.memory = memory

    def cpu_used(self, now: float) -> float:
        """CPU seconds used up to ``now``."""
        return _cpu_seconds(self.cpu_seconds, self.since, self.cpu, now)

    @property
    def name(self) -> str:
        return str(self.definition.name)

    @property
    def exited(self) -> Flag:
        """Set once the container has exited (``result`` is then its exit)."""
        if self._exited is None:
            self._exited = Flag()
            if self.result is not None:
                self._exited.set()
        return self._exited

    def exit(self, result: ContainerExit) -> Callable[[str], None] | None:
        """Record the exit (the first one counts); returns the ``on_exit`` to call."""
        if self.result is not None:
            return None
        self.result = result
        if self._exited is not None:
            self._exited.set()
        if self.scope is not None:
            self.scope.cancel()
        on_exit, self.on_exit = self.on_exit, None
        return on_exit

    @property
    def health(self) -> list[HealthStatus]:
        """The health statuses reported so far, oldest first."""
        if self._health is None:
            self._health = []
        return self._health

    @property
    def health_changed(self) -> Flag:
        """Set at the next health status (then replaced by a new flag)."""
        if self._health_changed is None:
            self._health_changed = Flag()
        return self._health_changed

    def add_health(self, status: HealthStatus) -> None:
        self.health.append(status)
        changed, self._health_changed = self._health_changed, None
        if changed is not None:
            changed.set()

    @property
    def logs(self) -> list[str]:
        """The lines printed so far."""
        if self._logs is None:
            self._logs = []
        return self._logs


#: A container's plan in a start at once: definition, behaviour, environment, and whether
#: it prints nothing and publishes no port (it then needs no object of its own).
_Plan = tuple[ContainerDefinition, Behavior, dict[str, str], bool]


class _StartedAtOnce:
    """The plain containers (see ``_Plan``) of one start at once, as one record.

    A large simulation starts a million of them and most are never looked at again
    before they stop; each is this shared record under its runtime id until something
    needs it as a :class:`_Container` (:meth:`make`). Container ``sim-<n>`` is entry
    ``n - first`` (the ids of one start are consecutive).
    """

    __slots__ = ("first", "now", "on_exit", "plans", "task_arns")

    def __init__(self, first: int, now: float, on_exit: Callable[[str], None]) -> None:
        self.first = first
        self.now = now
        self.on_exit = on_exit
        self.task_arns: list[str] = []
        self.plans: list[_Plan | None] = []  # None: a container that has an object

    def plan(self, runtime_id: str) -> tuple[str, _Plan]:
        """The task and plan of one of these containers."""
        index = int(runtime_id[4:]) - self.first
        plan = self.plans[index]
        assert plan is not None
        return self.task_arns[index], plan

    def usage(self, runtime_id: str, now: float) -> ContainerUsage:
        """What one of these containers used up to ``now`` (its behaviour's load since
        the start), without making its object."""
        behavior = self.plan(runtime_id)[1][1]
        return ContainerUsage(_cpu_seconds(0.0, self.now, behavior.cpu, now), behavior.memory)

    def make(self, runtime_id: str) -> _Container:
        """The container, as the start at once would have made it."""
        task_arn, (definition, behavior, environment, _) = self.plan(runtime_id)
        c = _Container(task_arn, definition, behavior, environment, on_exit=self.on_exit)
        c.start(self.now)
        return c


#: The steps a start (a stop) at once stands for.
_START_STEPS = ("setup_task", "create_container", "start_container")
_STOP_STEPS = ("stop_container", "wait_container", "remove_container", "teardown_task")
#: Whether a class keeps SimulatedBackend's own steps (classes do not change: asked once).
_OWN_STEPS: dict[tuple[type, tuple[str, ...]], bool] = {}
#: What a container without port mappings reports at start (frozen: shared).
_NO_PORTS = StartedContainer(())


class SimulatedBackend(Backend):
    """In-memory instances and containers.

    Args:
        instances: The instances, or a count of uniform instances spread over ``zones``.
        zones: Availability zones for a count of instances.
        seed: Seeds the dynamic host ports and anything else random.
        behaviors: By image or container name (container name wins).
        default: The behaviour of everything else.
        pull_delay: Seconds every task's image pull takes.
        instance_start_delay: Seconds ``add_instances`` (managed scaling) takes.

    It is also an :class:`~pyecs.abc.InstanceProvider`: a capacity provider with managed
    scaling gets instances like the first of ``instances``.
    """

    name = "simulated"
    capabilities = BackendCapabilities(
        health_checks=True,
        memory_limit=False,
        images=False,
        logs=True,
        real_processes=False,
        shares_host_network=True,
        containers_outlive_process=False,
    )

    def __init__(
        self,
        instances: Sequence[InstanceSpec] | int = 1,
        *,
        zones: int = 3,
        seed: int = 0,
        behaviors: dict[str, Behavior] | None = None,
        default: Behavior | None = None,
        pull_delay: float = 0.0,
        instance_start_delay: float = 0.0,
    ) -> None:
        if isinstance(instances, int):
            if instances < 1:
                raise InvalidParameterError(f"instances must be 1 or more, got {instances}")
            instances = uniform_instances(instances, zones=zones)
        self._specs = list(instances)
        self.behaviors: dict[str, Behavior] = dict(behaviors or {})
        self.default = default or Behavior()
        self.pull_delay = pull_delay
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        #: By runtime id; a plain container started at once is its start's record.
        self._containers: dict[str, _Container | _StartedAtOnce] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._next_port = 32768 + self._random.randrange(1024)
        self.instance_start_delay = instance_start_delay
        self._added = itertools.count(1)
        self._last_environment: tuple[ContainerDefinition | None, dict[str, str]] = (None, {})
        self._zones = sorted(
            {z for sp in self._specs if (z := sp.attributes.get("ecs.availability-zone"))}
        )
        #: Instances managed scaling asked for and gave back, in order.
        self.added_instances: list[str] = []
        self.removed_instances: list[str] = []

    # -- InstanceProvider: simulated instances for managed scaling ------------------------

    async def add_instances(self, provider: str, count: int) -> Sequence[InstanceSpec]:
        """New instances like the first one this backend was given, in zones round-robin;
        ids ``<provider>-i-<n>``. Takes ``instance_start_delay`` seconds (anyio time)."""
        if self.instance_start_delay:
            await anyio.sleep(self.instance_start_delay)
        template = self._specs[0]
        specs = []
        for _ in range(count):
            n = next(self._added)
            zone = self._zones[n % len(self._zones)] if self._zones else None
            attributes = dict(template.attributes)
            if zone is not None:
                attributes["ecs.availability-zone"] = zone
            specs.append(
                attrs.evolve(
                    template,
                    id=f"{provider}-i-{n:017x}",
                    ec2_instance_id=f"{provider}-i-{n:017x}",
                    attributes=attributes,
                )
            )
        self.added_instances.extend(s.id or "" for s in specs)
        return specs

    async def remove_instances(self, provider: str, instance_ids: Sequence[str]) -> None:
        """Record the instances as terminated."""
        self.removed_instances.extend(instance_ids)

    def spot_interruption_after(self, task: TaskLaunch) -> float | None:
        """Seconds after start at which a FARGATE_SPOT task of this definition is
        interrupted (a container's :class:`Behavior` ``spot_interruption_after``)."""
        delays = [
            b.spot_interruption_after
            for c in task.task_definition.containers
            for b in (self.behaviors.get(str(c.name)) or self.behaviors.get(str(c.image)),)
            if b is not None and b.spot_interruption_after is not None
        ]
        return min(delays) if delays else None

    # -- test hooks ------------------------------------------------------------------------

    def set_behavior(self, key: str, behavior: Behavior) -> None:
        """Make containers with this image or container name behave like ``behavior``."""
        self.behaviors[key] = behavior

    def kill(self, runtime_id: str, exit_code: int = 137) -> None:
        """Kill a running container from outside (like ``docker kill``)."""
        self._exit(self._get(runtime_id), ContainerExit(exit_code))

    def set_health(self, runtime_id: str, status: HealthStatus) -> None:
        """Change a running container's health at once."""
        self._get(runtime_id).add_health(status)

    def set_load(self, key: str, *, cpu: float | None = None, memory: float | None = None) -> int:
        """Change the CPU (units) and memory (MiB) use of containers, from now on.

        ``key`` is a runtime id, a container name or an image: every running container it
        names changes at once, and containers started later with that name or image use
        the new load too. Returns how many running containers changed.

        Raises:
            InvalidParameterError: a negative load.
        """
        for label, value in (("cpu", cpu), ("memory", memory)):
            if value is not None and not value >= 0:
                raise InvalidParameterError(f"{label} load must be >= 0, got {value!r}")
        now = anyio.current_time()
        changed = 0
        for rid in list(self._containers):
            if not self._names(rid, key):
                continue
            c = self._find(rid)
            if c is not None and c.started and c.result is None:
                c.change_load(now, cpu, memory)
                changed += 1
        if key not in self._containers:
            base = self.behaviors.get(key, self.default)
            self.behaviors[key] = attrs.evolve(
                base,
                cpu=base.cpu if cpu is None else cpu,
                memory=base.memory if memory is None else memory,
            )
        return changed

    def environment(self, runtime_id: str) -> Mapping[str, str]:
        """The environment the task definition gives the container (as every backend
        resolves it; a real backend adds its own, such as ``PATH`` or ``PORT``)."""
        return dict(self._get(runtime_id).environment)

    @property
    def running(self) -> list[str]:
        """Runtime ids of containers that started and have not exited."""
        return [
            rid
            for rid, c in self._containers.items()
            if type(c) is _StartedAtOnce or (c.started and c.result is None)  # type: ignore[union-attr]
        ]

    # -- Backend ---------------------------------------------------------------------------

    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        """Start the timers' task group and return the instances."""
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return list(self._specs)

    async def aclose(self) -> None:
        """Stop every timer; containers still present are dropped."""
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        self._containers.clear()

    def _behavior(self, definition: ContainerDefinition) -> Behavior:
        by_name = self.behaviors.get(str(definition.name))
        if by_name is not None:
            return by_name
        return self.behaviors.get(str(definition.image), self.default)

    async def setup_task(self, task: TaskLaunch) -> None:
        """Simulate the image pulls (``pull_delay``; ``pull_error`` fails them)."""
        if self.pull_delay:
            await anyio.sleep(self.pull_delay)
        for c in task.task_definition.containers:
            b = self.behaviors.get(str(c.name)) or self.behaviors.get(str(c.image))
            if b is not None and b.pull_error is not None:
                raise ContainerStartError(
                    "CannotPullContainerError", f"pull image {c.image!r}: {b.pull_error}"
                )

    async def create_container(self, container: ContainerLaunch) -> str:
        """Resolve the container's environment and record it; nothing runs yet.

        Raises:
            ContainerStartError: CannotCreateContainerError for an environment file that
                cannot be read or a secret that is not set, as on every backend.
        """
        environment = await resolve_environment(container.definition)
        rid = f"sim-{next(self._ids):08d}"
        self._containers[rid] = _Container(
            container.task.task_arn,
            container.definition,
            self._behavior(container.definition),
            environment,
        )
        return rid

    def start_tasks_at_once(
        self, tasks: Sequence[TaskLaunch], on_exit: Callable[[str], None]
    ) -> Sequence[Sequence[tuple[str, StartedContainer]] | None] | None:
        """Pull, create and start every container of each task at once when no behaviour
        waits or fails.

        The same as ``setup_task``, ``create_container`` and ``start_container`` in turn,
        without an event-loop round trip per step; None (step by step) for a pull delay,
        any behaviour with a delay, an error or a timed exit, and for environment files
        and secrets (read and checked by the steps). The behaviours are looked up once
        per task definition in a row.
        """
        if self.pull_delay or self._tg is None or not self._steps_are_own(_START_STEPS):
            return None
        out: list[list[tuple[str, StartedContainer]] | None] = []
        now = anyio.current_time()
        plan_of: TaskDefinition | None = None
        plan: list[_Plan] | None = None
        containers = self._containers
        ids = self._ids
        record: _StartedAtOnce | None = None
        for task in tasks:
            if task.task_definition is not plan_of:
                plan_of = task.task_definition
                plan = self._start_plan(plan_of)
            if plan is None:
                out.append(None)
                continue
            started = []
            arn = task.task_arn
            for item in plan:
                n = next(ids)
                rid = f"sim-{n:08d}"
                if record is None:
                    record = _StartedAtOnce(n, now, on_exit)
                # (no gaps: every id taken here is an entry of the record)
                record.task_arns.append(arn)
                if item[3]:  # nothing to print, no ports: no object of its own
                    record.plans.append(item)
                    containers[rid] = record
                    started.append((rid, _NO_PORTS))
                    continue
                record.plans.append(None)
                definition, behavior, environment, _ = item
                c = _Container(arn, definition, behavior, environment, on_exit=on_exit)
                containers[rid] = c
                started.append((rid, self._started(c, now)))
            out.append(started)
        return out

    def _start_plan(self, td: TaskDefinition) -> list[_Plan] | None:
        """Each container's behaviour and environment for a start at once, and whether it
        prints nothing and publishes no port; None when one of them has to go step by
        step."""
        plan = []
        for definition in td.containers:
            if definition.environment_files or definition.secrets:
                return None
            b = self._behavior(definition)
            # The pull looks its behaviour up the same way (name first, then image), only
            # without the default (which has no pull error).
            if (
                b.pull_error is not None
                or b.start_error is not None
                or b.start_delay
                or b.exit_code is not None
                or b.oom_after is not None
            ):
                return None
            plain = not (b.print_environment or b.logs or definition.port_mappings)
            plan.append((definition, b, self._environment_of(definition), plain))
        return plan

    def _environment_of(self, definition: ContainerDefinition) -> dict[str, str]:
        """The environment of a container of ``definition`` (never changed after: one
        dict serves every container of the definition in a row)."""
        last, environment = self._last_environment
        if last is not definition:
            environment = definition.environment_dict()
            self._last_environment = (definition, environment)
        return environment

    def stop_task_at_once(
        self, task: TaskLaunch, runtime_ids: Sequence[str]
    ) -> Sequence[ContainerExit] | None:
        """Stop and forget the containers at once unless one ignores SIGTERM."""
        if not self._steps_are_own(_STOP_STEPS):
            return None
        containers = self._containers
        # Each container's object, or the behaviour of one that has none (running).
        found: list[_Container | Behavior | None] = []
        for rid in runtime_ids:
            kept = containers.get(rid)
            if isinstance(kept, _StartedAtOnce):
                behavior = kept.plan(rid)[1][1]
                if behavior.ignore_sigterm:
                    return None
                found.append(behavior)
                continue
            if kept is not None and kept.result is None and kept.behavior.ignore_sigterm:
                return None
            found.append(kept)
        exits: list[ContainerExit] = []
        for rid, c in zip(runtime_ids, found, strict=True):
            if c is None:
                exits.append(ContainerExit(None))
                continue
            del containers[rid]
            if isinstance(c, Behavior):  # no exit callback: stopped on request
                exits.append(ContainerExit(c.stop_exit_code))
                continue
            if c.result is None:
                c.on_exit = None  # stopped on request: not an exit by itself
                self._exit(c, ContainerExit(c.behavior.stop_exit_code if c.started else None))
            assert c.result is not None
            exits.append(c.result)
        return exits

    def _steps_are_own(self, steps: tuple[str, ...]) -> bool:
        """Whether no subclass overrides these steps (it must then see every call)."""
        own = _OWN_STEPS.get((type(self), steps))
        if own is None:
            cls = type(self)
            own = all(getattr(cls, step) is getattr(SimulatedBackend, step) for step in steps)
            _OWN_STEPS[(cls, steps)] = own
        return own

    async def start_container(self, runtime_id: str) -> StartedContainer:
        """Start the behaviour's timers and report ports (dynamic ones from 32768)."""
        c = self._get(runtime_id)
        b = c.behavior
        if b.start_delay:
            await anyio.sleep(b.start_delay)
        if b.start_error is not None:
            raise ContainerStartError("CannotStartContainerError", b.start_error)
        started = self._started(c)
        if self._tg is None:
            raise BackendError("the simulated backend is not open")
        self._tg.start_soon(self._lifetime, c)
        return started

    def _started(self, c: _Container, now: float | None = None) -> StartedContainer:
        b = c.behavior
        c.start(anyio.current_time() if now is None else now)
        if b.print_environment:
            c.logs.extend(f"{k}={v}" for k, v in sorted(c.environment.items()))
        if b.logs:
            c.logs.extend(b.logs)
        mappings = c.definition.port_mappings
        if not mappings:
            return _NO_PORTS
        bindings = []
        for pm in mappings:
            port = pm.host_port
            if not port:
                port = self._next_port
                self._next_port += 1
            bindings.append(
                NetworkBinding(
                    "127.0.0.1", int(pm.container_port or 0), port, pm.effective_protocol
                )
            )
        return StartedContainer(tuple(bindings))

    async def _lifetime(self, c: _Container) -> None:
        b = c.behavior
        with anyio.CancelScope() as scope:
            c.scope = scope
            async with anyio.create_task_group() as tg:
                if c.definition.has_health_probe:
                    tg.start_soon(self._health_script, c)
                ends: list[tuple[float, ContainerExit]] = []
                if b.exit_code is not None:
                    ends.append((b.exit_after, ContainerExit(b.exit_code)))
                if b.oom_after is not None:
                    reason = "OutOfMemoryError: Container killed due to memory usage"
                    ends.append((b.oom_after, ContainerExit(137, reason, oom_killed=True)))
                if ends:
                    delay, result = min(ends, key=lambda e: e[0])
                    await anyio.sleep(delay)
                    self._exit(c, result)
                else:
                    await c.exited.wait()

    async def _health_script(self, c: _Container) -> None:
        start = anyio.current_time()
        for at, status in c.behavior.health:
            await anyio.sleep(max(0.0, start + at - anyio.current_time()))
            c.add_health(status)

    def _exit(self, c: _Container, result: ContainerExit) -> None:
        on_exit = c.exit(result)
        if on_exit is not None:
            on_exit(c.task_arn)

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """Wait for the simulated exit."""
        c = self._get(runtime_id)
        await c.exited.wait()
        assert c.result is not None
        return c.result

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """Exit gracefully, or after ``timeout`` with 137 when SIGTERM is ignored."""
        c = self._find(runtime_id)
        if c is None or c.result is not None:
            return
        if not c.started:
            self._exit(c, ContainerExit(None))
            return
        if c.behavior.ignore_sigterm:
            with anyio.move_on_after(timeout):
                await c.exited.wait()
            self._exit(c, ContainerExit(137))
        else:
            self._exit(c, ContainerExit(c.behavior.stop_exit_code))

    async def remove_container(self, runtime_id: str) -> None:
        """Forget the container."""
        c = self._find(runtime_id)
        if c is not None:
            del self._containers[runtime_id]
            self._exit(c, ContainerExit(None))

    async def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        """Yield the scripted health changes."""
        c = self._get(runtime_id)
        seen = 0
        last: HealthStatus | None = None
        while c.result is None:
            while seen < len(c.health):
                status = c.health[seen]
                seen += 1
                if status != last:
                    last = status
                    yield status
            changed = c.health_changed
            await first_completed(changed.wait, c.exited.wait)

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        """The simulated load integrated over anyio time (exact under MockClock)."""
        now = anyio.current_time()
        out = {}
        for rid in runtime_ids:
            c = self._containers.get(rid)
            if isinstance(c, _StartedAtOnce):
                out[rid] = c.usage(rid, now)
            elif c is not None and c.started and c.result is None:
                out[rid] = ContainerUsage(c.cpu_used(now), c.memory)
        return out

    async def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        """Yield the behaviour's log lines."""
        for line in self._get(runtime_id).logs:
            yield line

    def _get(self, runtime_id: str) -> _Container:
        c = self._find(runtime_id)
        if c is None:
            raise BackendError(f"no simulated container {runtime_id!r}")
        return c

    def _find(self, runtime_id: str) -> _Container | None:
        """The container, made from its start's record if it has none yet."""
        c = self._containers.get(runtime_id)
        if type(c) is _StartedAtOnce:
            c = self._containers[runtime_id] = c.make(runtime_id)
        assert c is None or isinstance(c, _Container)
        return c

    def _names(self, runtime_id: str, key: str) -> bool:
        """Whether ``key`` is the container's runtime id, name or image."""
        c = self._containers[runtime_id]
        definition = c.plan(runtime_id)[1][0] if isinstance(c, _StartedAtOnce) else c.definition
        return key in (runtime_id, str(definition.name), str(definition.image))
