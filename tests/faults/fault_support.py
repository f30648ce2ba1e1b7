"""A backend wrapper that fails on purpose, and helpers the fault-injection tests share."""

from __future__ import annotations

import math
import typing
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import anyio

from pyecs.abc import (
    Backend,
    ClusterContext,
    ContainerExit,
    ContainerLaunch,
    StartedContainer,
    TaskLaunch,
)
from pyecs.models.instance import InstanceSpec
from pyecs.models.task import HealthStatus

Step = Literal[
    "setup_task",
    "create_container",
    "start_container",
    "wait_container",
    "health",
    "stop_container",
    "remove_container",
    "teardown_task",
    "logs",
]
Mode = Literal["raise", "hang"]

#: Every step the cluster drives a backend through for one task.
STEPS: tuple[Step, ...] = typing.get_args(Step)


class InjectedFault(ValueError):
    """What the faulty backend raises (a plain ValueError, like a stray NUL byte does)."""


class FaultyBackend(Backend):
    """Wraps a backend; one step fails (raises or hangs) for one task family only.

    Every other family's tasks go through untouched, so a test can check that the fault
    stays with the task it hit.
    """

    def __init__(self, inner: Backend, *, family: str, step: Step, mode: Mode) -> None:
        self.inner = inner
        self.family = family
        self.step = step
        self.mode = mode
        self.name = f"faulty-{inner.name}"  # type: ignore[misc]
        self.capabilities = inner.capabilities  # type: ignore[misc]
        self._faulty_ids: set[str] = set()
        self.calls: list[tuple[str, str]] = []  # (step, runtime id or task arn), in order

    async def _maybe_fail(self, step: Step, hit: bool) -> None:
        if step != self.step or not hit:
            return
        if self.mode == "raise":
            raise InjectedFault(f"injected failure in {step}")
        await anyio.sleep(math.inf)

    def _hit_task(self, task: TaskLaunch) -> bool:
        return str(task.task_definition.family) == self.family

    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        return await self.inner.open(context)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def setup_task(self, task: TaskLaunch) -> None:
        self.calls.append(("setup_task", task.task_arn))
        await self._maybe_fail("setup_task", self._hit_task(task))
        await self.inner.setup_task(task)

    async def teardown_task(self, task: TaskLaunch) -> None:
        self.calls.append(("teardown_task", task.task_arn))
        await self._maybe_fail("teardown_task", self._hit_task(task))
        await self.inner.teardown_task(task)

    async def create_container(self, container: ContainerLaunch) -> str:
        hit = self._hit_task(container.task)
        await self._maybe_fail("create_container", hit)
        runtime_id = await self.inner.create_container(container)
        if hit:
            self._faulty_ids.add(runtime_id)
        self.calls.append(("create_container", runtime_id))
        return runtime_id

    async def start_container(self, runtime_id: str) -> StartedContainer:
        self.calls.append(("start_container", runtime_id))
        await self._maybe_fail("start_container", runtime_id in self._faulty_ids)
        return await self.inner.start_container(runtime_id)

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        await self._maybe_fail("wait_container", runtime_id in self._faulty_ids)
        return await self.inner.wait_container(runtime_id)

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        self.calls.append(("stop_container", runtime_id))
        await self._maybe_fail("stop_container", runtime_id in self._faulty_ids)
        await self.inner.stop_container(runtime_id, timeout)

    async def remove_container(self, runtime_id: str) -> None:
        self.calls.append(("remove_container", runtime_id))
        await self._maybe_fail("remove_container", runtime_id in self._faulty_ids)
        await self.inner.remove_container(runtime_id)

    async def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        await self._maybe_fail("health", runtime_id in self._faulty_ids)
        async for status in self.inner.health(runtime_id):
            yield status

    async def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        await self._maybe_fail("logs", runtime_id in self._faulty_ids)
        async for line in self.inner.logs(runtime_id, follow=follow):
            yield line

    async def stats(self, runtime_id: str) -> dict[str, float]:
        return await self.inner.stats(runtime_id)


def td(family: str, *, image: str = "app:1", health: bool = False, **extra: Any) -> dict[str, Any]:
    """A one-container task definition."""
    container: dict[str, Any] = {"name": "main", "image": image, "memory": 64, **extra}
    if health:
        container["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5}
    return {"family": family, "containerDefinitions": [container]}


class LoopLag:
    """Measures how late a 10 ms ticker wakes up: the longest the event loop was blocked."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            before = anyio.current_time()
            await anyio.sleep(self.period)
            self.worst = max(self.worst, anyio.current_time() - before - self.period)
