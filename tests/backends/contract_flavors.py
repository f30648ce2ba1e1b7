"""How the contract suite says "a container that does X" on each backend.

The shell flavors (process, Docker) run the same ``sh -c`` programs (Docker in the busybox
test image); the simulated flavor maps each program to a :class:`Behavior` keyed by a
unique image name. A backend that differs on purpose says so in its capabilities, which
the tests read; nothing else is special-cased.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import attrs

from pyecs.abc import Backend
from pyecs.backends.simulated import Behavior, SimulatedBackend

_counter = itertools.count()

FOREVER = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
#: The line a container prints after its environment.
ENV_PRINTED = "pyecs-env-printed"


@attrs.define
class Flavor:
    """Builds container definitions for one backend."""

    name: str
    backend: Backend
    image: str = "unused"
    #: Health-check timings are multiplied by this on the backend (1.0 = ECS timings).
    health_scale: float = 1.0

    def _shell(self, name: str, script: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "image": self.image,
            "memory": 64,
            "command": ["sh", "-c", script],
            **extra,
        }

    def forever(self, name: str, **extra: Any) -> dict[str, Any]:
        """Runs until stopped; exits 0 on SIGTERM."""
        return self._shell(name, FOREVER, **extra)

    def exits(self, name: str, code: int, after: float = 0.2, **extra: Any) -> dict[str, Any]:
        """Exits with ``code`` after ``after`` seconds."""
        return self._shell(name, f"sleep {after}; exit {code}", **extra)

    def ignores_sigterm(self, name: str, **extra: Any) -> dict[str, Any]:
        """Keeps running through SIGTERM (only SIGKILL ends it)."""
        return self._shell(name, "trap '' TERM; while true; do sleep 0.2; done", **extra)

    def prints(self, name: str, line: str, **extra: Any) -> dict[str, Any]:
        """Prints ``line`` then runs until stopped."""
        return self._shell(name, f"echo {line}; {FOREVER}", **extra)

    def prints_environment(self, name: str, **extra: Any) -> dict[str, Any]:
        """Prints its environment (``NAME=value`` lines), then :data:`ENV_PRINTED`, then
        runs until stopped."""
        return self._shell(name, f"env; echo {ENV_PRINTED}; {FOREVER}", **extra)

    def healthy_then_unhealthy(
        self, name: str, healthy_for: float | None, **extra: Any
    ) -> dict[str, Any]:
        """Passes its health check, then (after ``healthy_for`` s, if given) fails it."""
        marker = f"/tmp/pyecs-health-{uuid.uuid4().hex}"
        later = f"sleep {healthy_for}; rm -f {marker}; " if healthy_for is not None else ""
        script = f"mkdir -p /tmp; touch {marker}; {later}{FOREVER}"
        check = {
            "command": ["CMD-SHELL", f"test -f {marker}"],
            "interval": 5,
            "timeout": 2,
            "retries": 1,
        }
        return self._shell(name, script, healthCheck=check, **extra)

    def never_healthy(self, name: str, **extra: Any) -> dict[str, Any]:
        """Has a health check that always fails."""
        check = {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1}
        return self._shell(name, FOREVER, healthCheck=check, **extra)

    def assert_clean(self) -> None:
        """Nothing this flavor's backend started is still running."""


@attrs.define
class SimFlavor(Flavor):
    """The simulated backend: programs become behaviours of unique images."""

    def _behave(self, name: str, behavior: Behavior, **extra: Any) -> dict[str, Any]:
        image = f"sim/{name}-{next(_counter)}"
        assert isinstance(self.backend, SimulatedBackend)
        self.backend.set_behavior(image, behavior)
        return {"name": name, "image": image, "memory": 64, **extra}

    def forever(self, name: str, **extra: Any) -> dict[str, Any]:
        return self._behave(name, Behavior(), **extra)

    def exits(self, name: str, code: int, after: float = 0.2, **extra: Any) -> dict[str, Any]:
        return self._behave(name, Behavior(exit_code=code, exit_after=after), **extra)

    def ignores_sigterm(self, name: str, **extra: Any) -> dict[str, Any]:
        return self._behave(name, Behavior(ignore_sigterm=True), **extra)

    def prints(self, name: str, line: str, **extra: Any) -> dict[str, Any]:
        return self._behave(name, Behavior(logs=(line,)), **extra)

    def prints_environment(self, name: str, **extra: Any) -> dict[str, Any]:
        behavior = Behavior(print_environment=True, logs=(ENV_PRINTED,))
        return self._behave(name, behavior, **extra)

    def healthy_then_unhealthy(
        self, name: str, healthy_for: float | None, **extra: Any
    ) -> dict[str, Any]:
        script: tuple[tuple[float, Any], ...] = ((0.2, "HEALTHY"),)
        if healthy_for is not None:
            script += ((healthy_for + 0.3, "UNHEALTHY"),)
        check = {"command": ["CMD-SHELL", "true"], "interval": 5, "retries": 1}
        return self._behave(name, Behavior(health=script), healthCheck=check, **extra)

    def never_healthy(self, name: str, **extra: Any) -> dict[str, Any]:
        check = {"command": ["CMD-SHELL", "false"], "interval": 5, "retries": 1}
        return self._behave(
            name, Behavior(health=((0.2, "UNHEALTHY"),)), healthCheck=check, **extra
        )

    def assert_clean(self) -> None:
        assert isinstance(self.backend, SimulatedBackend)
        assert self.backend.running == []
