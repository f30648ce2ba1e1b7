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
    ) -> None:
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
        self._arns: list[str] = []
        self._running_since: dict[str, float] = {}
        self._serving: set[str] = set()
        self._events: collections.deque[ServiceEvent] = collections.deque(maxlen=100)
        self._wake = anyio.Event()
        self._changed = anyio.Event()
        self._gate = LaunchGate(name)
        self.restart_backoff = restart_backoff or RestartBackoff()
        self._last_error_event: str | None = None
        self._steady_reported = False
        self._last_place_event: str | None = None
        self._stuck_reported = False
        self._frozen = False
        self.features = tuple(features)
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
        out = []
        for arn in self._arns:
            t = self._runtime.tasks.find(arn)
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
        self._changed.set()
        self._changed = anyio.Event()

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
            self._arns.append(task.arn)
            self.on_task(task)
        return tasks

    def on_task(self, task: Task) -> None:
        """Called with every snapshot of one of this service's tasks."""
        now = anyio.current_time()
        for feature in self.features:
            feature.task_changed(task)
        d = next((d for d in self._deployments if d.id == task.started_by), None)
        stopping = task.desired_status == "STOPPED"
        # A Spot interruption is nobody's failure: the task is replaced without backoff.
        chosen = _scheduler_stopped(task) or task.stop_code in ("UserInitiated", "SpotInterruption")
        if task.last_status == "RUNNING" and not stopping and task.arn not in self._running_since:
            self._running_since[task.arn] = now
            self._gate.running()
            if d is not None and not d.seen_running:
                d.seen_running = True
                d.failed_tasks = 0  # stage 2 of the circuit breaker begins
        if stopping and task.arn in self._running_since:
            # The backoff applies from the stop request on: the replacement is planned then.
            since = self._running_since.pop(task.arn)
            if not chosen:
                message = self._gate.exited(
                    self.restart_backoff, now - since, now, self._running_since.values()
                )
                if message:
                    self._event(message)
        if task.last_status == "STOPPED":
            self._serving.discard(task.arn)
            if task.stop_code != "ServiceSchedulerInitiated":
                self._steady_reported = False  # lost a task we did not choose to stop
            if task.started_at is None and not chosen:
                message = self._gate.never_started(now)
                if message:
                    self._event(message)
                if d is not None:
                    self._count_failure(d)
            elif (task.stopped_reason or "").startswith("Task failed") and d is not None:
                self._count_failure(d)
        self.wake()
        self._notify()

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
            deadline = self._reconcile()
            if self.status == "INACTIVE":
                return
            wait = math.inf if deadline is None else max(0.0, deadline - anyio.current_time())
            if wait == 0:
                await anyio.lowlevel.checkpoint()  # let the event loop breathe between passes
                continue
            with anyio.move_on_after(wait):
                await self._wake.wait()

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
        tasks = tuple(self.tasks)
        daemon = self.scheduling_strategy == "DAEMON" and self.status == "ACTIVE"
        daemon_instances = tuple(self._daemon_instances()) if daemon else ()
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
            instances=tuple(self._runtime.placement.instances()),
            daemon_instances=daemon_instances,
            now=anyio.current_time(),
            running_since=dict(self._running_since),
            serving=frozenset(self._serving).union(
                t.arn for t in tasks if any(f.vouches_healthy(t) for f in self.features)
            ),
            held_back=frozenset(
                t.arn for t in tasks if not all(f.allows_healthy(t) for f in self.features)
            ),
            healthy_delay=self.healthy_delay,
            health_check_grace_period=self.health_check_grace_period,
            next_launch_at=self._gate.next_launch_at,
            backoff_holds=self._gate.holds(anyio.current_time()),
        )
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
            self._notify()
            return anyio.current_time() + PLACEMENT_RETRY

    def _reconcile_once(self) -> float | None:
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
        # A large shortfall is made up over several passes, the event loop free between.
        budget = LAUNCH_BATCH
        for constraints, wanted in plan.start:
            count = min(wanted, budget)
            if count <= 0:
                plan.check_at(snap.now)  # the rest in the next pass, after a checkpoint
                break
            budget -= count
            if count < wanted:
                plan.check_at(snap.now)
            result, failures = self._runtime.capacity.launch(
                self._launch_definition(primary.task_definition),
                count,
                self._capacity,
                self._network,
                current=self._per_provider(),
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
            for t in result.tasks:
                self._arns.append(t.arn)
            started.extend(result.tasks)
            if failures:
                message = failures[0].service_event(self.name)
                if message != self._last_place_event:
                    self._event(message)
                    self._last_place_event = message
                plan.next_check = min(plan.next_check or math.inf, snap.now + PLACEMENT_RETRY)
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
            primary.updated_at = self._runtime.clock()
            self._event(f"(service {self.name}) (deployment {primary.id}) deployment completed.")
        if plan.steady and not self._steady_reported:
            self._steady_reported = True
            self._event(f"(service {self.name}) has reached a steady state.")
        self._feature_messages()
        if self.status == "DRAINING" and not self.tasks:
            self.status = "INACTIVE"
        self._prune()
        self._notify()

    def _per_provider(self) -> dict[str, int]:
        """The service's tasks that are not stopping, per capacity provider."""
        out: dict[str, int] = {}
        for t in self.tasks:
            if t.capacity_provider_name and t.desired_status != "STOPPED":
                out[t.capacity_provider_name] = out.get(t.capacity_provider_name, 0) + 1
        return out

    def _prune(self) -> None:
        keep = []
        for arn in self._arns:
            t = self._runtime.tasks.find(arn)
            if t is not None and t.last_status != "STOPPED":
                keep.append(arn)
        self._arns = keep

    def _event(self, message: str) -> None:
        event = ServiceEvent(self.name, secrets.token_hex(16), message, self._runtime.clock())
        self._events.append(event)
        self._runtime.events.publish(event)


def _scheduler_stopped(task: Task) -> bool:
    """The scheduler stopped the task by choice (scaling, a deployment), not for failing."""
    return task.stop_code == "ServiceSchedulerInitiated" and not (
        task.stopped_reason or ""
    ).startswith("Task failed")


def _has_deactivate(feature: ServiceFeature) -> bool:
    """Whether the feature does something when a task enters DEACTIVATING."""
    return type(feature).deactivate is not ServiceFeature.deactivate
