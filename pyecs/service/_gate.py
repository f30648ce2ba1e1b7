"""When a service may start tasks again: ECS's start throttling and pyecs's restart backoff.

:class:`LaunchGate` keeps the two streaks a service's task exits build up. ECS's throttling
holds back every start of the service (``next_launch_at``); the restart backoff holds back
only the replacement of each task that exited soon after it started (``holds``), so that
tasks killed one by one never empty a service. It decides from what it is told (a task
reached RUNNING, never started, exited after so long) and answers with the service event to
write, if any.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyecs.models.service import RestartBackoff

__all__ = ["LaunchGate"]

#: Start throttling: delay after the first tasks that never reached RUNNING, doubling
#: with each further one, up to ECS's 15 minutes.
THROTTLE_BASE = 5.0
THROTTLE_MAX = 900.0
#: Tasks that never start in a row before throttling kicks in.
THROTTLE_AFTER = 3


class LaunchGate:
    """The launch delays of one service.

    Attributes:
        next_launch_at: No task starts before this time (ECS's start throttling).
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.next_launch_at = 0.0
        self._never_started = 0  # tasks in a row that stopped before RUNNING
        self._quick_exits = 0  # tasks in a row that exited soon after RUNNING
        self._backoff_reported = 0.0
        self._holds: list[float] = []  # when each held-back replacement may start

    def reset(self) -> None:
        """A new task definition: both streaks start over (ECS resets its throttling)."""
        self.reset_throttle()
        self._quick_exits = 0
        self._holds = []

    def reset_throttle(self) -> None:
        """Start throttling over, and allow launches at once (a rollback)."""
        self._never_started = 0
        self.next_launch_at = 0.0
        self._holds = []

    def holds(self, now: float) -> tuple[float, ...]:
        """When each replacement the restart backoff holds back may start (after ``now``)."""
        self._holds = [t for t in self._holds if t > now]
        return tuple(self._holds)

    def running(self) -> None:
        """A task reached RUNNING: the tasks do start (ECS resets its throttling)."""
        self._never_started = 0

    def never_started(self, now: float) -> str | None:
        """A task stopped before it was RUNNING, not by the scheduler's choice.

        Returns:
            ECS's "unable to consistently start tasks" event, once the streak throttles.
        """
        self._never_started += 1
        if self._never_started < THROTTLE_AFTER:
            return None
        exp = self._never_started - THROTTLE_AFTER
        self.next_launch_at = now + min(THROTTLE_MAX, THROTTLE_BASE * 2**exp)
        return f"(service {self.service}) is unable to consistently start tasks successfully."

    def exited(
        self,
        backoff: RestartBackoff,
        ran_for: float,
        now: float,
        running_since: Iterable[float],
    ) -> str | None:
        """A task that reached RUNNING is stopping on its own after ``ran_for`` seconds.

        Args:
            backoff: The service's restart backoff.
            ran_for: How long the task was RUNNING.
            now: The event loop's time.
            running_since: When the service's other RUNNING tasks started.

        Returns:
            The restart-backoff event, when the wait changes.
        """
        # The streak ends with a task that ran long enough: this one, or one still running.
        # (A service with tasks that keep running is not in a crash loop, even when some of
        # its tasks are killed or crash; ECS replaces those at once, and so does pyecs.)
        if ran_for >= backoff.reset_after or any(
            now - since >= backoff.reset_after for since in running_since
        ):
            self._quick_exits = 0
            self._backoff_reported = 0.0
            if ran_for >= backoff.reset_after:
                return None
        self._quick_exits += 1
        delay = backoff.delay(self._quick_exits)
        if delay <= 0:
            return None
        self._holds.append(now + delay)
        if delay == self._backoff_reported:
            return None
        self._backoff_reported = delay
        return (
            f"(service {self.service}) tasks keep exiting soon after they start "
            f"({self._quick_exits} in a row within {backoff.reset_after:g} s): waiting "
            f"{delay:g} s before replacing each (restart backoff)."
        )
