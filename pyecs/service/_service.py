"""``Service``: the ECS service scheduler for one service, running in-process.

The reconcile loop keeps ``desired_count`` tasks RUNNING and healthy, replaces tasks that
stop or turn UNHEALTHY, runs rolling deployments within ECS's bounds, trips the circuit
breaker, throttles tasks that never start, and writes ECS's service event messages. The
decisions are in :mod:`pyecs.service._plan` (pure, synchronous); this module holds the
state, the public API and the loop.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from typing import Literal

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from pyecs._checks import check_timeout
from pyecs.abc import FeatureContext, ServiceFeature
from pyecs.exceptions import InvalidParameterError, PyecsError, TimeoutError
from pyecs.lb._balancer import ServiceLoadBalancer
from pyecs.models.capacity import (
    FARGATE_PROVIDERS,
    PROVIDER_ATTRIBUTE,
    CapacityProviderStrategyItem,
)
from pyecs.models.instance import ContainerInstance
from pyecs.models.network import AwsVpcConfiguration
from pyecs.models.service import (
    Deployment,
    DeploymentConfiguration,
    RestartBackoff,
    circuit_breaker_threshold,
)
from pyecs.models.snapshot import DeploymentState, ServiceSnapshot
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.placement import DEFAULT_SERVICE_STRATEGY
from pyecs.placement.query import parse
from pyecs.runtime._capacity import FARGATE_PLATFORM_VERSION, CapacityChoice
from pyecs.runtime._events import ServiceEvent
from pyecs.runtime._runtime import ClusterRuntime
from pyecs.runtime._tasks import LAUNCH_BATCH
from pyecs.service._checks import check_backoff, check_count, check_daemon_config, check_grace
from pyecs.service._gate import LaunchGate
from pyecs.service._plan import Plan, make_plan, scale_in_need
from pyecs.service.features._balancing import LoadBalancing

__all__ = ["Service"]

_log = logging.getLogger("pyecs.services")

#: How often an unplaceable task is retried when nothing else wakes the service.
PLACEMENT_RETRY = 5.0
#: Tasks seen RUNNING within this many seconds of each other share one time (a float costs
#: 24 bytes per task; no rule of the service is that precise).
_SEEN_RESOLUTION = 0.001
#: Task states counted as pending (``pendingCount``).
_PENDING = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})


def _deployment_id() -> str:
    return "ecs-svc/" + "".join(str(secrets.randbelow(10)) for _ in range(19))


@attrs.define
class _Deployment:
    id: str
    task_definition: TaskDefinition
    created_at: datetime.datetime
    updated_at: datetime.datetime
    status: Literal["PRIMARY", "ACTIVE", "INACTIVE"] = "PRIMARY"
    rollout_state: Literal["IN_PROGRESS", "COMPLETED", "FAILED"] = "IN_PROGRESS"
    rollout_state_reason: str = ""
    failed_tasks: int = 0
    seen_running: bool = False
    rollback_of: str | None = None


class Service:
    """One ECS service. Create it with ``await cluster.create_service(...)``.

    Reads (``running_count``, ``tasks``, ``deployments``, ``events``) are plain properties of
    in-memory state; ``update``, ``delete`` and ``wait_stable`` are async.
    """

    def __init__(
        self,
        runtime: ClusterRuntime,
        name: str,
        task_definition: TaskDefinition,
        *,
        desired_count: int,
        scheduling_strategy: Literal["REPLICA", "DAEMON"],
        placement_strategy: Sequence[object],
        placement_constraints: Sequence[object],
        deployment_configuration: DeploymentConfiguration,
        health_check_grace_period: float,
        healthy_delay: float,
        tags: Mapping[str, str],
        restart_backoff: RestartBackoff | None = None,
        features: Sequence[ServiceFeature] = (),
        capacity: CapacityChoice | None = None,
        network_configuration: AwsVpcConfiguration | None = None,
        starved: set[Service] | None = None,
    ) -> None:
        """See :meth:`ServiceManager.create_service`.

        Args:
            starved: Where the service puts itself while it has tasks that found no
                instance, and takes itself out once it has none: the services a STOPPED
                task's freed capacity is worth a pass to.
        """
        self._runtime = runtime
        self.name = name
        self.arn = runtime.arns.service(name)
        self.status: Literal["ACTIVE", "DRAINING", "INACTIVE"] = "ACTIVE"
        self.scheduling_strategy = scheduling_strategy
        self._desired = desired_count
        self.placement_strategy = list(placement_strategy)
        self.placement_constraints = list(placement_constraints)
        self.deployment_configuration = deployment_configuration
        self.health_check_grace_period = health_check_grace_period
        self.healthy_delay = healthy_delay
        self.tags = dict(tags)
        self.created_at = runtime.clock()
        now = runtime.clock()
        self._deployments = [_Deployment(_deployment_id(), task_definition, now, now)]
        # The service's tasks that are not STOPPED (the latest snapshot of each, oldest
        # first), and how many are RUNNING and pending: kept at each task snapshot, so that
        # no read walks the tasks.
        self._tasks: dict[str, Task] = {}
        self._running = 0
        self._pending = 0
        self._per_provider: dict[str, int] = {}  # tasks not stopping, per capacity provider
        # When tasks were last seen RUNNING: tasks seen within _SEEN_RESOLUTION share it.
        self._seen_at = -math.inf
        self._launching = False  # snapshots of new tasks now are this service's
        self._running_since: dict[str, float] = {}
        self._serving: set[str] = set()
        self._events: collections.deque[ServiceEvent] = collections.deque(maxlen=100)
        self._wake = anyio.Event()
        # Set at the next change; made only when someone waits (an Event costs microseconds
        # and the service changes at every task snapshot).
        self._changed: anyio.Event | None = None
        # The loop: a full pass is due (something else than a task's progress changed);
        # launches the last plan still owes; the last full pass left nothing to do until
        # the pending tasks are RUNNING; when to look again at the latest.
        self._full = True
        self._owed = 0
        self._owed_constraints: list[object] = []
        self._settled = False
        self._deadline: float | None = None
        self._owed_next: float | None = None
        self._starved = starved if starved is not None else set()
        self._gate = LaunchGate(name)
        self.restart_backoff = restart_backoff or RestartBackoff()
        self._last_error_event: str | None = None
        self._steady_reported = False
        self._last_place_event: str | None = None
        self._stuck_reported = False
        self._frozen = False
        self.features = tuple(features)
        # The features that override a per-task hook (the others are not called per task).
        self._watching = [f for f in self.features if _overrides(f, "task_changed")]
        self._vouching = [f for f in self.features if _overrides(f, "vouches_healthy")]
        self._holding = [f for f in self.features if _overrides(f, "allows_healthy")]
        self._capacity = capacity or CapacityChoice()
        self._network = network_configuration
        context = FeatureContext(
            service_name=name,
            service_arn=self.arn,
            region=runtime.arns.region,
            account=runtime.arns.account,
            wake=self._feature_changed,
            cluster_open=lambda: runtime.is_open,
            security_policy=lambda: runtime.security_groups.policy,
            cluster_name=runtime.name,
            snapshot=self.snapshot,
            set_desired_count=self._feature_desired_count,
        )
        for feature in self.features:
            feature.bind(context)

    def __repr__(self) -> str:
        return (
            f"<Service {self.name!r} {self.status} desired={self.desired_count} "
            f"running={self.running_count} pending={self.pending_count}>"
        )

    # -- reads -----------------------------------------------------------------------------

    @property
    def desired_count(self) -> int:
        """Tasks the service keeps (for DAEMON: one per eligible instance)."""
        if self.scheduling_strategy == "DAEMON" and self.status == "ACTIVE":
            return len(self._daemon_instances())
        return self._desired

    @property
    def cluster_arn(self) -> str:
        """The ARN of the cluster the service belongs to."""
        return self._runtime.arns.cluster_arn

    @property
    def tasks(self) -> list[Task]:
        """The service's tasks that are not STOPPED, oldest first."""
        return list(self._tasks.values())

    @property
    def running_count(self) -> int:
        """Tasks in the RUNNING state."""
        return self._running

    @property
    def pending_count(self) -> int:
        """Tasks placed but not RUNNING yet."""
        return self._pending

    @property
    def capacity_provider_strategy(self) -> tuple[CapacityProviderStrategyItem, ...]:
        """The strategy the service's tasks are launched with (its own, or the cluster
        default it was created under); empty with a launch type."""
        return self._capacity.strategy

    @property
    def network_configuration(self) -> AwsVpcConfiguration | None:
        """The ``awsvpcConfiguration`` of the service's tasks, if any."""
        return self._network

    @property
    def launch_type(self) -> str | None:
        """``EC2`` or ``FARGATE``; None when the service uses a capacity provider strategy."""
        return None if self._capacity.strategy else self._capacity.launch_type

    @property
    def platform_version(self) -> str | None:
        """Fargate's platform version for a Fargate service, else None."""
        return FARGATE_PLATFORM_VERSION if self._capacity.uses_fargate else None

    @property
    def task_definition(self) -> TaskDefinition:
        """The PRIMARY deployment's task definition."""
        return self._deployments[0].task_definition

    @property
    def deployments(self) -> list[Deployment]:
        """PRIMARY first, then ACTIVE ones that still have tasks."""
        running: collections.Counter[str | None] = collections.Counter()
        pending: collections.Counter[str | None] = collections.Counter()
        for t in self._tasks.values():  # one walk, whatever the number of deployments
            (running if t.last_status == "RUNNING" else pending)[t.started_by] += 1
        out = []
        for d in self._deployments:
            out.append(
                Deployment(
                    id=d.id,
                    status=d.status,
                    task_definition=str(d.task_definition.task_definition_arn),
                    desired_count=self.desired_count if d.status == "PRIMARY" else 0,
                    created_at=d.created_at,
                    updated_at=d.updated_at,
                    pending_count=pending[d.id],
                    running_count=running[d.id],
                    failed_tasks=d.failed_tasks,
                    rollout_state=d.rollout_state,
                    rollout_state_reason=d.rollout_state_reason,
                )
            )
        return out

    @property
    def load_balancers(self) -> list[ServiceLoadBalancer]:
        """The service's running load balancers (``load_balancers=`` of create_service)."""
        return [lb for f in self.features if isinstance(f, LoadBalancing) for lb in f.balancers]

    @property
    def load_balancer(self) -> ServiceLoadBalancer:
        """The first load balancer: ``svc.load_balancer.address`` / ``.url``.

        Raises:
            InvalidParameterError: when the service has no load balancer.
        """
        balancers = self.load_balancers
        if not balancers:
            raise InvalidParameterError(
                f"service {self.name!r} has no load balancer: create it with "
                "load_balancers=[pyecs.LoadBalancer(container_name=..., container_port=...)]"
            )
        return balancers[0]

    @property
    def events(self) -> list[ServiceEvent]:
        """The latest 100 service events, newest first (as ECS lists them)."""
        return list(reversed(self._events))

    def is_stable(self) -> bool:
        """One deployment, running == desired, nothing pending, every task healthy."""
        if self.status != "ACTIVE" or len(self._deployments) != 1:
            return False
        # What can be told without a snapshot first (waiters ask at every change).
        if self._deployments[0].rollout_state != "COMPLETED" or self._running != len(self._tasks):
            return False
        snap = self.snapshot()
        return (
            self._deployments[0].rollout_state == "COMPLETED"
            and len(snap.tasks) == snap.desired_count
            and all(snap.is_healthy(t) for t in snap.tasks)
        )

    # -- writes ----------------------------------------------------------------------------

    async def update(
        self,
        *,
        desired_count: int | None = None,
        task_definition: str | TaskDefinition | None = None,
        force_new_deployment: bool = False,
        deployment_configuration: DeploymentConfiguration | None = None,
        placement_strategy: Sequence[object] | None = None,
        placement_constraints: Sequence[object] | None = None,
        health_check_grace_period: float | None = None,
        restart_backoff: RestartBackoff | None = None,
        capacity_provider_strategy: Sequence[object] | None = None,
        network_configuration: object = None,
    ) -> Service:
        """Change the service (ECS UpdateService).

        A new task definition, capacity provider strategy or network configuration, or
        ``force_new_deployment``, starts a rolling deployment; the other changes don't.

        Raises:
            InvalidParameterError: bad values (nothing is changed then).
            TaskDefinitionNotFoundError: unknown or INACTIVE task definition.
        """
        if self.status != "ACTIVE":
            raise InvalidParameterError(
                f"service {self.name!r} is {self.status}: it cannot be updated"
            )
        new_td = None
        if task_definition is not None:
            new_td = self._runtime.resolve(task_definition)
            for feature in self.features:
                feature.check_task_definition(new_td)
        config = deployment_configuration or self.deployment_configuration
        if desired_count is not None:
            check_count(desired_count, self._runtime.max_tasks_per_service)
            if self.scheduling_strategy == "DAEMON":
                raise InvalidParameterError("a DAEMON service has no desired_count to set")
        check_daemon_config(self.scheduling_strategy, config)
        strategies = self._runtime.check_placement(
            placement_strategy, placement_constraints, self.scheduling_strategy
        )
        if health_check_grace_period is not None:
            check_grace(health_check_grace_period)
        check_backoff(restart_backoff)
        capacity = self._capacity
        if capacity_provider_strategy is not None:
            capacity = self._runtime.capacity.choose(None, capacity_provider_strategy)
            if capacity.uses_fargate != self._capacity.uses_fargate:
                raise InvalidParameterError(
                    "a service cannot move between Fargate and EC2 capacity in an update; "
                    "create a new service"
                )
        network = self._network
        if (
            network_configuration is not None
            or new_td is not None
            or (capacity_provider_strategy is not None)
        ):
            network = self._runtime.capacity.check_network(
                new_td or self.task_definition, capacity, network_configuration or network
            )
        # Everything is valid: apply.
        capacity_changed = capacity != self._capacity or network != self._network
        self._capacity = capacity
        self._network = network
        if desired_count is not None:
            self._desired = desired_count
        self.deployment_configuration = config
        if placement_strategy is not None:
            self.placement_strategy = strategies
        if placement_constraints is not None:
            self.placement_constraints = list(placement_constraints)
        if health_check_grace_period is not None:
            self.health_check_grace_period = health_check_grace_period
        if restart_backoff is not None:
            self.restart_backoff = restart_backoff
        if new_td is not None or force_new_deployment or capacity_changed:
            td = new_td or self.task_definition
            if new_td is not None and new_td.task_definition_arn != (
                self.task_definition.task_definition_arn
            ):
                self._gate.reset()
            self._new_deployment(td)
        self._steady_reported = False
        self.wake()
        return self

    def _new_deployment(self, td: TaskDefinition, rollback_of: str | None = None) -> None:
        now = self._runtime.clock()
        for d in self._deployments:
            d.status = "ACTIVE"
            d.updated_at = now
        self._deployments.insert(
            0, _Deployment(_deployment_id(), td, now, now, rollback_of=rollback_of)
        )
        self._stuck_reported = False
        self._last_place_event = None

    async def delete(self, *, force: bool = False) -> Service:
        """Delete the service (ECS DeleteService): DRAINING, then INACTIVE.

        Raises:
            InvalidParameterError: when desired_count > 0 and not ``force``.
        """
        if self.status != "ACTIVE":
            return self
        if self._desired > 0 and not force and self.scheduling_strategy == "REPLICA":
            raise InvalidParameterError(
                f"service {self.name!r} has desired_count {self._desired}: scale it to 0 "
                "first, or delete with force=True"
            )
        self.status = "DRAINING"
        self._desired = 0
        self.wake()
        return self

    async def wait_stable(self, timeout: float) -> Service:
        """Wait for a steady state: one deployment, running == desired, all healthy.

        Raises:
            TimeoutError: with the last service events, when it doesn't get there.
            PyecsError: when the service is deleted meanwhile.
            InvalidParameterError: when ``timeout`` is not a number of seconds >= 0.
        """
        timeout = check_timeout(timeout)
        with anyio.move_on_after(timeout):
            while True:
                if self.status != "ACTIVE":
                    raise PyecsError(f"service {self.name!r} is {self.status}")
                if self.is_stable():
                    return self
                await self.change_event.wait()
        raise TimeoutError(
            f"service {self.name!r} not stable after {timeout} s {self._situation()}"
        )

    async def wait_inactive(self, timeout: float) -> Service:
        """Wait until a deleted service is INACTIVE (all its tasks stopped).

        Raises:
            TimeoutError: with the last service events, when it doesn't get there.
            InvalidParameterError: when ``timeout`` is not a number of seconds >= 0.
        """
        timeout = check_timeout(timeout)
        with anyio.move_on_after(timeout):
            while self.status != "INACTIVE":
                await self.change_event.wait()
            return self
        hint = "" if self.status != "ACTIVE" else " (it is ACTIVE: delete it first)"
        raise TimeoutError(
            f"service {self.name!r} not INACTIVE after {timeout} s{hint} {self._situation()}"
        )

    def _situation(self) -> str:
        """The counts and the last events, for a wait's timeout message."""
        last = "\n  ".join(f"{e.created_at:%H:%M:%S} {e.message}" for e in self.events[:10])
        return (
            f"(status {self.status}, desired {self.desired_count}, running "
            f"{self.running_count}, pending {self.pending_count}, deployments "
            f"{len(self._deployments)}); last events:\n  " + (last or "(none)")
        )

    # -- the loop --------------------------------------------------------------------------

    def wake(self) -> None:
        """Make the loop reconcile now (a task changed, an instance changed...)."""
        self._full = True
        self._wake.set()

    def confirm_serving(self, arn: str) -> None:
        """A caller saw RUNNING task ``arn`` answer on its port: it counts as healthy now.

        The local stand-in for the load balancer health ECS would use: a task without
        container health checks need not wait out ``healthy_delay`` once it has served.
        Container health checks still decide for tasks that have them.
        """
        if arn in self._running_since and arn not in self._serving:
            self._serving.add(arn)
            self.wake()

    @property
    def change_event(self) -> anyio.Event:
        """An event set at the service's next change (a task snapshot, a reconcile pass).

        Take it before reading the service's state, then wait on it: no change is missed.
        """
        if self._changed is None:
            self._changed = anyio.Event()
        return self._changed

    def _feature_desired_count(self, count: int) -> None:
        """A feature (auto scaling) sets the desired count, as UpdateService would."""
        check_count(count, self._runtime.max_tasks_per_service)
        if self.status != "ACTIVE" or self.scheduling_strategy == "DAEMON":
            return
        self._desired = count
        self._steady_reported = False
        self.wake()
        self._notify()

    def _feature_changed(self) -> None:
        self.wake()
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def take_over_adopted(self) -> list[Task]:
        """Make the tasks the cluster adopted for this service's name its own.

        Those running the service's task definition become its PRIMARY deployment's
        (which takes their deployment id, so that a restart starts no deployment); the
        others count as an older deployment's and are replaced as in any deployment.
        """
        tasks = self._runtime.tasks.claim(
            f"service:{self.name}", self._deactivate if self.features else None
        )
        primary = self._deployments[0]
        mine = collections.Counter(
            t.started_by
            for t in tasks
            if t.started_by
            and t.task_definition_arn == str(primary.task_definition.task_definition_arn)
        )
        if mine:
            primary.id = mine.most_common(1)[0][0]
        for task in tasks:
            if task.last_status != "STOPPED":
                self._tasks.setdefault(task.arn, task)
                self._count(task, +1)
            self.on_task(task)
        return tasks

    def on_task(self, task: Task) -> None:
        """Called with every snapshot of one of this service's tasks.

        It costs the same whatever the number of tasks: it keeps the task and the counts,
        and wakes the loop, which skips the pass while only pending tasks progress.
        """
        arn = task.arn
        status = task.last_status
        previous = self._tasks.get(arn)
        if previous is not None or self._launching:  # one of this service's own tasks
            if previous is not None:
                self._count(previous, -1)
            if status == "STOPPED":
                self._tasks.pop(arn, None)
            else:
                self._tasks[arn] = task
                self._count(task, +1)
        for feature in self._watching:
            feature.task_changed(task)
        stopping = task.desired_status == "STOPPED"
        if status == "RUNNING" and not stopping and arn not in self._running_since:
            now = anyio.current_time()
            if now - self._seen_at < _SEEN_RESOLUTION:
                now = self._seen_at  # one float for a batch of tasks, not one per task
            else:
                self._seen_at = now
            self._running_since[arn] = now
            self._gate.running()
            d = self._deployment_of(task)
            if d is not None and not d.seen_running:  # once per deployment
                d.seen_running = True
                d.failed_tasks = 0  # stage 2 of the circuit breaker begins
        if stopping or status == "STOPPED" or task.health_status == "UNHEALTHY":
            self._changed_task(task, stopping)
            self.wake()
        elif previous is None and self._launching:
            pass  # a task the pass in progress launches: that pass knows
        elif (
            self._settled
            and previous is not None
            and len(self._deployments) == 1
            and task.started_by == self._deployments[0].id
        ):
            self._wake.set()  # progress of a pending task: see _loop
        else:
            self.wake()
        self._notify()

    def _changed_task(self, task: Task, stopping: bool) -> None:
        """A task is stopping, STOPPED or UNHEALTHY: backoff, throttling, circuit breaker."""
        # A Spot interruption is nobody's failure: the task is replaced without backoff.
        chosen = _scheduler_stopped(task) or task.stop_code in ("UserInitiated", "SpotInterruption")
        if stopping and task.arn in self._running_since:
            # The backoff applies from the stop request on: the replacement is planned then.
            since = self._running_since.pop(task.arn)
            if not chosen:
                now = anyio.current_time()
                # The first of the others is the one RUNNING longest (they are added in
                # the order they are seen RUNNING): the gate asks whether any ran long.
                oldest = next(iter(self._running_since.values()), None)
                message = self._gate.exited(
                    self.restart_backoff, now - since, now, () if oldest is None else (oldest,)
                )
                if message:
                    self._event(message)
        if task.last_status == "STOPPED":
            self._serving.discard(task.arn)
            if task.stop_code != "ServiceSchedulerInitiated":
                self._steady_reported = False  # lost a task we did not choose to stop
            if task.started_at is None and not chosen:
                message = self._gate.never_started(anyio.current_time())
                if message:
                    self._event(message)
                d = self._deployment_of(task)
                if d is not None:
                    self._count_failure(d)
            elif (task.stopped_reason or "").startswith("Task failed"):
                d = self._deployment_of(task)
                if d is not None:
                    self._count_failure(d)

    def _deployment_of(self, task: Task) -> _Deployment | None:
        primary = self._deployments[0]
        if task.started_by == primary.id:
            return primary
        return next((d for d in self._deployments if d.id == task.started_by), None)

    def _count(self, task: Task, delta: int) -> None:
        """Count a live snapshot of one of the service's tasks in (+1) or out (-1)."""
        status = task.last_status
        if status == "RUNNING":
            self._running += delta
        elif status in _PENDING:
            self._pending += delta
        provider = task.capacity_provider_name
        if provider and task.desired_status != "STOPPED":
            self._per_provider[provider] = self._per_provider.get(provider, 0) + delta

    def _count_failure(self, d: _Deployment) -> None:
        d.failed_tasks += 1
        breaker = self.deployment_configuration.circuit_breaker
        if (
            not breaker.enable
            or d.status != "PRIMARY"
            or d.rollout_state != "IN_PROGRESS"
            or d.failed_tasks < circuit_breaker_threshold(self._desired)
        ):
            return
        d.rollout_state = "FAILED"
        d.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
        d.updated_at = self._runtime.clock()
        self._event(
            f"(service {self.name}) (deployment {d.id}) deployment failed: tasks failed to start."
        )
        if breaker.rollback:
            target = next(
                (o for o in self._deployments[1:] if o.rollout_state == "COMPLETED"), None
            )
            if target is not None:
                d.rollout_state_reason = (
                    f"ECS deployment circuit breaker: rolling back to deploymentId {target.id}."
                )
                self._event(f"(service {self.name}) {d.rollout_state_reason}")
                self._new_deployment(target.task_definition, rollback_of=target.id)
                self._gate.reset_throttle()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The reconcile loop; ends when the service is INACTIVE.

        Started with ``task_group.start``: it reports started once every feature is
        running (load balancers listen), and stops them when it ends.
        """
        try:
            async with contextlib.AsyncExitStack() as stack:
                for feature in self.features:
                    await stack.enter_async_context(feature.running())
                task_status.started()
                await self._loop()
        finally:
            self._notify()  # watchers see the end (also when the cluster closes)

    async def _loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            if self._owed and not self._full:
                # The launches the last plan still owes, without planning again: nothing
                # but the progress of pending tasks happened since (see on_task).
                deadline = self._launch_owed()
            elif not self._full and self._settled and self._running < len(self._tasks):
                # Only pending tasks progressed since a pass that left nothing to do: the
                # plan cannot change before the last one is RUNNING (a single deployment,
                # no task to stop or replace, nothing to start). Skip the pass.
                deadline = self._deadline
            else:
                self._full = False
                deadline = self._reconcile()
            self._deadline = deadline
            if self.status == "INACTIVE":
                return
            wait = math.inf if deadline is None else max(0.0, deadline - anyio.current_time())
            if wait == 0:
                if not self._owed:
                    self._full = True
                await anyio.lowlevel.checkpoint()  # let the event loop breathe between passes
                continue
            with anyio.move_on_after(wait) as scope:
                await self._wake.wait()
            if scope.cancelled_caught:
                self._full = True  # a time the plan asked to look again at

    def _daemon_instances(self) -> list[ContainerInstance]:
        """ACTIVE, connected instances that meet the service's memberOf constraints."""
        expressions = []
        for c in self.placement_constraints:
            expr = c.get("expression") if isinstance(c, dict) else getattr(c, "expression", None)
            if expr:
                expressions.append(parse(str(expr)))
        for pc in self.task_definition.placement_constraints or ():
            if pc.expression:
                expressions.append(parse(pc.expression))
        return [
            ci
            for ci in self._runtime.placement.instances()
            if ci.status == "ACTIVE"
            and ci.attributes.get(PROVIDER_ATTRIBUTE) not in FARGATE_PROVIDERS
            and ci.agent_connected
            and all(e.evaluate(ci) for e in expressions)
        ]

    def snapshot(self) -> ServiceSnapshot:
        """The service now, as frozen values: what the planner and the features decide from."""
        # It lists no instance (``instances`` is empty): it names the ones its tasks must
        # leave (``displaced_instances``); a listing of thousands at each pass costs more.
        tasks = tuple(self._tasks.values())
        daemon = self.scheduling_strategy == "DAEMON" and self.status == "ACTIVE"
        daemon_instances = tuple(self._daemon_instances()) if daemon else ()
        serving = frozenset(self._serving)
        if self._vouching:
            serving = serving.union(
                t.arn for t in tasks if any(f.vouches_healthy(t) for f in self._vouching)
            )
        held_back: frozenset[str] = frozenset()
        if self._holding:
            held_back = frozenset(
                t.arn for t in tasks if not all(f.allows_healthy(t) for f in self._holding)
            )
        snap = ServiceSnapshot(
            name=self.name,
            status=self.status,
            scheduling_strategy=self.scheduling_strategy,
            desired_count=len(daemon_instances) if daemon else self._desired,
            deployment_configuration=self.deployment_configuration,
            deployments=tuple(
                DeploymentState(d.id, d.status, d.rollout_state, d.rollback_of)
                for d in self._deployments
            ),
            tasks=tasks,
            instances=(),
            daemon_instances=daemon_instances,
            now=anyio.current_time(),
            running_since=dict(self._running_since),
            serving=serving,
            held_back=held_back,
            healthy_delay=self.healthy_delay,
            health_check_grace_period=self.health_check_grace_period,
            next_launch_at=self._gate.next_launch_at,
            backoff_holds=self._gate.holds(anyio.current_time()),
            displaced_instances=self._displaced(tasks),
        )
        if len(tasks) <= snap.desired_count:
            return snap  # no scale-in: the current deployment's tasks are among these
        candidates, count = scale_in_need(snap)
        if count > 0:
            order = self._runtime.placement.victims(
                f"service:{self.name}",
                count,
                self.placement_strategy or None,
                candidates=candidates,
            )
            snap = attrs.evolve(snap, scale_in_order=tuple(order))
        return snap

    def _displaced(self, tasks: Sequence[Task]) -> frozenset[str]:
        """The instances of ``tasks`` that are not ACTIVE or no longer registered."""
        ids = {t.container_instance_id for t in tasks}
        ids.discard("")  # waiting for capacity: on no instance yet
        if not ids:
            return frozenset()
        placement = self._runtime.placement
        # A walk over the live views of the instances: no snapshot is built.
        inactive = {c.id for c in placement.candidates() if c.status != "ACTIVE"}
        return frozenset(i for i in ids if i in inactive or i not in placement)

    def freeze(self) -> None:
        """Stop reconciling: the cluster is closing and stops every task itself."""
        self._frozen = True
        self.wake()

    def _reconcile(self) -> float | None:
        if self._frozen:
            return None
        try:
            return self._reconcile_once()
        except Exception as exc:
            # A defect or a surprise in one pass stays with this service: say so, retry.
            _log.exception("service %s: reconcile failed", self.name)
            message = (
                f"(service {self.name}) could not reconcile: {type(exc).__name__}: {exc}; "
                f"retrying in {PLACEMENT_RETRY:g} s."
            )
            if message != self._last_error_event:
                self._last_error_event = message
                self._event(message)
            self._owed = 0
            self._settled = False
            self._notify()
            return anyio.current_time() + PLACEMENT_RETRY

    def _launch_owed(self) -> float | None:
        """Launch the next batch of what the last plan started; when to look again."""
        if self._frozen:
            self._owed = 0
            return None
        now = anyio.current_time()
        count = min(self._owed, LAUNCH_BATCH)
        self._owed -= count
        try:
            started, failed = self._launch(self._owed_constraints, count)
        except Exception:
            self._owed = 0
            self._full = True
            return self._reconcile()  # says what went wrong (and retries) if it persists
        self._report_started(started)
        self._notify()
        if failed:  # plan again at once, as the pass that launched them would have
            self._owed = 0
            self._full = True
            return now
        return now if self._owed else self._owed_next

    def _reconcile_once(self) -> float | None:
        self._owed = 0
        self._settled = False
        snap = self.snapshot()
        stopped, recheck = self._apply_verdicts(snap)
        if stopped:
            snap = self.snapshot()  # plan with those tasks already on their way out
        plan = make_plan(snap)
        if recheck is not None:
            plan.check_at(recheck)
        self._apply(plan, snap)
        return plan.next_check

    def _apply_verdicts(self, snap: ServiceSnapshot) -> tuple[bool, float | None]:
        """Stop the tasks the features want replaced; when to look again."""
        stopped = False
        recheck: float | None = None
        tasks_mgr = self._runtime.tasks
        for feature in self.features:
            verdicts = feature.verdicts(snap)
            if verdicts.recheck_at is not None:
                recheck = min(recheck or math.inf, verdicts.recheck_at)
            for stop in verdicts.stop:
                task = tasks_mgr.find(stop.task_arn)
                if task is None or task.desired_status != "RUNNING":
                    continue
                self._event(stop.message)
                tasks_mgr.stop(stop.task_arn, "ServiceSchedulerInitiated", stop.reason)
                self._event(f"(service {self.name}) has stopped 1 running tasks: (task {task.id}).")
                self._features_stopping([stop.task_arn])
                stopped = True
        return stopped, recheck

    def _features_stopping(self, arns: list[str]) -> None:
        for feature in self.features:
            feature.stopping(arns)

    def _feature_messages(self) -> None:
        for feature in self.features:
            for message in feature.messages():
                self._event(message)

    async def _deactivate(self, task: Task) -> None:
        for feature in self.features:
            if _has_deactivate(feature):
                await feature.deactivate(task)

    def _launch_definition(self, td: TaskDefinition) -> TaskDefinition:
        for feature in self.features:
            td = feature.prepare_launch(td)
        return td

    def _apply(self, plan: Plan, snap: ServiceSnapshot) -> None:
        tasks_mgr = self._runtime.tasks
        for arn in plan.unhealthy:
            task = tasks_mgr.get(arn)
            self._event(f"(service {self.name}) (task {task.id}) failed container health checks.")
            tasks_mgr.stop(arn, "ServiceSchedulerInitiated", "Task failed container health checks")
        if plan.stop:
            for arn, reason in plan.stop:
                tasks_mgr.stop(arn, "ServiceSchedulerInitiated", reason)
            ids = " ".join(f"(task {tasks_mgr.get(a).id})" for a, _ in plan.stop)
            self._event(f"(service {self.name}) has stopped {len(plan.stop)} running tasks: {ids}.")
            self._steady_reported = False
        # Features let go of what is stopping now, so events come in ECS order.
        self._features_stopping(plan.unhealthy + [arn for arn, _ in plan.stop])
        self._feature_messages()
        primary = self._deployments[0]
        started: list[Task] = []
        failed = False
        after_launches = plan.next_check
        # A large shortfall is made up over several passes, the event loop free between;
        # a REPLICA service's is owed and launched without planning again (see _loop).
        budget = LAUNCH_BATCH
        for constraints, wanted in plan.start:
            count = min(wanted, budget)
            if count <= 0:
                plan.check_at(snap.now)  # the rest in the next pass, after a checkpoint
                break
            budget -= count
            if count < wanted:
                plan.check_at(snap.now)
                if len(plan.start) == 1:
                    self._owed = wanted - count
                    self._owed_constraints = constraints
            batch, failures = self._launch(constraints, count)
            started.extend(batch)
            if failures:
                failed = True
                self._owed = 0
                plan.next_check = min(plan.next_check or math.inf, snap.now + PLACEMENT_RETRY)
        self._owed_next = after_launches
        self._report_started(started)
        if plan.stuck and not self._stuck_reported:
            self._stuck_reported = True
            self._event(
                f"service {self.name} was unable to stop or start tasks during a deployment "
                "because of the service deployment configuration. Update the "
                "minimumHealthyPercent or maximumPercent value and try again."
            )
        if plan.drop_deployments:
            self._deployments = [d for d in self._deployments if d.id not in plan.drop_deployments]
        if plan.completed and primary.rollout_state == "IN_PROGRESS":
            primary.rollout_state = "COMPLETED"
            primary.rollout_state_reason = "ECS deployment completed."
            primary.updated_at = self._runtime.clock()
            self._event(f"(service {self.name}) (deployment {primary.id}) deployment completed.")
        if plan.steady and not self._steady_reported:
            self._steady_reported = True
            self._event(f"(service {self.name}) has reached a steady state.")
        self._feature_messages()
        if self.status == "DRAINING" and not self._tasks:
            self.status = "INACTIVE"
        # Until a pending task is RUNNING, its progress changes nothing in the next plan.
        self._settled = (
            self.status == "ACTIVE"
            and self.scheduling_strategy == "REPLICA"
            and len(self._deployments) == 1
            and plan.others == 0
            and not plan.stop
            and not plan.unhealthy
            and not failed
        )
        if failed:
            self._starved.add(self)
        else:
            self._starved.discard(self)
        self._notify()

    def _launch(self, constraints: list[object], count: int) -> tuple[list[Task], bool]:
        """Launch ``count`` tasks of the PRIMARY deployment.

        Returns:
            The tasks, and whether some found no instance (the service event is written).
        """
        primary = self._deployments[0]
        self._launching = True
        try:
            result, failures = self._runtime.capacity.launch(
                self._launch_definition(primary.task_definition),
                count,
                self._capacity,
                self._network,
                current={p: n for p, n in self._per_provider.items() if n},
                group=f"service:{self.name}",
                started_by=primary.id,
                strategies=self.placement_strategy or list(DEFAULT_SERVICE_STRATEGY),
                constraints=list(self.placement_constraints) + list(constraints),
                tags=self.tags,
                # Without a deactivate hook a task can stop in one step (simulated).
                on_deactivate=(
                    self._deactivate if any(_has_deactivate(f) for f in self.features) else None
                ),
            )
        finally:
            self._launching = False
        tasks = self._runtime.tasks
        for t in result.tasks:
            if t.arn not in self._tasks:  # its snapshots did not come through on_task
                latest = tasks.find(t.arn)
                if latest is not None and latest.last_status != "STOPPED":
                    self._tasks[t.arn] = latest
                    self._count(latest, +1)
        if failures:
            message = failures[0].service_event(self.name)
            if message != self._last_place_event:
                self._event(message)
                self._last_place_event = message
            self._starved.add(self)
        return list(result.tasks), bool(failures)

    def _report_started(self, started: list[Task]) -> None:
        if started:
            self._last_place_event = None
            ids = " ".join(f"(task {t.id})" for t in started)
            self._event(f"(service {self.name}) has started {len(started)} tasks: {ids}.")
            self._steady_reported = False

    def _event(self, message: str) -> None:
        event = ServiceEvent(self.name, secrets.token_hex(16), message, self._runtime.clock())
        self._events.append(event)
        self._runtime.events.publish(event)


def _scheduler_stopped(task: Task) -> bool:
    """The scheduler stopped the task by choice (scaling, a deployment), not for failing."""
    return task.stop_code == "ServiceSchedulerInitiated" and not (
        task.stopped_reason or ""
    ).startswith("Task failed")


def _overrides(feature: ServiceFeature, hook: str) -> bool:
    """Whether the feature's class overrides a hook of :class:`ServiceFeature`."""
    return getattr(type(feature), hook) is not getattr(ServiceFeature, hook)


def _has_deactivate(feature: ServiceFeature) -> bool:
    """Whether the feature does something when a task enters DEACTIVATING."""
    return type(feature).deactivate is not ServiceFeature.deactivate
