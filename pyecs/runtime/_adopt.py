"""Adopting the tasks of an earlier run: the backend finds their containers, the task
manager takes them over as RUNNING tasks with their old ARNs."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import attrs

from pyecs.abc import AdoptedTask, Backend, TaskLaunch
from pyecs.exceptions import PyecsError
from pyecs.models.task import AdoptableTask
from pyecs.runtime._registry import TaskDefinitionRegistry
from pyecs.runtime._tasks import TaskManager

__all__ = ["adopt_tasks"]

_log = logging.getLogger("pyecs.tasks")


async def adopt_tasks(
    known: Iterable[AdoptableTask],
    backend: Backend,
    registry: TaskDefinitionRegistry,
    tasks: TaskManager,
) -> tuple[str, ...]:
    """Adopt what the backend still has of ``known``; return the ARNs adopted.

    A task whose definition is unknown, or that the backend cannot find or take over,
    is skipped with a log line: its service (if any) starts a replacement.
    """
    adopted = []
    for task in known:
        try:
            td = registry.describe(task.task_definition_arn)
            launch = TaskLaunch(task.arn, task.arn.rsplit("/", 1)[-1], "", td)
            found = await backend.adopt_task(launch)
            if found is None:
                _log.info("task %s: nothing of it is left to adopt", task.arn)
                continue
            try:
                tasks.adopt(task, td, found)
            except PyecsError:
                await _let_go(backend, launch, found)
                raise
        except PyecsError as exc:
            _log.warning("task %s cannot be adopted: %s", task.arn, exc)
            continue
        adopted.append(task.arn)
    return tuple(adopted)


async def _let_go(backend: Backend, launch: TaskLaunch, found: AdoptedTask) -> None:
    """Remove what was found of a task that cannot be taken over (best effort)."""
    for c in found.containers:
        try:
            await backend.stop_container(c.runtime_id, 0)
            await backend.remove_container(c.runtime_id)
        except Exception:
            _log.warning(
                "removing container %s of %s", c.runtime_id, launch.task_arn, exc_info=True
            )
    try:
        await backend.teardown_task(attrs.evolve(launch, instance_id=found.instance_id))
    except Exception:
        _log.warning("tearing down %s", launch.task_arn, exc_info=True)
