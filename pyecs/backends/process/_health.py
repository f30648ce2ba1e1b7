"""Task-definition health checks for the process backend, with Docker's timing.

The first check runs one ``interval`` after the start; each check is killed after
``timeout`` (and then counts as a failure); ``retries`` consecutive failures make the
container UNHEALTHY and one success makes it HEALTHY. During ``startPeriod`` failures do
not count, but a success marks the container HEALTHY and ends the start period.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import attrs

from pyecs.backends.process._spawn import Child, SpawnSpec
from pyecs.models.task import HealthStatus
from pyecs.models.task_definition import HealthCheck

__all__ = ["HealthState", "run_health_checks"]


@attrs.define
class HealthState:
    """A container's health as last checked, and a way to wait for the next change."""

    status: HealthStatus = "UNKNOWN"
    finished: bool = False
    changed: anyio.Event = attrs.field(factory=anyio.Event)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def set(self, status: HealthStatus) -> None:
        """Record a check's outcome; wake watchers when the status changes."""
        if status != self.status:
            self.status = status
            self._notify()

    def finish(self) -> None:
        """The container exited: no further changes."""
        if not self.finished:
            self.finished = True
            self._notify()

    async def changes(self) -> AsyncIterator[HealthStatus]:
        """Yield the current status (unless UNKNOWN), then each change, until finished."""
        last: HealthStatus = "UNKNOWN"
        while True:
            if self.status != last:
                last = self.status
                yield last
                continue
            if self.finished:
                return
            await self.changed.wait()


async def _check_once(
    spec: SpawnSpec,
    timeout: float,
    spawn: Callable[[SpawnSpec], Awaitable[Child]],
    forget: Callable[[Child], None],
) -> bool:
    try:
        child = await spawn(spec)
    except (OSError, subprocess.SubprocessError):
        return False  # like Docker: a check that cannot run is a failed check
    try:
        with anyio.move_on_after(timeout):
            await child.wait_exit()
        in_time = child.exit_seen
    finally:
        # Timed out, cancelled (the container is going away) or done: kill the check's
        # group (and whatever it left behind), then reap.
        if not child.exit_seen:
            child.kill_group(signal.SIGKILL)
            with anyio.CancelScope(shield=True):
                await child.wait_exit()
        child.kill_group(signal.SIGKILL)
        forget(child)
        code = child.reap()
    return in_time and code == 0


async def run_health_checks(
    check: HealthCheck,
    spec: SpawnSpec,
    state: HealthState,
    *,
    time_scale: float,
    spawn: Callable[[SpawnSpec], Awaitable[Child]],
    forget: Callable[[Child], None],
) -> None:
    """Run ``check`` forever (until cancelled), recording outcomes in ``state``.

    Args:
        check: The container's health check (timings in seconds).
        spec: The check command with the container's environment and directory.
        state: Where outcomes go.
        time_scale: Multiplies every timing (a testing aid; 1.0 is ECS's timing); a scaled
            timeout stays at least 0.5 s.
        spawn: Starts a check process (the backend's, with its watchdog bookkeeping).
        forget: Called with a check process before it is reaped.
    """
    interval = check.effective_interval * time_scale
    # Starting a check takes real time whatever the scale: never less than half a second.
    timeout = max(check.effective_timeout * time_scale, min(check.effective_timeout, 0.5))
    start_period_ends = anyio.current_time() + check.effective_start_period * time_scale
    retries = check.effective_retries
    failures = 0
    starting = True
    while True:
        await anyio.sleep(interval)
        if await _check_once(spec, timeout, spawn, forget):
            failures = 0
            starting = False
            state.set("HEALTHY")
            continue
        if starting and anyio.current_time() < start_period_ends:
            continue
        failures += 1
        if failures >= retries:
            state.set("UNHEALTHY")
