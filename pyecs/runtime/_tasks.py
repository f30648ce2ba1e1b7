"""The cluster's tasks: placing, launching, stopping and remembering them."""

from __future__ import annotations

import collections
import datetime
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from pyecs._waits import Flag
from pyecs.abc import AdoptedTask, Backend, TaskLaunch
from pyecs.backends._shared import LABEL_CLUSTER, LABEL_OWNER, LABEL_SERVICE, LABEL_TASK
from pyecs.exceptions import BackendError, TaskNotFoundError
from pyecs.models._arn import ArnFactory
from pyecs.models.task import AdoptableTask, Container, NetworkInterface, Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.placement._constraints import constraints_from
from pyecs.placement._protocols import PlacementConstraint
from pyecs.placement._scheduler import PlacementState
from pyecs.placement._types import Placement, PlacementFailure, PlacementRequest
from pyecs.runtime._events import EventHub, TaskStateChange
from pyecs.runtime._task_parts import (
    LaunchTemplate,
    SnapshotMaker,
    TaskLabels,
    evolve_task,
    task_change,
)
from pyecs.runtime._task_runner import TaskRunner, running_at_once, stopped_at_once

__all__ = [
    "DescribeServicesResult",
    "DescribeTasksResult",
    "RunTaskResult",
    "TaskCapacity",
    "TaskFailure",
    "TaskManager",
]

_log = logging.getLogger("pyecs.tasks")

#: How long STOPPED tasks stay describable (ECS keeps them at least an hour).
STOPPED_RETENTION = datetime.timedelta(hours=1)
#: At most this many STOPPED tasks are kept (the oldest go first), so that a crash loop
#: cannot grow memory within the hour. ``Cluster(stopped_tasks_kept=...)`` changes it.
STOPPED_TASKS_KEPT = 5000
#: ECS's quota of tasks per service; ``Cluster(max_tasks_per_service=...)`` raises it.
MAX_TASKS_PER_SERVICE = 5000
#: At most this many tasks are placed and launched in one go; a larger count is done in
#: batches with the event loop free in between (each batch takes a few milliseconds).
LAUNCH_BATCH = 100
#: At most this many queued tasks are started at once in a row before the starter yields.
START_BATCH = 500
#: How often STOPPED tasks past their retention are forgotten when nothing else happens.
PRUNE_INTERVAL = 60.0
#: How long leaving the cluster waits for its tasks to stop before cancelling them.
SHUTDOWN_TIMEOUT = 150.0
#: Tasks stopped between two turns of the event loop when every task stops (leaving a
#: cluster of a million simulated tasks takes seconds: the loop must not wait for it all).
STOP_BATCH = 1000


@attrs.frozen
class TaskFailure:
    """A copy that was not started, or an ARN that was not found (ECS ``Failure``)."""

    arn: str | None
    reason: str
    detail: str = ""


@attrs.frozen
class RunTaskResult:
    """What ``run_task`` started, and the copies it could not place."""

    tasks: tuple[Task, ...]
    failures: tuple[TaskFailure, ...]


@attrs.frozen
class DescribeServicesResult:
    """``describe_services``: the services found, and MISSING failures for the others."""

    services: tuple[Any, ...]
    failures: tuple[TaskFailure, ...]


@attrs.frozen
class DescribeTasksResult:
    """``describe_tasks``: the tasks found, and MISSING failures for the others."""

    tasks: tuple[Task, ...]
    failures: tuple[TaskFailure, ...]


@attrs.frozen
class TaskCapacity:
    """Where a task's capacity comes from, as recorded on the task.

    Attributes:
        launch_type: ``EC2`` or ``FARGATE``.
        provider: The capacity provider's name, or None (a launch type, or no provider).
        host_instance_id: The backend instance that runs a Fargate task (its placement
            instance is its own); None: the instance it is placed on.
        network_interface: The ENI of an ``awsvpc`` task with a network configuration.
        platform_version: Fargate's platform version.
    """

    launch_type: str = "EC2"
    provider: str | None = None
    host_instance_id: str | None = None
    network_interface: NetworkInterface | None = None
    platform_version: str | None = None


class _Parked:
    """What makes the runner of a parked task again (see ``TaskRunner.is_parked``): one
    object shared by the tasks of a launch started in the same batch. ``since`` is the
    event loop's time of their start, None for tasks queued to start."""

    __slots__ = ("deactivate", "since", "template")

    def __init__(
        self,
        template: LaunchTemplate,
        deactivate: Callable[[Task], Awaitable[None]] | None,
        since: float | None,
    ) -> None:
        self.template = template
        self.deactivate = deactivate
        self.since = since

    @staticmethod
    def share(
        current: _Parked | None,
        template: LaunchTemplate,
        deactivate: Callable[[Task], Awaitable[None]] | None,
        since: float | None,
    ) -> _Parked:
        """``current`` if it serves a task of ``template`` (one object for the tasks of a
        launch in a row), else a new one."""
        if (
            current is not None
            and current.template is template
            and current.deactivate == deactivate
            and current.since == since
        ):
            return current
        return _Parked(template, deactivate, since)


@attrs.frozen
class _Held:
    """A task that waits in PROVISIONING for its provider to add capacity."""

    td: TaskDefinition
    request: PlacementRequest
    on_deactivate: Callable[[Task], Awaitable[None]] | None
    capacity: TaskCapacity


#: What a copy of a launch has of its own in its first snapshot (see ``_placed``).
_PLACED = task_change(
    "arn",
    "id",
    "container_instance_id",
    "container_instance_arn",
    "availability_zone",
    "network_interface",
    "created_at",
)


class _TaskIds:
    """New task ids: 32 random hex digits each (as ``secrets.token_hex(16)``), read from
    the system's randomness for 256 ids at a time: a read per run_task call cost more
    than the rest of making its ids. A forked child reads its own."""

    __slots__ = ("_at", "_digits", "_pid")

    def __init__(self) -> None:
        self._digits = ""
        self._at = 0
        self._pid = 0

    def take(self, count: int) -> list[str]:
        need = 32 * count
        at = self._at
        if at + need > len(self._digits) or self._pid != os.getpid():
            self._digits = os.urandom(16 * max(count, 256)).hex()
            self._pid = os.getpid()
            at = 0
        self._at = at + need
        digits = self._digits
        return [digits[i : i + 32] for i in range(at, at + need, 32)]


def _task_eni(capacity: TaskCapacity, task_id: str) -> NetworkInterface | None:
    """The network interface of a task launched on ``capacity``: its own id when the
    capacity's has none yet."""
    eni = capacity.network_interface
    if eni is not None and not eni.id:
        return attrs.evolve(eni, id=_eni_id(task_id))
    return eni


def _eni_id(task_id: str) -> str:
    """The ENI attachment id of a task: a UUID, as ECS shows it, derived from the task id."""
    return str(uuid.UUID(task_id)) if len(task_id) == 32 else task_id


def placement_request(td: TaskDefinition, group: str) -> PlacementRequest:
    """What a task of ``td`` reserves on its instance."""
    return PlacementRequest(
        group=group,
        cpu=td.reserved_cpu,
        memory=td.reserved_memory,
        tcp_ports=td.static_host_ports("tcp"),
        udp_ports=td.static_host_ports("udp"),
    )


def owner_labels(cluster: str) -> dict[str, str]:
    """Labels that tie a resource to this cluster and this process."""
    return {
        LABEL_CLUSTER: cluster,
        LABEL_OWNER: f"{socket.gethostname()}:{os.getpid()}",
    }


#: The most task groups whose shared labels are kept (a few per service or run_task group).
_GROUP_LABELS_KEPT = 10_000
#: The most instance ARNs kept for sharing (a Fargate task has an instance id of its own).
_INSTANCE_ARNS_KEPT = 10_000


class TaskManager:
    """Places, launches, stops and remembers one cluster's tasks."""

    def __init__(
        self,
        arns: ArnFactory,
        placement: PlacementState,
        events: EventHub,
        clock: Callable[[], datetime.datetime],
        *,
        stopped_tasks_kept: int = STOPPED_TASKS_KEPT,
    ) -> None:
        self._arns = arns
        self._placement = placement
        self._events = events
        self._clock = clock
        self._keep_stopped = stopped_tasks_kept
        self._stopped_order: collections.deque[str] = collections.deque()
        self.backend: Backend | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._tasks: dict[str, Task] = {}
        self._runners: dict[str, TaskRunner] = {}
        # Tasks started at once that run with nothing asked of them keep no runner: what
        # makes one again is shared by the tasks of a launch (see ``_runner_of``). Nor do
        # tasks queued for a start at once (``_queued``; their ``since`` is None).
        self._parked: dict[str, _Parked] = {}
        self._queued: dict[str, _Parked] = {}
        self._watchers: list[Callable[[Task], None]] = []
        self._held: dict[str, _Held] = {}
        # Tasks whose backend may start them at once wait here for the starter, which
        # takes them all in one go once the caller yields (as a runner would start then).
        self._at_once = False
        self._starting: list[str] = []  # ARNs, in ``_queued`` or with a runner
        self._start_flag = Flag()
        self._last_queued: _Parked | None = None  # shared by the copies of one launch
        self._last_template: LaunchTemplate | None = None
        self._last_td_constraints: tuple[TaskDefinition | None, tuple[PlacementConstraint, ...]] = (
            None,
            (),
        )
        self._ids = _TaskIds()
        self._last_maker: tuple[tuple[object, ...], SnapshotMaker | None] = ((), None)
        self._last_request: tuple[TaskDefinition | None, str, PlacementRequest | None] = (
            None,
            "",
            None,
        )
        self._changed: anyio.Event | None = None
        self._owner_labels = owner_labels(arns.cluster)
        self._labels_of: dict[str, Mapping[str, str]] = {}  # shared labels, by task group
        self._cluster_arn = arns.cluster_arn
        self._task_arn_prefix = arns.task("")  # ``...:task/<cluster>/``: + the id
        self._instance_arns: dict[str, str] = {}
        self._containers_of: tuple[TaskDefinition | None, tuple[Container, ...]] = (None, ())
        # Bound once: every runner holds these (a bound method per runner costs 64 bytes).
        self._publish = self._record
        self._wake_runner = self._wake
        self._exited_at_once = self._on_exit_at_once
        self._is_observed = self._observed
        #: Adopted service tasks not claimed by their service yet, by group.
        self._unclaimed: dict[str, list[str]] = {}

    def attach(self, backend: Backend | None, tg: anyio.abc.TaskGroup) -> None:
        """Give the manager its backend and the cluster's task group."""
        self.backend = backend
        self._tg = tg
        tg.start_soon(self._prune_periodically)
        # Only a backend that implements the fast path gets the starter.
        self._at_once = (
            backend is not None
            and type(backend).start_tasks_at_once is not Backend.start_tasks_at_once
        )
        if self._at_once:
            tg.start_soon(self._start_queued)

    async def _start_queued(self) -> None:
        """Start the queued tasks at once, or hand them to a runner coroutine of their own."""
        assert self._tg is not None
        while True:
            await self._start_flag.wait()
            self._start_flag = Flag()
            while self._starting:
                batch = self._starting[:START_BATCH]
                del self._starting[:START_BATCH]
                self._start_batch(batch)
                if self._starting:
                    await anyio.lowlevel.checkpoint()  # keep the event loop responsive

    def _start_batch(self, batch: list[str]) -> None:
        """Start these tasks at once where the backend can, the others step by step."""
        assert self.backend is not None and self._tg is not None
        # Each is a runner (one was made for it meanwhile) or the queued task's ARN.
        ready: list[TaskRunner | str] = []
        launches = []
        runner_of, queued_of, tasks = self._runners.get, self._queued.get, self._tasks
        for arn in batch:
            runner = runner_of(arn)
            if runner is not None:
                launch = runner.launch_at_once()
                if launch is None:
                    self._tg.start_soon(self._run, runner)
                    continue
                ready.append(runner)
                launches.append(launch)
                continue
            queued = queued_of(arn)
            if queued is not None:  # (None: it stopped meanwhile)
                ready.append(arn)
                launches.append(queued.template.launch_of(tasks[arn]))
        if not ready:
            return
        try:
            results = self.backend.start_tasks_at_once(launches, self._exited_at_once)
        except Exception:
            # A defect of the backend's fast path stays there: its tasks go step by step.
            _log.exception("the %s backend's start_tasks_at_once failed", self.backend.name)
            results = None
        if results is not None and len(results) != len(ready):
            _log.error(
                "the %s backend's start_tasks_at_once answered %d tasks of %d: they go "
                "step by step",
                self.backend.name,
                len(results),
                len(ready),
            )
            results = None
        # One time for the batch, as a start done at once takes no time.
        clock_now, loop_now = self._clock(), anyio.current_time()
        parked: _Parked | None = None
        observed = self._observed()
        queued_tasks, parked_tasks = self._queued, self._parked
        record = self._record
        for item, started in zip(ready, results or [None] * len(ready), strict=True):
            if isinstance(item, str):
                queued = queued_tasks.get(item)
                if queued is not None and started is not None and not observed:
                    # Its whole start in one snapshot, and it runs with no runner.
                    del queued_tasks[item]
                    parked = _Parked.share(parked, queued.template, queued.deactivate, loop_now)
                    parked_tasks[item] = parked
                    record(running_at_once(tasks[item], started, clock_now))
                    continue
                # It takes its runner: made from its queue entry, or already made when a
                # watcher of an earlier task asked something of it (None: it stopped).
                made = self._runner_of(item)
                if made is None:
                    continue
                runner = made
            else:
                runner = item
            if started is None:
                self._tg.start_soon(self._run, runner)
                continue
            runner.started_at_once(started, clock_now, loop_now)
            template = runner.template
            if not runner.is_parked or template is None:
                continue  # a watcher asked something of it meanwhile
            parked = _Parked.share(parked, template, runner.deactivate, loop_now)
            arn = runner.task.arn
            self._parked[arn] = parked
            del self._runners[arn]

    def _wake(self, runner: TaskRunner) -> None:
        """A task started at once needs its coroutine now (it stops, or a container exited)."""
        assert self._tg is not None
        self._tg.start_soon(self._run, runner)

    def _runner_of(self, arn: str) -> TaskRunner | None:
        """The runner of a task that has not stopped yet (made for a queued or parked one:
        a queued one stays queued, and its start takes the runner)."""
        runner = self._runners.get(arn)
        if runner is None:
            parked = self._parked.pop(arn, None) or self._queued.pop(arn, None)
            if parked is not None:
                assert self.backend is not None
                runner = TaskRunner(
                    self.backend,
                    parked.template,
                    self._tasks[arn],
                    self._publish,
                    self._clock,
                    deactivate=parked.deactivate,
                    wake=self._wake_runner,
                    observed=self._is_observed,
                    parked_since=parked.since,
                )
                self._runners[arn] = runner
        return runner

    def _stop_parked(
        self,
        arn: str,
        stop_code: str,
        reason: str,
        *,
        now: datetime.datetime | None = None,
        release: bool = True,
    ) -> bool:
        """Stop a parked task in one step without making its runner again, if nothing
        has to wait (no deactivation, nobody observing each snapshot, a backend that
        stops it at once); False: it takes its runner.

        Args:
            now: The stop's time (the clock's now when None).
            release: Give its place back here; False: the caller does (for many at once).
        """
        parked = self._parked.get(arn)
        if parked is None or parked.deactivate is not None or self._observed():
            return False
        assert self.backend is not None
        task = self._tasks[arn]
        runtime_ids = [c.runtime_id or "" for c in task.containers]
        exits = self.backend.stop_task_at_once(parked.template.launch_of(task), runtime_ids)
        if exits is None:
            return False
        del self._parked[arn]
        when = self._clock() if now is None else now
        self._record(stopped_at_once(task, exits, when, stop_code, reason))
        if release:
            self._placement.release(arn)
        return True

    def _on_exit_at_once(self, arn: str) -> None:
        """A container of a task started at once exited by itself."""
        runner = self._runner_of(arn)
        if runner is not None:
            runner.exited_by_itself()

    def _observed(self) -> bool:
        return self._events.has_subscribers

    async def wait_changed(self) -> None:
        """Return at the next task snapshot (any task)."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    async def _prune_periodically(self) -> None:
        """Forget expired STOPPED tasks even when nobody reads or changes any task."""
        while True:
            await anyio.sleep(PRUNE_INTERVAL)
            self._forget_old()

    def watch(self, callback: Callable[[Task], None]) -> None:
        """Call ``callback`` with every new task snapshot (services use this)."""
        self._watchers.append(callback)

    # -- launching -------------------------------------------------------------------------

    def launch(
        self,
        td: TaskDefinition,
        count: int,
        *,
        group: str,
        started_by: str | None,
        strategies: Iterable[object] | None,
        constraints: Iterable[object] | None,
        tags: Mapping[str, str] | None = None,
        on_deactivate: Callable[[Task], Awaitable[None]] | None = None,
        capacity: TaskCapacity | None = None,
        hold_unplaced: bool = False,
    ) -> tuple[RunTaskResult, tuple[PlacementFailure, ...]]:
        """Place ``count`` tasks of ``td`` and start them in the background.

        Args:
            on_deactivate: Awaited when a task enters DEACTIVATING, before its containers
                are stopped (load-balancer draining).
            capacity: The launch type and capacity provider recorded on the tasks.
            hold_unplaced: Copies that find no instance wait in PROVISIONING (a provider
                with managed scaling adds capacity for them; :meth:`start_held` places
                them) instead of failing.

        Returns:
            The ECS-shaped result, and the scheduler's failures (for service events).
        """
        if self.backend is None or self._tg is None:
            raise BackendError(
                "this cluster has no backend to run tasks on: pass one, for example "
                "Cluster('production', backend=SimulatedBackend()) or DockerBackend()"
            )
        request = self._request(td, group)
        constraints = constraints_from(constraints)  # before it is joined to the td's
        all_constraints = [*self._td_constraints(td), *(constraints or ())]
        ids = self._ids.take(count)
        prefix = self._task_arn_prefix
        keys = [prefix + i for i in ids]
        result = self._placement.place(request, count, strategies, all_constraints, task_keys=keys)
        failures: tuple[TaskFailure, ...] = ()
        if result.failures:
            failures = tuple(
                TaskFailure(
                    self._placement.instance_arn(f.closest_instance_id)
                    if f.closest_instance_id
                    else None,
                    f.reason,
                    f.detail,
                )
                for f in result.failures
            )
        tasks = []
        capacity = capacity or TaskCapacity()
        if result.placements:
            # What the copies share, worked out once (a draft per copy costs a snapshot).
            template = self._template(td, group, capacity)
            maker = self._launch_maker(td, group, started_by, request, tags, capacity)
            tasks = self._copies(maker, result.placements, ids, capacity, self._clock())
            self._new_tasks(on_deactivate, td, tasks, capacity, template)
        if hold_unplaced and result.failures:
            placed = {p.copy_index for p in result.placements}
            for index in range(count):
                if index in placed:
                    continue
                draft = self._draft(td, keys[index], ids[index], group, started_by, request, tags)
                task = attrs.evolve(
                    draft,
                    launch_type=capacity.launch_type,
                    capacity_provider_name=capacity.provider,
                    network_interface=capacity.network_interface
                    and attrs.evolve(capacity.network_interface, id=_eni_id(draft.id)),
                    platform_version=capacity.platform_version,
                )
                self._held[task.arn] = _Held(td, request, on_deactivate, capacity)
                self._record(task)
                tasks.append(task)
            return RunTaskResult(tuple(tasks), ()), ()
        return RunTaskResult(tuple(tasks), failures), result.failures

    def _td_constraints(self, td: TaskDefinition) -> tuple[PlacementConstraint, ...]:
        """The definition's placement constraints, each parsed once for the launches of
        one definition in a row (the scheduler reuses equal constraints of a call before)."""
        last_td, parsed = self._last_td_constraints
        if last_td is not td:
            parsed = constraints_from(
                [
                    {"type": "memberOf", "expression": pc.expression}
                    for pc in td.placement_constraints or ()
                ]
            )
            self._last_td_constraints = (td, parsed)
        return parsed

    def _request(self, td: TaskDefinition, group: str) -> PlacementRequest:
        """:func:`placement_request`, worked out once per definition and group in a row
        (the launches of a service, or of a loop of run_task calls)."""
        last_td, last_group, request = self._last_request
        if request is None or last_td is not td or last_group != group:
            request = placement_request(td, group)
            self._last_request = (td, group, request)
        return request

    def held(self, provider: str | None = None) -> list[Task]:
        """Tasks waiting in PROVISIONING for capacity (of one provider, or all), oldest first."""
        return [
            self._tasks[arn]
            for arn, h in self._held.items()
            if provider is None or h.capacity.provider == provider
        ]

    def held_request(self, arn: str) -> PlacementRequest:
        """What a waiting task will reserve once placed."""
        return self._held[arn].request

    def start_held(
        self, arn: str, strategies: Iterable[object] | None, constraints: Iterable[object]
    ) -> bool:
        """Place a task waiting in PROVISIONING and start it; False if nothing fits yet."""
        held = self._held.get(arn)
        if held is None:
            return False
        td = held.td
        all_constraints = [*self._td_constraints(td), *constraints]
        result = self._placement.place(
            held.request, 1, strategies, all_constraints, task_keys=[arn]
        )
        if not result.placements:
            return False
        del self._held[arn]
        waiting = self._tasks[arn]
        maker = self._placed_maker(waiting, held.capacity)
        (task,) = self._copies(
            maker, result.placements, [waiting.id], held.capacity, waiting.created_at
        )
        self._new_task(
            held.on_deactivate, td, evolve_task(task, version=waiting.version + 1), held.capacity
        )
        return True

    async def launch_in_batches(
        self, td: TaskDefinition, count: int, **options: Any
    ) -> tuple[RunTaskResult, tuple[PlacementFailure, ...]]:
        """:meth:`launch` for any count, :data:`LAUNCH_BATCH` copies at a time.

        Placement is sequential either way, so the batches place exactly as one call
        would; in between, the event loop runs everything else.
        """
        tasks: list[Task] = []
        failures: list[TaskFailure] = []
        placement_failures: list[PlacementFailure] = []
        for done in range(0, count, LAUNCH_BATCH):
            if done:
                await anyio.lowlevel.checkpoint()
            result, unplaced = self.launch(td, min(LAUNCH_BATCH, count - done), **options)
            tasks.extend(result.tasks)
            failures.extend(result.failures)
            placement_failures.extend(unplaced)
        return RunTaskResult(tuple(tasks), tuple(failures)), tuple(placement_failures)

    def _draft(
        self,
        td: TaskDefinition,
        arn: str,
        task_id: str,
        group: str,
        started_by: str | None,
        request: PlacementRequest,
        tags: Mapping[str, str] | None,
    ) -> Task:
        """The first snapshot of a task, before it has an instance."""
        return Task(
            arn=arn,
            id=task_id,
            cluster_arn=self._cluster_arn,
            task_definition_arn=str(td.task_definition_arn),
            container_instance_id="",
            container_instance_arn="",
            group=group,
            started_by=started_by,
            cpu=request.cpu,
            memory=request.memory,
            containers=self._first_containers(td),
            created_at=self._clock(),
            tags=tuple(sorted(tags.items())) if tags else (),
        )

    def _launch_maker(
        self,
        td: TaskDefinition,
        group: str,
        started_by: str | None,
        request: PlacementRequest,
        tags: Mapping[str, str] | None,
        capacity: TaskCapacity,
    ) -> SnapshotMaker:
        """What the copies of a launch are made from (:meth:`_placed_maker` of their
        draft): the same object for the launches in a row that share all of it (a loop of
        run_task calls, a service's launches), as their copies differ only in what
        :meth:`_placed` gives."""
        key = (
            td,
            group,
            started_by,
            tuple(sorted(tags.items())) if tags else (),
            request,
            capacity,
        )
        last_key, maker = self._last_maker
        if maker is None or last_key != key:
            draft = self._draft(td, "", "", group, started_by, request, tags)
            maker = self._placed_maker(draft, capacity)
            self._last_maker = (key, maker)
        return maker

    def _placed_maker(self, draft: Task, capacity: TaskCapacity) -> SnapshotMaker:
        """What :meth:`_placed` makes the copies of a launch from: ``draft`` with what
        they all share (the capacity) set once."""
        return SnapshotMaker(
            draft,
            _PLACED,
            launch_type=capacity.launch_type,
            capacity_provider_name=capacity.provider,
            platform_version=capacity.platform_version,
        )

    def _copies(
        self,
        maker: SnapshotMaker,
        placements: Sequence[Placement],
        ids: Sequence[str],
        capacity: TaskCapacity,
        created_at: datetime.datetime | None,
    ) -> list[Task]:
        """The first snapshots of the placed copies of a launch, from its draft (see
        :meth:`_placed_maker`): each with its key, its id (``ids[copy_index]``), its
        instance and the time given apart. The copies on one instance in a row
        (binpack) share its ARN and zone, looked up once."""
        # A Fargate task keeps the id of its own capacity here (placement and services
        # track it); ECS shows no containerInstanceArn for it, and neither do the shapes.
        tasks = []
        last_instance, instance_arn, zone = None, "", None
        attribute = self._placement.attribute
        eni = capacity.network_interface
        own_eni = eni is not None and not eni.id  # each copy gets an id of its own
        for p in placements:
            instance_id = p.instance_id
            if instance_id != last_instance:
                last_instance = instance_id
                instance_arn = self._instance_arn(instance_id)
                zone = attribute(instance_id, "ecs.availability-zone")
            task_id = ids[p.copy_index]
            tasks.append(
                maker.make(
                    p.task_key,
                    task_id,
                    instance_id,
                    instance_arn,
                    zone,
                    _task_eni(capacity, task_id) if own_eni else eni,
                    created_at,
                )
            )
        return tasks

    def _template(self, td: TaskDefinition, group: str, capacity: TaskCapacity) -> LaunchTemplate:
        """What the tasks of one launch share for the backend (the same object for the
        launches of one definition, group and capacity in a row)."""
        last = self._last_template
        if (
            last is not None
            and last.task_definition is td
            and last.labels is self._labels_of.get(group)
            and last.launch_type == capacity.launch_type
            and last.host == capacity.host_instance_id
        ):
            return last
        template = LaunchTemplate(
            td, self._group_labels(group), capacity.launch_type, capacity.host_instance_id
        )
        self._last_template = template
        return template

    def _group_labels(self, group: str) -> Mapping[str, str]:
        """The labels every task of ``group`` has (a service's name among them)."""
        labels = self._labels_of.get(group)
        if labels is None:
            labels = dict(self._owner_labels)
            if group.startswith("service:"):  # the Docker backend aliases service tasks by it
                labels[LABEL_SERVICE] = group[len("service:") :]
            if len(self._labels_of) >= _GROUP_LABELS_KEPT:
                self._labels_of.clear()
            self._labels_of[group] = labels
        return labels

    def _new_task(
        self,
        on_deactivate: Callable[[Task], Awaitable[None]] | None,
        td: TaskDefinition,
        task: Task,
        capacity: TaskCapacity,
    ) -> None:
        """Record a placed task and have it started."""
        self._new_tasks(
            on_deactivate, td, [task], capacity, self._template(td, task.group, capacity)
        )

    def _new_tasks(
        self,
        on_deactivate: Callable[[Task], Awaitable[None]] | None,
        td: TaskDefinition,
        tasks: Sequence[Task],
        capacity: TaskCapacity,
        template: LaunchTemplate,
    ) -> None:
        """Record the placed copies of one launch and have them started, one after the
        other (each recorded, and so seen by the watchers, before the next).

        Args:
            template: What the copies share (made from ``td``, their group and
                ``capacity``).
        """
        assert self.backend is not None and self._tg is not None
        record = self._record
        if self._at_once and template.at_once:
            # No runner until something is asked of them: the starter starts them at once.
            queued = self._last_queued = _Parked.share(
                self._last_queued, template, on_deactivate, None
            )
            queued_tasks, starting = self._queued, self._starting
            for task in tasks:
                queued_tasks[task.arn] = queued
                record(task)
                starting.append(task.arn)
            if not self._start_flag.is_set():
                self._start_flag.set()
            return
        for task in tasks:
            runner = TaskRunner(
                self.backend,
                template,
                task,
                self._publish,
                self._clock,
                deactivate=on_deactivate,
                wake=self._wake_runner if self._at_once else None,
                observed=self._is_observed,
            )
            self._runners[task.arn] = runner
            record(task)
            self._tg.start_soon(self._run, runner)

    def _instance_arn(self, instance_id: str) -> str:
        """The instance's ARN, one string shared by all its tasks."""
        arn = self._instance_arns.get(instance_id)
        if arn is None:
            if len(self._instance_arns) >= _INSTANCE_ARNS_KEPT:  # Fargate: one per task
                self._instance_arns.clear()
            arn = self._instance_arns[instance_id] = self._placement.instance_arn(instance_id)
        return arn

    def _first_containers(self, td: TaskDefinition) -> tuple[Container, ...]:
        """The containers of a new task of ``td`` (frozen values: shared by its tasks)."""
        if self._containers_of[0] is not td:
            containers = tuple(
                Container(
                    name=str(c.name),
                    image=str(c.image),
                    essential=c.is_essential,
                    has_health_check=c.has_health_probe,
                )
                for c in td.containers
            )
            self._containers_of = (td, containers)
        return self._containers_of[1]

    # -- adopting ---------------------------------------------------------------------------

    def adopt(self, known: AdoptableTask, td: TaskDefinition, found: AdoptedTask) -> Task:
        """Take over a task an earlier run started: RUNNING at once, with its old ARN.

        Its resources are reserved where it runs; a service task waits in
        :meth:`claim` for its service.
        """
        assert self.backend is not None and self._tg is not None
        request = placement_request(td, known.group)
        self._placement.reserve(known.arn, found.instance_id, request)
        by_name = {c.name: c for c in found.containers}
        containers = []
        for c in td.containers:
            name = str(c.name)
            mine = by_name.get(name)
            containers.append(
                Container(
                    name=name,
                    image=str(c.image),
                    essential=c.is_essential,
                    has_health_check=c.has_health_probe,
                    runtime_id=mine.runtime_id if mine else None,
                    last_status="RUNNING" if mine else "STOPPED",
                    network_bindings=mine.network_bindings if mine else (),
                )
            )
        now = self._clock()
        task = Task(
            arn=known.arn,
            id=known.arn.rsplit("/", 1)[-1],
            cluster_arn=self._arns.cluster_arn,
            task_definition_arn=str(td.task_definition_arn),
            container_instance_id=found.instance_id,
            container_instance_arn=self._placement.instance_arn(found.instance_id),
            availability_zone=self._placement.attribute(found.instance_id, "ecs.availability-zone"),
            group=known.group,
            started_by=known.started_by,
            last_status="RUNNING",
            cpu=request.cpu,
            memory=request.memory,
            containers=tuple(containers),
            created_at=known.created_at or now,
            started_at=known.started_at or now,
            tags=known.tags,
        )
        labels = TaskLabels(self._group_labels(known.group), LABEL_TASK, known.arn)
        if known.group.startswith("service:"):
            self._unclaimed.setdefault(known.group, []).append(known.arn)
        launch = TaskLaunch(known.arn, task.id, found.instance_id, td, labels)
        runner = TaskRunner(self.backend, launch, task, self._record, self._clock, adopted=by_name)
        self._runners[known.arn] = runner
        self._record(task)
        self._tg.start_soon(self._run, runner)
        return task

    def claim(
        self, group: str, on_deactivate: Callable[[Task], Awaitable[None]] | None
    ) -> list[Task]:
        """The adopted tasks of ``group`` still running, handed to the service of that group
        (which drains them with ``on_deactivate`` when they stop)."""
        out = []
        for arn in self._unclaimed.pop(group, []):
            runner = self._runner_of(arn)
            if runner is None:
                continue
            runner.deactivate = on_deactivate
            out.append(runner.task)
        return out

    async def _run(self, runner: TaskRunner) -> None:
        try:
            await runner.run()
        except Exception:
            # The runner turns every backend failure into a stop code; what still gets here
            # is a defect of pyecs. It stays with this task: the cluster keeps running.
            _log.exception("task %s: its runner failed", runner.task.arn)
            if runner.task.last_status != "STOPPED":
                self._record(
                    attrs.evolve(
                        runner.task,
                        version=runner.task.version + 1,
                        last_status="STOPPED",
                        desired_status="STOPPED",
                        stop_code=runner.task.stop_code or "TaskFailedToStart",
                        stopped_reason=runner.task.stopped_reason
                        or "InternalError: pyecs failed to supervise this task (see its log)",
                        stopped_at=self._clock(),
                    )
                )
        finally:
            self._finish(runner)

    def _finish(self, runner: TaskRunner) -> None:
        """The task is STOPPED: free its place and forget its runner."""
        self._placement.release(runner.task.arn)
        self._runners.pop(runner.task.arn, None)
        self._parked.pop(runner.task.arn, None)
        self._queued.pop(runner.task.arn, None)

    def _record(self, task: Task) -> None:
        arn, status = task.arn, task.last_status
        tasks = self._tasks
        if status == "RUNNING" or status == "STOPPED":
            previous = tasks.get(arn)
            tasks[arn] = task
            if previous is None or previous.last_status != status:
                if status == "RUNNING":
                    self._placement.mark_running(arn)
                else:
                    self._stopped_order.append(arn)
                    self._forget_old(task.stopped_at)  # the time of that stop: now
        else:
            tasks[arn] = task
        if self._events.has_subscribers:
            self._events.publish(TaskStateChange(task, self._clock()))
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        for callback in self._watchers:
            try:
                callback(task)
            except Exception:  # one watcher's defect must not stop the task or the others
                _log.exception("task %s: a task watcher failed", task.arn)

    # -- stopping --------------------------------------------------------------------------

    def stop(self, arn: str, stop_code: str, reason: str, *, grace: float | None = None) -> Task:
        """Ask a task to stop; returns its snapshot (desired STOPPED).

        Args:
            grace: Caps every container's stop timeout (see ``TaskRunner.request_stop``).
        """
        task = self.get(arn)
        if grace is None and self._stop_parked(task.arn, stop_code, reason):
            return self._tasks[task.arn]
        runner = self._runner_of(task.arn)
        if runner is not None:
            runner.request_stop(stop_code, reason, grace=grace)
            if runner.is_stopped:  # stopped at once: no coroutine will finish it
                self._finish(runner)
            return runner.task
        if self._held.pop(task.arn, None) is not None:
            # It never had an instance or a container: it goes straight to STOPPED.
            now = self._clock()
            task = attrs.evolve(
                task,
                version=task.version + 1,
                last_status="STOPPED",
                desired_status="STOPPED",
                stop_code=stop_code,
                stopped_reason=reason,
                stopping_at=now,
                stopped_at=now,
            )
            self._record(task)
        return task

    async def stop_all(self, reason: str, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Stop every task and wait (bounded) until all are STOPPED."""
        for arn in list(self._held):
            self.stop(arn, "UserInitiated", reason)
        waiting = []
        # Those stopped at once give their places back together, batch by batch (one
        # index update per instance), and share their batch's time, as a start at once.
        released: list[str] = []
        now = self._clock()
        for index, arn in enumerate([*self._runners, *self._parked, *self._queued]):
            if index and not index % STOP_BATCH:
                self._placement.release_many(released)
                released.clear()
                await anyio.lowlevel.checkpoint()  # the rest of the program gets a turn
                now = self._clock()
            if self._stop_parked(arn, "UserInitiated", reason, now=now, release=False):
                released.append(arn)
                continue
            runner = self._runner_of(arn)
            if runner is None:
                continue
            runner.request_stop("UserInitiated", reason)
            if runner.is_stopped:  # stopped at once: no coroutine will finish it
                self._finish(runner)
            else:
                waiting.append(runner)
        self._placement.release_many(released)
        with anyio.move_on_after(timeout):
            for runner in waiting:
                await runner.wait_stopped()

    async def wait_stopped(self, arn: str) -> Task:
        """Wait until the task is STOPPED and return that snapshot."""
        runner = self._runner_of(arn)
        if runner is not None:
            await runner.wait_stopped()
        return self._tasks[arn]

    # -- reads -----------------------------------------------------------------------------

    def get(self, ref: str) -> Task:
        """The latest snapshot of a task, by ARN or id.

        Raises:
            TaskNotFoundError: when no task of this cluster has that ARN or id.
        """
        task = self._tasks.get(ref) or self._tasks.get(self._task_arn_prefix + ref)
        if task is None:
            raise TaskNotFoundError(
                f"no task {ref!r} in cluster {self._arns.cluster!r}; list_tasks() shows "
                "the ones it has (STOPPED tasks are kept for an hour)"
            )
        return task

    def get_many(self, refs: Iterable[str]) -> list[Task]:
        """:meth:`get` of each, in order (one call for a waiter's many tasks)."""
        tasks, prefix = self._tasks, self._task_arn_prefix
        found = []
        for ref in refs:
            task = tasks.get(ref) or tasks.get(prefix + ref)
            found.append(self.get(ref) if task is None else task)  # (None: raises)
        return found

    def first_not_at(self, arns: Sequence[str], start: int, status: str) -> int:
        """The index of the first of ``arns`` from ``start`` whose task's ``last_status``
        is not ``status`` now (or that is no longer known); ``len(arns)`` when all are.
        One call for a waiter's pass over many tasks."""
        tasks = self._tasks
        for index in range(start, len(arns)):
            task = tasks.get(arns[index])
            if task is None or task.last_status != status:
                return index
        return len(arns)

    def runner(self, arn: str) -> TaskRunner | None:
        """The runner of a task that has not stopped yet."""
        return self._runner_of(arn)

    def describe(self, refs: Sequence[str]) -> DescribeTasksResult:
        """Snapshots of the tasks, and MISSING failures for unknown refs."""
        self._forget_old()
        found, failures = [], []
        for ref in refs:
            try:
                found.append(self.get(ref))
            except TaskNotFoundError:
                failures.append(TaskFailure(ref, "MISSING"))
        return DescribeTasksResult(tuple(found), tuple(failures))

    def list_arns(self, **filters: Any) -> list[str]:
        """ARNs of the tasks that pass every filter (see ``Cluster.list_tasks``)."""
        self._forget_old()
        desired = filters.get("desired_status") or "RUNNING"
        out = []
        for task in self._tasks.values():
            if task.desired_status != desired:
                continue
            family = filters.get("family")
            if (
                family is not None
                and task.task_definition_arn.rsplit("/", 1)[-1].split(":")[0] != family
            ):
                continue
            service = filters.get("service_name")
            if service is not None and task.group != f"service:{service}":
                continue
            instance = filters.get("container_instance")
            if instance is not None and instance not in (
                task.container_instance_id,
                task.container_instance_arn,
            ):
                continue
            started_by = filters.get("started_by")
            if started_by is not None and task.started_by != started_by:
                continue
            out.append(task.arn)
        return out

    def all(self) -> list[Task]:
        """Every remembered task snapshot."""
        return list(self._tasks.values())

    def find(self, arn: str) -> Task | None:
        """The latest snapshot of the task with this ARN, or None once it is forgotten."""
        return self._tasks.get(arn)

    @property
    def stopped_count(self) -> int:
        """How many STOPPED tasks are remembered."""
        return len(self._stopped_order)

    def _forget_old(self, now: datetime.datetime | None = None) -> None:
        """Drop STOPPED tasks past their retention, and the oldest beyond the cap.

        ``_stopped_order`` lists them in the order they stopped, so this looks only at the
        ones it drops, plus one.

        Args:
            now: The clock's time, if the caller has it (the clock's now when None).
        """
        cutoff = (self._clock() if now is None else now) - STOPPED_RETENTION
        order = self._stopped_order
        while order:
            task = self._tasks.get(order[0])
            expired = task is None or (task.stopped_at is not None and task.stopped_at < cutoff)
            if not expired and len(order) <= self._keep_stopped:
                return
            self._tasks.pop(order.popleft(), None)
