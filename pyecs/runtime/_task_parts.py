"""The pieces the task runner is made of: a container's live state, task health, step errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pyecs._waits import Flag
from pyecs.abc import Backend, ContainerStartError, TaskLaunch
from pyecs.backends._shared import LABEL_TASK
from pyecs.models._construct import evolver, field_changer, positional_constructor
from pyecs.models.task import Container, HealthStatus, Task
from pyecs.models.task_definition import ContainerDefinition, TaskDefinition

__all__ = [
    "STEP_ERRORS",
    "LaunchTemplate",
    "Slot",
    "SnapshotMaker",
    "TaskChange",
    "TaskLabels",
    "aggregate_health",
    "can_start_at_once",
    "evolve_container",
    "evolve_task",
    "step_error",
    "task_change",
]

#: The ECS error name a task's reason starts with when a backend step fails unexpectedly.
STEP_ERRORS = {
    "setup_task": "ResourceInitializationError",
    "create_container": "CannotCreateContainerError",
    "start_container": "CannotStartContainerError",
    "wait_container": "CannotInspectContainerError",
    "health": "CannotInspectContainerError",
    "stop_container": "CannotStopContainerError",
    "remove_container": "CannotRemoveContainerError",
    "teardown_task": "ResourceCleanupError",
}


#: ``attrs.evolve(task, **changes)``, several times faster: the runtime makes a new task
#: snapshot on every change of every task; ``attrs.evolve`` reads each of the 29 fields by
#: name and passes them by keyword, while this copies them slot to slot.
evolve_task = evolver(Task)
#: The same for a task's container.
evolve_container = evolver(Container)


#: ``change(task, *values)``: a task snapshot with new values of some fields, in order.
TaskChange = Callable[..., Task]


def task_change(*names: str) -> TaskChange:
    """``evolve_task`` for one set of fields, given by position: ``change(task, *values)``
    is ``evolve_task(task, **dict(zip(names, values)))`` without the keywords (a hot path
    of the simulated backend makes a million of these)."""
    return field_changer(Task, names)


class TaskLabels(Mapping[str, str]):
    """A task's labels: those it shares with others (the cluster's, its service's) and
    its own ARN under ``key``, without a copy of the shared ones per task.

    A read-only mapping; backends copy it into what they create.
    """

    __slots__ = ("_arn", "_key", "_shared")

    def __init__(self, shared: Mapping[str, str], key: str, arn: str) -> None:
        self._shared = shared
        self._key = key
        self._arn = arn

    def __getitem__(self, name: str) -> str:
        if name == self._key:
            return self._arn
        return self._shared[name]

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._shared if k != self._key)
        yield self._key

    def __len__(self) -> int:
        return len(self._shared) + (self._key not in self._shared)

    def __repr__(self) -> str:
        return repr(dict(self))


_make_launch = positional_constructor(TaskLaunch)


class LaunchTemplate:
    """What the tasks of one launch share: each task's :class:`TaskLaunch` is made from
    it and the task's snapshot when a backend call needs one, so that a task started at
    once holds no launch (nor labels) of its own while it runs.

    Attributes:
        task_definition: The definition, overrides applied.
        labels: The labels of the task group (the task's ARN is added per task).
        launch_type: ``EC2`` or ``FARGATE``.
        host: The backend instance that runs the tasks (Fargate); None: each task's own
            instance.
    """

    __slots__ = ("at_once", "host", "labels", "launch_type", "task_definition")

    def __init__(
        self,
        task_definition: TaskDefinition,
        labels: Mapping[str, str],
        launch_type: str = "EC2",
        host: str | None = None,
    ) -> None:
        self.task_definition = task_definition
        self.labels = labels
        self.launch_type = launch_type
        self.host = host
        #: Whether a backend may start these tasks in one step (:func:`can_start_at_once`).
        self.at_once = can_start_at_once(task_definition)

    def launch_of(self, task: Task) -> TaskLaunch:
        """The backend's view of ``task``."""
        eni = task.network_interface
        return _make_launch(
            task.arn,
            task.id,
            self.host or task.container_instance_id,
            self.task_definition,
            TaskLabels(self.labels, LABEL_TASK, task.arn),
            self.launch_type,
            eni.security_groups if eni is not None else (),
        )


def can_start_at_once(td: TaskDefinition) -> bool:
    """Whether nothing in the definition makes a start wait between steps (``dependsOn``
    conditions, health checks): only then may a backend start the task in one step."""
    return not any(c.depends_on or c.has_health_probe for c in td.containers)


class SnapshotMaker:
    """Makes task snapshots that differ from ``base`` only in the fields of ``change``,
    given by position to :meth:`make` (the copies of one launch: same draft, own ARN, id
    and instance), and in the ``fixed`` ones they all share: the same result as
    ``change(evolve_task(base, **fixed), *values)`` with the shared part made once."""

    __slots__ = ("_base", "_change")

    def __init__(self, base: Task, change: TaskChange, **fixed: Any) -> None:
        self._base = evolve_task(base, **fixed) if fixed else base
        self._change = change

    def make(self, *values: Any) -> Task:
        """A snapshot with ``values`` for the fields of the change, in order."""
        return self._change(self._base, *values)


def step_error(step: str, backend: Backend, exc: Exception) -> ContainerStartError:
    """A backend step that raised something other than ContainerStartError, as one."""
    if isinstance(exc, ContainerStartError):
        return exc
    detail = str(exc) or "no message"
    return ContainerStartError(
        STEP_ERRORS[step],
        f"the {backend.name} backend's {step} raised {type(exc).__name__}: {detail}"[:900],
    )


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


class Slot:
    """One container's live state inside the runner."""

    __slots__ = (
        "definition",
        "done",
        "exit_code",
        "exited",
        "healthy",
        "may_run",
        "name",
        "runtime_id",
        "started",
        "started_at",
    )

    def __init__(self, definition: ContainerDefinition) -> None:
        self.definition = definition
        self.name = str(definition.name)
        self.runtime_id: str | None = None
        self.started = Flag()  # started once (or will never start: see done)
        self.exited = Flag()
        self.done = Flag()  # exited, or will never run
        self.healthy = Flag()
        self.exit_code: int | None = None
        self.may_run = False  # started, and its exit not reported yet
        self.started_at: float | None = None
