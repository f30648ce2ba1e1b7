"""The ECS task life cycle, driven over any :class:`~pyecs.abc.Backend`.

One :class:`TaskRunner` per task: PROVISIONING (shared setup, image pulls) -> PENDING
(containers created and started in ``dependsOn`` order) -> ACTIVATING -> RUNNING ->
DEACTIVATING -> STOPPING (containers stopped in reverse dependency order, each with its
``stopTimeout``) -> DEPROVISIONING (containers and shared resources removed) -> STOPPED.
Because this lives here and not in the backends, every backend behaves the same way.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import attrs

from pyecs._waits import first_completed
from pyecs.abc import Backend, ContainerLaunch, ContainerStartError, TaskLaunch
from pyecs.models.task import Container, HealthStatus, Task
from pyecs.models.task_definition import ContainerDefinition

__all__ = ["TaskRunner", "aggregate_health"]

#: Bound on cleanup work (removals, teardown) when a task or the cluster shuts down.
CLEANUP_TIMEOUT = 60.0


def aggregate_health(containers: tuple[Container, ...]) -> HealthStatus:
    """ECS task health from the essential containers that have a health check."""
    statuses = [c.health_status for c in containers if c.essential and c.has_health_check]
    if not statuses:
        return "UNKNOWN"
    if "UNHEALTHY" in statuses:
        return "UNHEALTHY"
    if all(s == "HEALTHY" for s in statuses):
        return "HEALTHY"
    return "UNKNOWN"


class _Slot:
    """One container's live state inside the runner."""

    def __init__(self, definition: ContainerDefinition) -> None:
        self.definition = definition
        self.name = str(definition.name)
        self.runtime_id: str | None = None
        self.started = anyio.Event()  # started once (or will never start: see done)
        self.exited = anyio.Event()
        self.done = anyio.Event()  # exited, or will never run
        self.healthy = anyio.Event()
        self.exit_code: int | None = None
        self.started_at: float | None = None


class TaskRunner:
    """Drives one task through the ECS life cycle.

    Args:
        backend: Runs the containers.
        launch: The task as the backend sees it.
        task: The first snapshot (PROVISIONING).
        publish: Called with every new snapshot (the cluster stores and broadcasts it).
        clock: The cluster's clock, for timestamps.
        deactivate: Awaited in the DEACTIVATING step, before any container is stopped
            (a load balancer deregisters the task and drains its connections there).
    """

    def __init__(
        self,
        backend: Backend,
        launch: TaskLaunch,
        task: Task,
        publish: Callable[[Task], None],
        clock: Callable[[], datetime.datetime],
        deactivate: Callable[[Task], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        self._deactivate = deactivate
        self.launch = launch
        self.task = task
        self._publish = publish
        self._clock = clock
        self._slots = {str(c.name): _Slot(c) for c in launch.task_definition.containers}
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()

    # -- public ----------------------------------------------------------------------------

    def request_stop(self, stop_code: str, reason: str) -> None:
        """Ask the task to stop; the first request's code and reason are kept."""
        if self._stop_requested.is_set():
            return
        self._update(desired_status="STOPPED", stop_code=stop_code, stopped_reason=reason)
        self._stop_requested.set()

    async def wait_stopped(self) -> None:
        """Return once the task is STOPPED."""
        await self._stopped.wait()

    async def run(self) -> None:
        """Run the task until it is STOPPED, whatever happens (errors become stop codes)."""
        try:
            if await self._provision():
                async with anyio.create_task_group() as tg:
                    self._health_tg = tg
                    for slot in self._slots.values():
                        tg.start_soon(self._container_main, slot)
                    tg.start_soon(self._activate_when_started)
                    await self._stop_requested.wait()
                    await self._stop_containers()
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
                await self._deprovision()

    # -- phases ----------------------------------------------------------------------------

    async def _provision(self) -> bool:
        self._update(pull_started_at=self._clock())
        try:
            await self.backend.setup_task(self.launch)
        except ContainerStartError as exc:
            self._update(pull_stopped_at=self._clock())
            self.request_stop("TaskFailedToStart", str(exc))
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

    async def _container_main(self, slot: _Slot) -> None:
        try:
            if not await self._wait_dependencies(slot):
                return
            if self._stop_requested.is_set() or not await self._start(slot):
                return
            while True:
                assert slot.runtime_id is not None
                result = await self.backend.wait_container(slot.runtime_id)
                ran_for = anyio.current_time() - (slot.started_at or anyio.current_time())
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

    async def _start(self, slot: _Slot) -> bool:
        launch = ContainerLaunch(self.launch, slot.definition, self.launch.labels)
        slot.runtime_id = await self.backend.create_container(launch)
        self._set_container(slot.name, runtime_id=slot.runtime_id)
        if self._stop_requested.is_set():
            return False
        started = await self.backend.start_container(slot.runtime_id)
        slot.started_at = anyio.current_time()
        self._set_container(
            slot.name, last_status="RUNNING", network_bindings=started.network_bindings
        )
        slot.started.set()
        if slot.definition.health_check is not None:
            assert self._health_tg is not None
            self._health_tg.start_soon(self._watch_health, slot, slot.runtime_id)
        return True

    _health_tg: anyio.abc.TaskGroup | None = None

    async def _watch_health(self, slot: _Slot, runtime_id: str) -> None:
        async for status in self.backend.health(runtime_id):
            if slot.runtime_id != runtime_id:
                return
            self._set_container(slot.name, health_status=status)
            if status == "HEALTHY":
                slot.healthy.set()

    def _should_restart(self, slot: _Slot, exit_code: int | None, ran_for: float) -> bool:
        policy = slot.definition.restart_policy
        if policy is None or not policy.enabled or self._stop_requested.is_set():
            return False
        if exit_code is not None and exit_code in (policy.ignored_exit_codes or ()):
            return False
        return ran_for >= policy.effective_restart_attempt_period

    async def _restart(self, slot: _Slot) -> None:
        old = slot.runtime_id
        if old is not None:
            await self.backend.remove_container(old)
        slot.runtime_id = None
        self._set_container(slot.name, exit_code=None, reason=None, health_status="UNKNOWN")
        if not await self._start(slot):
            raise ContainerStartError("CannotStartContainerError", "task stopping during restart")

    async def _wait_dependencies(self, slot: _Slot) -> bool:
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

    async def _wait_condition(self, other: _Slot, condition: str) -> str | None:
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

    def _dependency_failed(self, slot: _Slot, problem: str) -> None:
        reason = f"DependencyConditionFailed: {problem}"
        self._set_container(slot.name, last_status="STOPPED", reason=reason[:1024])
        self._fail(slot, "TaskFailedToStart", f"Container {slot.name!r} could not start: {problem}")

    def _fail(self, slot: _Slot, code: str, reason: str) -> None:
        if not slot.definition.is_essential:
            return
        if self.task.started_at is not None and code == "TaskFailedToStart":
            code = "EssentialContainerExited"
        self.request_stop(code, reason)

    async def _stop_containers(self) -> None:
        if self.task.last_status in ("PENDING", "ACTIVATING", "RUNNING"):
            self._update(last_status="DEACTIVATING")
            if self._deactivate is not None:
                await self._deactivate(self.task)
        self._update(last_status="STOPPING", stopping_at=self._clock())
        dependents: dict[str, list[_Slot]] = {name: [] for name in self._slots}
        for slot in self._slots.values():
            for dep in slot.definition.depends_on or ():
                dependents[str(dep.container_name)].append(slot)
        async with anyio.create_task_group() as tg:
            for slot in self._slots.values():
                tg.start_soon(self._stop_one, slot, dependents[slot.name])

    async def _stop_one(self, slot: _Slot, dependents: list[_Slot]) -> None:
        for other in dependents:
            await other.done.wait()
        if slot.runtime_id is not None and not slot.exited.is_set():
            await self.backend.stop_container(
                slot.runtime_id, float(slot.definition.effective_stop_timeout)
            )
            await slot.exited.wait()
        slot.done.set()

    async def _deprovision(self) -> None:
        if self.task.last_status != "STOPPED":
            if self.task.stopping_at is None:
                self._update(stopping_at=self._clock())
            self._update(last_status="DEPROVISIONING", execution_stopped_at=self._clock())
        try:
            for slot in self._slots.values():
                if slot.runtime_id is not None:
                    if not slot.exited.is_set():
                        await self.backend.stop_container(slot.runtime_id, 0)
                    await self.backend.remove_container(slot.runtime_id)
            await self.backend.teardown_task(self.launch)
        finally:
            containers = tuple(
                c if c.last_status == "STOPPED" else attrs.evolve(c, last_status="STOPPED")
                for c in self.task.containers
            )
            if self.task.stop_code is None:
                self._update(
                    desired_status="STOPPED",
                    stop_code="TaskFailedToStart",
                    stopped_reason="Task stopped before it could run",
                )
            self._update(last_status="STOPPED", stopped_at=self._clock(), containers=containers)
            self._stopped.set()

    # -- snapshots -------------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        task = attrs.evolve(self.task, version=self.task.version + 1, **changes)
        if "containers" in changes:
            task = attrs.evolve(task, health_status=aggregate_health(task.containers))
        self.task = task
        self._publish(task)

    def _set_container(self, name: str, **changes: Any) -> None:
        containers = tuple(
            attrs.evolve(c, **changes) if c.name == name else c for c in self.task.containers
        )
        self._update(containers=containers)
