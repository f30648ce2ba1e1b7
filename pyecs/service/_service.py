"""``Service``: the ECS service scheduler for one service, running in-process.

The reconcile loop keeps ``desired_count`` tasks RUNNING and healthy, replaces tasks that
stop or turn UNHEALTHY, runs rolling deployments within ECS's bounds, trips the circuit
breaker, throttles tasks that never start, and writes ECS's service event messages. The
decisions are in :mod:`pyecs.service._plan` (pure, synchronous); this module holds the
state, the public API and the loop.
"""

from __future__ import annotations

import collections
import datetime
import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from pyecs._checks import check_timeout
from pyecs.exceptions import InvalidParameterError, PyecsError, TimeoutError
from pyecs.lb._balancer import ServiceLoadBalancer
from pyecs.lb._config import LoadBalancer
from pyecs.models.service import (
    Deployment,
    DeploymentConfiguration,
    RestartBackoff,
    circuit_breaker_threshold,
)
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._events import ServiceEvent
from pyecs.runtime._tasks import LAUNCH_BATCH
from pyecs.service._plan import Plan, ServiceView, make_plan
from pyecs.service.features._balancing import BalancedView, ServiceBalancing, check_container_port
from pyecs.service.features._discovery import with_discovery_environment

if TYPE_CHECKING:
    from pyecs.cluster._cluster import Cluster

__all__ = ["Service"]

_log = logging.getLogger("pyecs.services")

#: Start throttling: delay after the first tasks that never reached RUNNING, doubling
#: with each further one, up to ECS's 15 minutes.
THROTTLE_BASE = 5.0
THROTTLE_MAX = 900.0
#: Tasks that never start in a row before throttling kicks in.
THROTTLE_AFTER = 3
#: How often an unplaceable task is retried when nothing else wakes the service.
PLACEMENT_RETRY = 5.0


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
        cluster: Cluster,
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
        load_balancers: Sequence[LoadBalancer] = (),
        restart_backoff: RestartBackoff | None = None,
    ) -> None:
        self._cluster = cluster
        self.name = name
        self.arn = cluster._arns.service(name)
        self.status: Literal["ACTIVE", "DRAINING", "INACTIVE"] = "ACTIVE"
        self.scheduling_strategy = scheduling_strategy
        self._desired = desired_count
        self.placement_strategy = list(placement_strategy)
        self.placement_constraints = list(placement_constraints)
        self.deployment_configuration = deployment_configuration
        self.health_check_grace_period = health_check_grace_period
        self.healthy_delay = healthy_delay
        self.tags = dict(tags)
        self.created_at = cluster._clock()
        now = cluster._clock()
        self._deployments = [_Deployment(_deployment_id(), task_definition, now, now)]
        self._arns: list[str] = []
        self._running_since: dict[str, float] = {}
        self._serving: set[str] = set()
        self._events: collections.deque[ServiceEvent] = collections.deque(maxlen=100)
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self._throttle_failures = 0
        self._next_launch_at = 0.0
        self.restart_backoff = restart_backoff or RestartBackoff()
        self._quick_exits = 0  # tasks in a row that exited soon after RUNNING
        self._backoff_reported = 0.0
        self._last_quick_exit = -math.inf
        self._last_error_event: str | None = None
        self._steady_reported = False
        self._last_place_event: str | None = None
        self._stuck_reported = False
        self._frozen = False
        self._balancing = ServiceBalancing(self, load_balancers)

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
            return len(self._plan_view(anyio.current_time()).daemon_instances)
        return self._desired

    @property
    def tasks(self) -> list[Task]:
        """The service's tasks that are not STOPPED, oldest first."""
        out = []
        for arn in self._arns:
            t = self._cluster._tasks.find(arn)
            if t is not None and t.last_status != "STOPPED":
                out.append(t)
        return out

    @property
    def running_count(self) -> int:
        """Tasks in the RUNNING state."""
        return sum(1 for t in self.tasks if t.last_status == "RUNNING")

    @property
    def pending_count(self) -> int:
        """Tasks placed but not RUNNING yet."""
        return sum(
            1 for t in self.tasks if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING")
        )

    @property
    def task_definition(self) -> TaskDefinition:
        """The PRIMARY deployment's task definition."""
        return self._deployments[0].task_definition

    @property
    def deployments(self) -> list[Deployment]:
        """PRIMARY first, then ACTIVE ones that still have tasks."""
        tasks = self.tasks
        out = []
        for d in self._deployments:
            mine = [t for t in tasks if t.started_by == d.id]
            out.append(
                Deployment(
                    id=d.id,
                    status=d.status,
                    task_definition=str(d.task_definition.task_definition_arn),
                    desired_count=self.desired_count if d.status == "PRIMARY" else 0,
                    created_at=d.created_at,
                    updated_at=d.updated_at,
                    pending_count=sum(1 for t in mine if t.last_status != "RUNNING"),
                    running_count=sum(1 for t in mine if t.last_status == "RUNNING"),
                    failed_tasks=d.failed_tasks,
                    rollout_state=d.rollout_state,
                    rollout_state_reason=d.rollout_state_reason,
                )
            )
        return out

    @property
    def load_balancers(self) -> list[ServiceLoadBalancer]:
        """The service's running load balancers (``load_balancers=`` of create_service)."""
        return list(self._balancing.balancers)

    @property
    def load_balancer(self) -> ServiceLoadBalancer:
        """The first load balancer: ``svc.load_balancer.address`` / ``.url``.

        Raises:
            InvalidParameterError: when the service has no load balancer.
        """
        if not self._balancing:
            raise InvalidParameterError(
                f"service {self.name!r} has no load balancer: create it with "
                "load_balancers=[pyecs.LoadBalancer(container_name=..., container_port=...)]"
            )
        return self._balancing.balancers[0]

    @property
    def events(self) -> list[ServiceEvent]:
        """The latest 100 service events, newest first (as ECS lists them)."""
        return list(reversed(self._events))

    def is_stable(self) -> bool:
        """One deployment, running == desired, nothing pending, every task healthy."""
        if self.status != "ACTIVE" or len(self._deployments) != 1:
            return False
        view = self._plan_view(anyio.current_time())
        tasks = self.tasks
        return (
            self._deployments[0].rollout_state == "COMPLETED"
            and len(tasks) == self.desired_count
            and all(view.is_healthy(t) for t in tasks)
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
    ) -> Service:
        """Change the service (ECS UpdateService).

        A new task definition or ``force_new_deployment`` starts a rolling deployment; the
        other changes don't.

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
            new_td = self._cluster._resolve(task_definition)
            for lb in self._balancing.balancers:
                check_container_port(lb.config, new_td)
        config = deployment_configuration or self.deployment_configuration
        if desired_count is not None:
            _check_count(desired_count, self._cluster.max_tasks_per_service)
            if self.scheduling_strategy == "DAEMON":
                raise InvalidParameterError("a DAEMON service has no desired_count to set")
        _check_daemon_config(self.scheduling_strategy, config)
        strategies = self._cluster._check_placement(
            placement_strategy, placement_constraints, self.scheduling_strategy
        )
        if health_check_grace_period is not None:
            _check_grace(health_check_grace_period)
        _check_backoff(restart_backoff)
        # Everything is valid: apply.
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
        if new_td is not None or force_new_deployment:
            td = new_td or self.task_definition
            if new_td is not None and new_td.task_definition_arn != (
                self.task_definition.task_definition_arn
            ):
                self._throttle_failures = 0
                self._quick_exits = 0
                self._next_launch_at = 0.0
            self._new_deployment(td)
        self._steady_reported = False
        self.wake()
        return self

    def _new_deployment(self, td: TaskDefinition, rollback_of: str | None = None) -> None:
        now = self._cluster._clock()
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
                await self._changed.wait()
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
                await self._changed.wait()
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
        self._wake.set()

    def _confirm_serving(self, arn: str) -> None:
        """A caller saw RUNNING task ``arn`` answer on its port: it counts as healthy now.

        The local stand-in for the load balancer health ECS would use: a task without
        container health checks need not wait out ``healthy_delay`` once it has served.
        Container health checks still decide for tasks that have them.
        """
        if arn in self._running_since and arn not in self._serving:
            self._serving.add(arn)
            self.wake()

    async def _wait_changed(self) -> None:
        """Return at the service's next change (a task snapshot, a reconcile pass)."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def on_task(self, task: Task) -> None:
        """Called with every snapshot of one of this service's tasks."""
        now = anyio.current_time()
        self._balancing.observe(task)
        d = next((d for d in self._deployments if d.id == task.started_by), None)
        stopping = task.desired_status == "STOPPED"
        chosen = _scheduler_stopped(task) or task.stop_code == "UserInitiated"
        if task.last_status == "RUNNING" and not stopping and task.arn not in self._running_since:
            self._running_since[task.arn] = now
            self._throttle_failures = 0
            if d is not None and not d.seen_running:
                d.seen_running = True
                d.failed_tasks = 0  # stage 2 of the circuit breaker begins
        if stopping and task.arn in self._running_since:
            # The backoff applies from the stop request on: the replacement is planned then.
            since = self._running_since.pop(task.arn)
            if not chosen:
                self._task_exited(now - since, now)
        if task.last_status == "STOPPED":
            self._serving.discard(task.arn)
            if task.stop_code != "ServiceSchedulerInitiated":
                self._steady_reported = False  # lost a task we did not choose to stop
            if task.started_at is None and not chosen:
                self._throttle_failures += 1
                if self._throttle_failures >= THROTTLE_AFTER:
                    exp = self._throttle_failures - THROTTLE_AFTER
                    delay = min(THROTTLE_MAX, THROTTLE_BASE * 2**exp)
                    self._next_launch_at = now + delay
                    self._event(
                        f"(service {self.name}) is unable to consistently start tasks successfully."
                    )
                if d is not None:
                    self._count_failure(d)
            elif (task.stopped_reason or "").startswith("Task failed") and d is not None:
                self._count_failure(d)
        self.wake()
        self._notify()

    def _task_exited(self, ran_for: float, now: float) -> None:
        """A task that reached RUNNING stopped on its own: apply the restart backoff."""
        backoff = self.restart_backoff
        # The streak ends with a task that ran long enough: this one, or one started after
        # the streak's last quick exit and still running.
        if ran_for >= backoff.reset_after or any(
            since >= self._last_quick_exit and now - since >= backoff.reset_after
            for since in self._running_since.values()
        ):
            self._quick_exits = 0
            self._backoff_reported = 0.0
            if ran_for >= backoff.reset_after:
                return
        self._quick_exits += 1
        self._last_quick_exit = now
        delay = backoff.delay(self._quick_exits)
        if delay <= 0:
            return
        self._next_launch_at = max(self._next_launch_at, now + delay)
        if delay != self._backoff_reported:
            self._backoff_reported = delay
            self._event(
                f"(service {self.name}) tasks keep exiting soon after they start "
                f"({self._quick_exits} in a row within {backoff.reset_after:g} s): waiting "
                f"{delay:g} s before starting more (restart backoff)."
            )

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
        d.updated_at = self._cluster._clock()
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
                self._throttle_failures = 0
                self._next_launch_at = 0.0

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The reconcile loop; ends when the service is INACTIVE.

        Started with ``task_group.start``: it reports started once the load balancers
        listen, and closes them when it ends.
        """
        try:
            if not self._balancing:
                task_status.started()
                await self._loop()
                return
            async with self._balancing.listening():
                task_status.started()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._balancing.serve)
                    await self._loop()
                    tg.cancel_scope.cancel()
        finally:
            self._notify()  # watchers see the end (also when the cluster closes)

    async def _loop(self) -> None:
        while True:
            self._wake = anyio.Event()
            deadline = self._reconcile()
            if self.status == "INACTIVE":
                return
            wait = math.inf if deadline is None else max(0.0, deadline - anyio.current_time())
            if wait == 0:
                await anyio.lowlevel.checkpoint()  # let the event loop breathe between passes
                continue
            with anyio.move_on_after(wait):
                await self._wake.wait()

    def _plan_view(self, now: float) -> ServiceView:
        if self._balancing:
            return BalancedView(
                service=self,
                now=now,
                instances=self._cluster._placement.instances(),
                balancing=self._balancing,
            )
        return ServiceView(
            service=self,
            now=now,
            instances=self._cluster._placement.instances(),
        )

    def _freeze(self) -> None:
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
            self._notify()
            return anyio.current_time() + PLACEMENT_RETRY

    def _reconcile_once(self) -> float | None:
        now = anyio.current_time()
        view = self._plan_view(now)
        recheck = self._balancing.replace_failed(view) if self._balancing else None
        plan = make_plan(view)
        if recheck is not None:
            plan.check_at(recheck)
        self._apply(plan, view)
        return plan.next_check

    def _apply(self, plan: Plan, view: ServiceView) -> None:
        tasks_mgr = self._cluster._tasks
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
        if self._balancing:  # deregister what is stopping now, so events come in ECS order
            self._balancing.begin_draining(plan.unhealthy + [arn for arn, _ in plan.stop])
            for message in self._balancing.take_messages():
                self._event(message)
        primary = self._deployments[0]
        started: list[Task] = []
        # A large shortfall is made up over several passes, the event loop free between.
        budget = LAUNCH_BATCH
        for constraints, wanted in plan.start:
            count = min(wanted, budget)
            if count <= 0:
                plan.check_at(view.now)  # the rest in the next pass, after a checkpoint
                break
            budget -= count
            if count < wanted:
                plan.check_at(view.now)
            result, failures = tasks_mgr.launch(
                with_discovery_environment(self._cluster, primary.task_definition),
                count,
                group=f"service:{self.name}",
                started_by=primary.id,
                strategies=self.placement_strategy or view.default_strategy,
                constraints=list(self.placement_constraints) + list(constraints),
                tags=self.tags,
                on_deactivate=self._balancing.deactivate if self._balancing else None,
            )
            for t in result.tasks:
                self._arns.append(t.arn)
            started.extend(result.tasks)
            if failures:
                message = failures[0].service_event(self.name)
                if message != self._last_place_event:
                    self._event(message)
                    self._last_place_event = message
                plan.next_check = min(plan.next_check or math.inf, view.now + PLACEMENT_RETRY)
        if started:
            self._last_place_event = None
            ids = " ".join(f"(task {t.id})" for t in started)
            self._event(f"(service {self.name}) has started {len(started)} tasks: {ids}.")
            self._steady_reported = False
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
            primary.updated_at = self._cluster._clock()
            self._event(f"(service {self.name}) (deployment {primary.id}) deployment completed.")
        if plan.steady and not self._steady_reported:
            self._steady_reported = True
            self._event(f"(service {self.name}) has reached a steady state.")
        for message in self._balancing.take_messages():
            self._event(message)
        if self.status == "DRAINING" and not self.tasks:
            self.status = "INACTIVE"
        self._prune()
        self._notify()

    def _prune(self) -> None:
        keep = []
        for arn in self._arns:
            t = self._cluster._tasks.find(arn)
            if t is not None and t.last_status != "STOPPED":
                keep.append(arn)
        self._arns = keep

    def _event(self, message: str) -> None:
        event = ServiceEvent(self.name, secrets.token_hex(16), message, self._cluster._clock())
        self._events.append(event)
        self._cluster._events.publish(event)


def _scheduler_stopped(task: Task) -> bool:
    """The scheduler stopped the task by choice (scaling, a deployment), not for failing."""
    return task.stop_code == "ServiceSchedulerInitiated" and not (
        task.stopped_reason or ""
    ).startswith("Task failed")


def _check_count(count: object, limit: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidParameterError(f"desired_count must be an integer >= 0, got {count!r}")
    if count > limit:
        raise InvalidParameterError(
            f"desired_count {count} is above the limit of {limit} tasks per service (ECS's "
            "quota); lower it, or raise the limit with "
            "Cluster(..., max_tasks_per_service=N)"
        )


def _check_backoff(value: object) -> None:
    if value is not None and not isinstance(value, RestartBackoff):
        raise InvalidParameterError(
            f"restart_backoff must be a pyecs.RestartBackoff, got {type(value).__name__}"
        )


def _check_grace(value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 2147483647
    ):
        raise InvalidParameterError(
            f"health_check_grace_period must be seconds from 0, got {value!r}"
        )


def _check_daemon_config(strategy: str, config: DeploymentConfiguration) -> None:
    if strategy == "DAEMON" and config.maximum_percent != 100:
        raise InvalidParameterError(
            "a DAEMON service needs deployment_configuration.maximum_percent == 100 "
            f"(got {config.maximum_percent}): it runs one task per instance"
        )
