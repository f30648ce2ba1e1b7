"""The ECS task life cycle, driven over any :class:`~pyecs.abc.Backend`.

One :class:`TaskRunner` per task: PROVISIONING (shared setup, image pulls) -> PENDING
(containers created and started in ``dependsOn`` order) -> ACTIVATING -> RUNNING ->
DEACTIVATING -> STOPPING (containers stopped in reverse dependency order, each with its
``stopTimeout``) -> DEPROVISIONING (containers and shared resources removed) -> STOPPED.
Because this lives here and not in the backends, every backend behaves the same way.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.abc
import attrs

from pyecs._waits import Flag, first_completed
from pyecs.abc import (
    AdoptedContainer,
    Backend,
    ContainerExit,
    ContainerLaunch,
    ContainerStartError,
    StartedContainer,
    TaskLaunch,
)
from pyecs.models._construct import field_changer
from pyecs.models.task import Container, HealthStatus, Task
from pyecs.runtime._task_parts import (
    STEP_ERRORS,
    LaunchTemplate,
    Slot,
    aggregate_health,
    can_start_at_once,
    evolve_container,
    evolve_task,
    step_error,
    task_change,
)

__all__ = ["TaskRunner", "aggregate_health"]

_log = logging.getLogger("pyecs.tasks")
_T = TypeVar("_T")

#: Bound on cleanup work (removals, teardown) when a task or the cluster shuts down.
CLEANUP_TIMEOUT = 60.0
#: How long a container's stop may take beyond its ``stopTimeout`` before the runner gives
#: up waiting for the backend and moves on to removing it (a hung engine call).
STOP_GRACE = 30.0


#: A container's snapshot at a start and at a stop done at once (a hot path: by position).
_STARTED = field_changer(Container, ("last_status", "runtime_id", "network_bindings"))
_EXITED = field_changer(Container, ("last_status", "exit_code", "reason"))


def running_at_once(
    task: Task, started: Sequence[tuple[str, StartedContainer]], now: datetime.datetime
) -> Task:
    """The RUNNING snapshot of a task whose whole start was done at once: the last one of
    the step-by-step start, with its version (each step nobody saw is counted)."""
    if len(started) == 1 and len(task.containers) == 1:  # most tasks: no generator
        [(runtime_id, result)] = started
        only = task.containers[0]
        containers: tuple[Container, ...] = (
            _STARTED(only, "RUNNING", runtime_id, result.network_bindings),
        )
        # (aggregate_health of one container; its start leaves its health as it was)
        health: HealthStatus = (
            only.health_status if only.essential and only.has_health_check else "UNKNOWN"
        )
    else:
        containers = tuple(
            _STARTED(c, "RUNNING", runtime_id, r.network_bindings)
            for c, (runtime_id, r) in zip(task.containers, started, strict=True)
        )
        health = aggregate_health(containers)
    return _RUNNING_AT_ONCE(
        task,
        task.version + 4 + 2 * len(containers),
        now,
        now,
        "RUNNING",
        now,
        containers,
        health,
    )


def stopped_at_once(
    task: Task,
    exits: Sequence[ContainerExit],
    now: datetime.datetime,
    stop_code: str,
    reason: str,
) -> Task:
    """The STOPPED snapshot of a task started at once whose whole stop was done at once
    (on a request with ``stop_code`` and ``reason``): the last one of the step-by-step
    stop, with its version (each step nobody saw is counted)."""
    containers = tuple(
        _EXITED(c, "STOPPED", r.exit_code, r.reason)
        for c, r in zip(task.containers, exits, strict=True)
    )
    return _STOPPED_AT_ONCE(
        task,
        task.version + 5 + len(containers),
        "STOPPED",
        stop_code,
        reason,
        "STOPPED",
        now,
        now,
        now,
        containers,
        aggregate_health(containers),
    )


_STOPPED_AT_ONCE = task_change(
    "version",
    "desired_status",
    "stop_code",
    "stopped_reason",
    "last_status",
    "stopping_at",
    "execution_stopped_at",
    "stopped_at",
    "containers",
    "health_status",
)
_RUNNING_AT_ONCE = task_change(
    "version",
    "pull_started_at",
    "pull_stopped_at",
    "last_status",
    "started_at",
    "containers",
    "health_status",
)


class TaskRunner:
    """Drives one task through the ECS life cycle.

    Args:
        backend: Runs the containers.
        launch: The task as the backend sees it, or the template of its launch (the
            runner then makes the task's launch from it when a backend call needs it).
        task: The first snapshot (PROVISIONING).
        publish: Called with every new snapshot (the cluster stores and broadcasts it).
        clock: The cluster's clock, for timestamps.
        deactivate: Awaited in the DEACTIVATING step, before any container is stopped
            (a load balancer deregisters the task and drains its connections there).
        wake: For a task started at once (:meth:`started_at_once`), which runs no coroutine
            while nothing happens to it: called when it needs one (a stop request that
            cannot be done at once, or a container that exited); it must start
            :meth:`run`.
        observed: Whether somebody reads every snapshot (an event subscriber); if not,
            the steps of a start or stop done at once are published as one snapshot.
        adopted: The containers of a task an earlier run started, by container name: the
            runner attaches to them (the task is RUNNING already) instead of creating
            any. A container of the definition missing here counts as exited.
        parked_since: For a task started at once whose runner was let go while it ran
            (see :attr:`is_parked`): the event loop's time of that start. The runner
            takes the task up where the first one left it (``task`` is RUNNING).
    """

    # A million tasks keep a million runners: no instance dict.
    __slots__ = (
        "_adopted",
        "_clock",
        "_grace",
        "_health_tg",
        "_launch",
        "_observed",
        "_parked",
        "_provisioning",
        "_publish",
        "_resumed",
        "_slot_map",
        "_started_at",
        "_stop_flag",
        "_stopped_flag",
        "_wake",
        "backend",
        "deactivate",
        "task",
    )

    def __init__(
        self,
        backend: Backend,
        launch: TaskLaunch | LaunchTemplate,
        task: Task,
        publish: Callable[[Task], None],
        clock: Callable[[], datetime.datetime],
        deactivate: Callable[[Task], Awaitable[None]] | None = None,
        *,
        wake: Callable[[TaskRunner], None] | None = None,
        observed: Callable[[], bool] = lambda: True,
        adopted: Mapping[str, AdoptedContainer] | None = None,
        parked_since: float | None = None,
    ) -> None:
        self.backend = backend
        self.deactivate = deactivate
        self._adopted = adopted
        self._launch = launch
        self.task = task
        self._publish = publish
        self._clock = clock
        # Made on first use (see ``_slots``, ``_stop_requested``, ``_stopped``): a task
        # started at once that runs until it is stopped at once never needs them.
        self._slot_map: dict[str, Slot] | None = None
        self._started_at = parked_since  # anyio time of a start done at once
        self._stop_flag: Flag | None = None
        self._stopped_flag: Flag | None = None
        self._provisioning: anyio.CancelScope | None = None
        self._grace: float | None = None
        self._wake = wake
        self._observed = observed
        self._parked = parked_since is not None  # started at once; no coroutine runs yet
        self._resumed = False  # run() picks up a task started at once
        self._health_tg: anyio.abc.TaskGroup | None = None

    @property
    def launch(self) -> TaskLaunch:
        """The task as the backend sees it."""
        launch = self._launch
        if isinstance(launch, LaunchTemplate):
            launch = self._launch = launch.launch_of(self.task)
        return launch

    def _launch_now(self) -> TaskLaunch:
        """:attr:`launch`, without keeping it (a start or stop done at once)."""
        launch = self._launch
        if isinstance(launch, LaunchTemplate):
            return launch.launch_of(self.task)
        return launch

    @property
    def _slots(self) -> dict[str, Slot]:
        """Each container's live state, by name (those of a start done at once: created,
        started, running)."""
        slots = self._slot_map
        if slots is None:
            slots = {}
            started_at = self._started_at
            for definition, c in zip(
                self._launch.task_definition.containers, self.task.containers, strict=True
            ):
                slot = Slot(definition)
                if started_at is not None:
                    slot.runtime_id = c.runtime_id
                    slot.may_run = c.last_status == "RUNNING"
                    slot.started_at = started_at
                    slot.started.set()
                slots[slot.name] = slot
            self._slot_map = slots
        return slots

    @property
    def _stop_requested(self) -> Flag:
        if self._stop_flag is None:
            self._stop_flag = Flag()
        return self._stop_flag

    @property
    def _stopped(self) -> Flag:
        if self._stopped_flag is None:
            self._stopped_flag = Flag()
        return self._stopped_flag

    @property
    def is_parked(self) -> bool:
        """True while the task runs as started at once and nothing is asked of it: its
        runner holds nothing a new one could not rebuild from the task's snapshot, its
        launch template and :attr:`parked_since`."""
        return (
            self._parked
            and self._slot_map is None
            and self._stop_flag is None
            and isinstance(self._launch, LaunchTemplate)
        )

    @property
    def parked_since(self) -> float | None:
        """The event loop's time of a start done at once."""
        return self._started_at

    @property
    def template(self) -> LaunchTemplate | None:
        """The launch template the runner makes the task's launch from, if any."""
        return self._launch if isinstance(self._launch, LaunchTemplate) else None

    def _stop_is_requested(self) -> bool:
        return self._stop_flag is not None and self._stop_flag.is_set()

    # -- public ----------------------------------------------------------------------------

    @property
    def is_stopped(self) -> bool:
        """True once the task is STOPPED (and its resources released by the backend)."""
        return self._stopped_flag is not None and self._stopped_flag.is_set()

    def request_stop(self, stop_code: str, reason: str, *, grace: float | None = None) -> None:
        """Ask the task to stop; the first request's code and reason are kept.

        Args:
            grace: At most this many seconds between the stop signal and the kill, for
                every container (a Spot interruption's warning); None: each container's
                ``stopTimeout``.
        """
        if self._stop_is_requested():
            return
        self._grace = grace
        request: dict[str, Any] = {
            "desired_status": "STOPPED",
            "stop_code": stop_code,
            "stopped_reason": reason,
        }
        # A stop with a grace of its own (a Spot warning) goes the step-by-step way.
        if self._parked and grace is None and self._stop_at_once(request):
            return
        self._update(**request)
        self._stop_requested.set()
        if self._provisioning is not None:
            self._provisioning.cancel()
        if self._parked:
            self._unpark()

    async def wait_stopped(self) -> None:
        """Return once the task is STOPPED."""
        await self._stopped.wait()

    def launch_at_once(self) -> TaskLaunch | None:
        """The task's launch for a start at once (``Backend.start_tasks_at_once``), or
        None when it must be driven by :meth:`run` instead."""
        launch = self._launch
        if self._wake is None or self._slot_map is not None or self._stop_is_requested():
            return None
        if isinstance(launch, LaunchTemplate):
            return launch.launch_of(self.task) if launch.at_once else None
        return launch if can_start_at_once(launch.task_definition) else None

    def started_at_once(
        self,
        started: Sequence[tuple[str, StartedContainer]],
        clock_now: datetime.datetime,
        loop_now: float,
    ) -> None:
        """The backend did the task's whole start at once (see :meth:`launch_at_once`).

        The snapshots are those of the step-by-step start (the same versions, states and
        containers); when nobody observes every snapshot, only the last one is published.

        Args:
            started: Each container's runtime id and start report, as the backend said.
            clock_now: The cluster clock's time for the snapshots (one read serves a
                batch of starts).
            loop_now: The event loop's time (the same for a batch).
        """
        now = clock_now
        self._started_at = loop_now
        self._parked = True
        if self._observed():
            self._update(pull_started_at=now)
            self._update(pull_stopped_at=now, last_status="PENDING")
            for c, (runtime_id, report) in zip(self.task.containers, started, strict=True):
                self._set_container(c.name, runtime_id=runtime_id)
                self._set_container(
                    c.name, last_status="RUNNING", network_bindings=report.network_bindings
                )
            self._update(last_status="ACTIVATING")
            self._update(last_status="RUNNING", started_at=now)
            return
        self.task = task = running_at_once(self.task, started, now)
        self._publish(task)

    def exited_by_itself(self) -> None:
        """A container of a task started at once exited by itself: the task needs its
        coroutine now (see ``on_exit``)."""
        if self._parked:
            self._unpark()

    def _unpark(self) -> None:
        self._parked = False
        self._resumed = True
        assert self._wake is not None
        self._wake(self)

    def _stop_at_once(self, request: dict[str, Any]) -> bool:
        """The stop of a task started at once, in one step, if nothing has to wait.

        ``request`` is the stop request's change (desired status, code and reason).
        """
        if self.deactivate is not None:
            return False
        slots = self._slot_map  # None: started at once, and nothing asked for them since
        names = [c.name for c in self.task.containers]
        if slots is None:
            runtime_ids = [c.runtime_id or "" for c in self.task.containers]
        else:
            runtime_ids = [s.runtime_id or "" for s in slots.values()]
        exits = self.backend.stop_task_at_once(self._launch_now(), runtime_ids)
        if exits is None:
            return False
        self._parked = False
        self._stop_requested.set()
        now = self._clock()
        for slot in (slots or {}).values():
            result = exits[names.index(slot.name)]
            slot.exit_code = result.exit_code
            slot.may_run = False
            for flag in (slot.exited, slot.done):
                flag.set()
        if self._observed():
            self._update(**request)
            self._update(last_status="DEACTIVATING")
            self._update(last_status="STOPPING", stopping_at=now)
            for name, result in zip(names, exits, strict=True):
                self._set_container(
                    name,
                    last_status="STOPPED",
                    exit_code=result.exit_code,
                    reason=result.reason,
                )
            self._update(last_status="DEPROVISIONING", execution_stopped_at=now)
            self._update(last_status="STOPPED", stopped_at=now, containers=self.task.containers)
        else:
            self.task = task = stopped_at_once(
                self.task, exits, now, request["stop_code"], request["stopped_reason"]
            )
            self._publish(task)
        self._stopped.set()
        return True

    async def run(self) -> None:
        """Run the task until it is STOPPED, whatever happens (errors become stop codes).

        For a task started at once (:meth:`started_at_once`), this picks it up RUNNING: it
        waits for the containers' exits and stops the task as usual.
        """
        try:
            if self._resumed or self._adopted is not None or await self._provision():
                async with anyio.create_task_group() as tg:
                    self._health_tg = tg
                    for slot in self._slots.values():
                        tg.start_soon(self._container_main, slot)
                    if not self._resumed and self._adopted is None:
                        tg.start_soon(self._activate_when_started)
                    await self._stop_requested.wait()
                    await self._stop_containers()
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
                await self._deprovision()

    async def _call(self, step: str, call: Callable[..., Awaitable[_T]], *args: object) -> _T:
        """Await one backend step; anything it raises comes out as ContainerStartError.

        This is the fence that keeps one task's failure inside that task: whatever a
        backend raises (a ``ValueError`` from an odd argument, a broken connection) ends
        this task with a reason naming the step, and never reaches the cluster.
        """
        try:
            return await call(*args)
        except Exception as exc:
            if not isinstance(exc, ContainerStartError):
                _log.warning("task %s: %s failed", self.task.arn, step, exc_info=True)
            raise step_error(step, self.backend, exc) from exc

    # -- phases ----------------------------------------------------------------------------

    async def _provision(self) -> bool:
        self._update(pull_started_at=self._clock())
        # A stop request ends the provisioning (image pulls can take long, or hang).
        with anyio.CancelScope() as self._provisioning:
            try:
                await self._call("setup_task", self.backend.setup_task, self.launch)
            except ContainerStartError as exc:
                self._update(pull_stopped_at=self._clock())
                self.request_stop("TaskFailedToStart", str(exc))
                return False
        self._provisioning = None
        if self._stop_requested.is_set():
            return False
        self._update(pull_stopped_at=self._clock(), last_status="PENDING")
        return not self._stop_requested.is_set()

    async def _activate_when_started(self) -> None:
        for slot in self._slots.values():
            await slot.started.wait()
        if self._stop_requested.is_set():
            return
        self._update(last_status="ACTIVATING")
        self._update(last_status="RUNNING", started_at=self._clock())

    async def _container_main(self, slot: Slot) -> None:
        try:
            if self._resumed:
                if slot.runtime_id is None:  # pragma: no cover - started at once means all
                    return
            elif self._adopted is not None:
                if not self._attach(slot, self._adopted.get(slot.name)):
                    return
            elif (
                not await self._wait_dependencies(slot)
                or self._stop_requested.is_set()
                or not await self._start(slot)
            ):
                return
            while True:
                runtime_id = slot.runtime_id
                assert runtime_id is not None
                result = await self._call("wait_container", self.backend.wait_container, runtime_id)
                slot.may_run = False
                now = anyio.current_time()
                # (0.0 is a time: a MockClock starts there)
                ran_for = now - (now if slot.started_at is None else slot.started_at)
                slot.exit_code = result.exit_code
                self._set_container(
                    slot.name,
                    last_status="STOPPED",
                    exit_code=result.exit_code,
                    reason=result.reason,
                )
                if self._should_restart(slot, result.exit_code, ran_for):
                    await self._restart(slot)
                    continue
                break
        except ContainerStartError as exc:
            self._set_container(slot.name, last_status="STOPPED", reason=str(exc)[:1024])
            self._fail(slot, "TaskFailedToStart", str(exc))
        finally:
            slot.started.set()
            slot.exited.set()
            slot.done.set()
        if slot.definition.is_essential and not self._stop_requested.is_set():
            self.request_stop("EssentialContainerExited", "Essential container in task exited")

    async def _start(self, slot: Slot) -> bool:
        launch = ContainerLaunch(self.launch, slot.definition, self.launch.labels)
        runtime_id = await self._call("create_container", self.backend.create_container, launch)
        slot.runtime_id = runtime_id
        self._set_container(slot.name, runtime_id=runtime_id)
        if self._stop_requested.is_set():
            return False
        slot.may_run = True
        started = await self._call("start_container", self.backend.start_container, runtime_id)
        slot.started_at = anyio.current_time()
        self._set_container(
            slot.name, last_status="RUNNING", network_bindings=started.network_bindings
        )
        eni = self.task.network_interface
        if eni is not None and eni.private_ipv4 is None and started.private_ipv4:
            # awsvpc: the task's address is its network namespace's (the first container's).
            self._update(network_interface=attrs.evolve(eni, private_ipv4=started.private_ipv4))
        slot.started.set()
        if slot.definition.has_health_probe:
            assert self._health_tg is not None
            self._health_tg.start_soon(self._watch_health, slot, slot.runtime_id)
        return True

    def _attach(self, slot: Slot, adopted: AdoptedContainer | None) -> bool:
        """Take an adopted container as this slot's; False when there is none."""
        slot.started.set()
        if adopted is None:
            self._set_container(
                slot.name,
                last_status="STOPPED",
                reason="the container of the earlier run is gone",
            )
            return False
        slot.runtime_id = adopted.runtime_id
        slot.may_run = adopted.running
        slot.started_at = anyio.current_time()
        if slot.definition.has_health_probe:
            assert self._health_tg is not None
            self._health_tg.start_soon(self._watch_health, slot, adopted.runtime_id)
        return True

    async def _watch_health(self, slot: Slot, runtime_id: str) -> None:
        try:
            async for status in self.backend.health(runtime_id):
                if slot.runtime_id != runtime_id:
                    return
                self._set_container(slot.name, health_status=status)
                if status == "HEALTHY":
                    slot.healthy.set()
        except Exception as exc:
            _log.warning("task %s: health of %s failed", self.task.arn, slot.name, exc_info=True)
            error = step_error("health", self.backend, exc)
            self._set_container(slot.name, health_status="UNKNOWN", reason=str(error)[:1024])
            self._fail(slot, "TaskFailedToStart", str(error))

    def _should_restart(self, slot: Slot, exit_code: int | None, ran_for: float) -> bool:
        policy = slot.definition.restart_policy
        if policy is None or not policy.enabled or self._stop_requested.is_set():
            return False
        if exit_code is not None and exit_code in (policy.ignored_exit_codes or ()):
            return False
        return ran_for >= policy.effective_restart_attempt_period

    async def _restart(self, slot: Slot) -> None:
        old = slot.runtime_id
        if old is not None:
            await self._call("remove_container", self.backend.remove_container, old)
        slot.runtime_id = None
        self._set_container(slot.name, exit_code=None, reason=None, health_status="UNKNOWN")
        if not await self._start(slot):
            raise ContainerStartError("CannotStartContainerError", "task stopping during restart")

    async def _wait_dependencies(self, slot: Slot) -> bool:
        deps = slot.definition.depends_on or ()
        if not deps:
            return True
        timeout = slot.definition.start_timeout
        with anyio.move_on_after(math.inf if timeout is None else timeout) as scope:
            for dep in deps:
                other = self._slots[str(dep.container_name)]
                problem = await self._wait_condition(other, str(dep.condition))
                if problem:
                    self._dependency_failed(slot, problem)
                    return False
        if scope.cancelled_caught:
            self._dependency_failed(
                slot,
                f"its dependencies did not reach their conditions within its startTimeout "
                f"({timeout} s)",
            )
            return False
        return True

    async def _wait_condition(self, other: Slot, condition: str) -> str | None:
        """Wait for ``other`` to reach ``condition``; return a problem if it never can."""
        stop = self._stop_requested
        if condition == "START":
            await first_completed(other.started.wait, stop.wait)
            return None
        if condition in ("COMPLETE", "SUCCESS"):
            await first_completed(other.exited.wait, stop.wait)
            if condition == "SUCCESS" and other.exited.is_set() and other.exit_code != 0:
                return (
                    f"dependency {other.name!r} exited with code {other.exit_code} "
                    "(condition SUCCESS needs 0)"
                )
            return None
        # HEALTHY
        await first_completed(other.healthy.wait, other.exited.wait, stop.wait)
        if not other.healthy.is_set() and other.exited.is_set():
            return f"dependency {other.name!r} exited before it was HEALTHY"
        return None

    def _dependency_failed(self, slot: Slot, problem: str) -> None:
        reason = f"DependencyConditionFailed: {problem}"
        self._set_container(slot.name, last_status="STOPPED", reason=reason[:1024])
        self._fail(slot, "TaskFailedToStart", f"Container {slot.name!r} could not start: {problem}")

    def _fail(self, slot: Slot, code: str, reason: str) -> None:
        if not slot.definition.is_essential:
            return
        if self.task.started_at is not None and code == "TaskFailedToStart":
            code = "EssentialContainerExited"
        self.request_stop(code, reason)

    async def _stop_containers(self) -> None:
        if self.task.last_status in ("PENDING", "ACTIVATING", "RUNNING"):
            self._update(last_status="DEACTIVATING")
            if self.deactivate is not None:
                try:
                    await self.deactivate(self.task)
                except Exception:  # draining is best effort; the task stops regardless
                    _log.warning("task %s: deactivation failed", self.task.arn, exc_info=True)
        self._update(last_status="STOPPING", stopping_at=self._clock())
        dependents: dict[str, list[Slot]] = {name: [] for name in self._slots}
        for slot in self._slots.values():
            for dep in slot.definition.depends_on or ():
                dependents[str(dep.container_name)].append(slot)
        async with anyio.create_task_group() as tg:
            for slot in self._slots.values():
                tg.start_soon(self._stop_one, slot, dependents[slot.name])

    async def _stop_one(self, slot: Slot, dependents: list[Slot]) -> None:
        for other in dependents:
            await other.done.wait()
        runtime_id = slot.runtime_id
        if runtime_id is not None and not slot.exited.is_set():
            timeout = float(slot.definition.effective_stop_timeout)
            if self._grace is not None:
                timeout = min(timeout, self._grace)
            # A backend that never answers must not keep the task from STOPPED: past the
            # stop timeout and a grace, the runner moves on and removes the container.
            with anyio.move_on_after(timeout + STOP_GRACE) as scope:
                try:
                    await self._call(
                        "stop_container", self.backend.stop_container, runtime_id, timeout
                    )
                    await slot.exited.wait()
                except ContainerStartError as exc:
                    self._note_container_problem(slot, str(exc))
            if scope.cancelled_caught:
                self._note_container_problem(
                    slot,
                    f"CannotStopContainerError: the {self.backend.name} backend's "
                    f"stop_container did not stop it within its stopTimeout ({timeout:g} s) "
                    f"+ {STOP_GRACE:g} s",
                )
        slot.done.set()

    def _note_container_problem(self, slot: Slot, reason: str) -> None:
        """Record a cleanup problem on the container, unless it already has a reason."""
        current = next((c for c in self.task.containers if c.name == slot.name), None)
        if current is not None and not current.reason:
            self._set_container(slot.name, reason=reason[:1024])

    async def _deprovision(self) -> None:
        if self.task.last_status != "STOPPED":
            if self.task.stopping_at is None:
                self._update(stopping_at=self._clock())
            self._update(last_status="DEPROVISIONING", execution_stopped_at=self._clock())
        try:
            # Each step on its own: one that fails must not leave the others undone.
            for slot in self._slots.values():
                runtime_id = slot.runtime_id
                if runtime_id is None:
                    continue
                if slot.may_run:
                    await self._cleanup_step(
                        slot, "stop_container", self.backend.stop_container, runtime_id, 0
                    )
                await self._cleanup_step(
                    slot, "remove_container", self.backend.remove_container, runtime_id
                )
            await self._cleanup_step(None, "teardown_task", self.backend.teardown_task, self.launch)
        finally:
            containers = tuple(
                c if c.last_status == "STOPPED" else evolve_container(c, last_status="STOPPED")
                for c in self.task.containers
            )
            try:
                if self.task.stop_code is None:
                    self._update(
                        desired_status="STOPPED",
                        stop_code="TaskFailedToStart",
                        stopped_reason="Task stopped before it could run",
                    )
                self._update(last_status="STOPPED", stopped_at=self._clock(), containers=containers)
            finally:
                self._stopped.set()

    async def _cleanup_step(
        self, slot: Slot | None, step: str, call: Callable[..., Awaitable[None]], *args: object
    ) -> None:
        with anyio.move_on_after(STOP_GRACE) as scope:
            try:
                await self._call(step, call, *args)
            except ContainerStartError as exc:
                if slot is not None:
                    self._note_container_problem(slot, str(exc))
        if scope.cancelled_caught:
            _log.warning("task %s: %s did not return within %g s", self.task.arn, step, STOP_GRACE)
            if slot is not None:
                self._note_container_problem(
                    slot,
                    f"{STEP_ERRORS[step]}: the {self.backend.name} backend's {step} did not "
                    f"return within {STOP_GRACE:g} s",
                )

    # -- snapshots -------------------------------------------------------------------------

    def _update(self, steps: int = 1, **changes: Any) -> None:
        """A new snapshot with ``changes``; ``steps`` > 1 stands for that many snapshots
        in a row that nobody observed (the version moves on as if each was published)."""
        if "containers" in changes:
            changes["health_status"] = aggregate_health(changes["containers"])
        task = evolve_task(self.task, version=self.task.version + steps, **changes)
        self.task = task
        self._publish(task)

    def _set_container(self, name: str, **changes: Any) -> None:
        containers = tuple(
            evolve_container(c, **changes) if c.name == name else c for c in self.task.containers
        )
        self._update(containers=containers)
