"""``Cluster``: the owner of everything one ECS-style cluster runs, in-process."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Literal

import anyio
import anyio.abc

from pyecs._checks import (
    check_seconds,
    check_started_by,
    check_str_list,
    check_tags,
    check_timeout,
)
from pyecs.abc import Backend, ClusterContext, InstanceProvider
from pyecs.backends._names import BackendName, as_backend
from pyecs.cluster._instances import InstanceManager
from pyecs.cluster._metrics import CapacityMetrics, ServiceMetrics
from pyecs.exceptions import (
    BackendError,
    ClusterClosedError,
    InvalidParameterError,
    PyecsError,
    TimeoutError,
)
from pyecs.lb._config import LoadBalancer
from pyecs.metrics import MetricKey, MetricsCollector, MetricStore, TaskUsage
from pyecs.models._arn import DEFAULT_ACCOUNT, DEFAULT_REGION, ArnFactory
from pyecs.models.capacity import CapacityProvider, CapacityProviderStrategyItem, ManagedScaling
from pyecs.models.instance import ContainerInstance, InstanceSpec
from pyecs.models.network import AwsVpcConfiguration
from pyecs.models.security_group import SecurityGroup, SecurityPolicy
from pyecs.models.service import DeploymentConfiguration, RestartBackoff
from pyecs.models.task import AdoptableTask, Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.placement._scheduler import PlacementState
from pyecs.runtime._adopt import adopt_tasks
from pyecs.runtime._capacity import CapacityManager
from pyecs.runtime._events import ClusterEvent, EventHub
from pyecs.runtime._overrides import apply_overrides
from pyecs.runtime._registry import (
    DeleteTaskDefinitionsResult,
    TaskDefinitionRegistry,
    TaskDefinitionSource,
)
from pyecs.runtime._runtime import ClusterRuntime
from pyecs.runtime._scaling import ProviderScaler
from pyecs.runtime._security_groups import SecurityGroupRegistry
from pyecs.runtime._tasks import (
    MAX_TASKS_PER_SERVICE,
    STOPPED_TASKS_KEPT,
    DescribeServicesResult,
    DescribeTasksResult,
    RunTaskResult,
    TaskManager,
    owner_labels,
)
from pyecs.service._autoscaling import ApplicationAutoScaling
from pyecs.service._manager import CLUSTER_NAME, ServiceManager
from pyecs.service._service import Service
from pyecs.service.features._discovery import Endpoint

__all__ = ["Cluster"]


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _guarded_lines(
    backend: Backend, runtime_id: str, follow: bool, where: str
) -> AsyncIterator[str]:
    """The backend's log lines; a failure of its own comes out as a BackendError."""
    try:
        async for line in backend.logs(runtime_id, follow=follow):
            yield line
    except PyecsError:
        raise
    except Exception as exc:
        raise BackendError(
            f"the {backend.name} backend could not read the output of {where}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


class Cluster:
    """An ECS-style cluster whose control loop runs in the caller's event loop.

    Use it as an async context manager: leaving the block stops every task the cluster
    started and removes what it created, also on an exception or on cancellation.

    Args:
        name: The cluster name, 1-255 letters, digits, ``-`` or ``_``.
        backend: Runs the tasks' containers (``DockerBackend``, ``ProcessBackend``,
            ``SimulatedBackend`` or your own), or the name of one (``"docker"``,
            ``"process"``, ``"simulated"``) to build it with its defaults; without one the
            cluster only keeps task definitions.
        region: The region written into ARNs (default ``local``).
        account: The account written into ARNs (default ``000000000000``).
        clock: Returns the current UTC time; tests may pass their own.
        task_healthy_delay: Seconds a service task without health checks must be RUNNING
            before it counts as healthy (ECS: 40; tests use less); finite, >= 0.
        max_tasks_per_service: The largest ``desired_count`` a service may have (ECS's
            quota "tasks per service": 5,000). Raise it here, as you would ask AWS to
            raise the quota.
        stopped_tasks_kept: At most this many STOPPED tasks stay describable (the oldest
            are forgotten first); ECS keeps them about an hour, and so does pyecs within
            this bound.
        metrics_resolution: Seconds between metric samples, 1 to 60 (default 5).
        metrics_retention: Points kept per metric series (default 3,600: an hour at 1 s;
            16 bytes a point).
        task_definitions: The task-definition registry to share with other clusters of
            the same region and account (as in ECS, where task definitions belong to the
            account and region); default: a registry of this cluster's own.
        adopt: Tasks an earlier run of this cluster started (a state store kept them):
            when the cluster opens, the backend keeps their containers instead of
            removing them as leftovers, and the cluster takes over those still there as
            RUNNING tasks with their old ARNs. A service task joins the service created
            with its name. Backends whose containers end with the process adopt
            nothing. :attr:`adopted` lists what was adopted.
        security_groups: The security-group registry to share with other clusters (as
            in EC2, where groups belong to a VPC, not to a cluster); default: a registry
            of this cluster's own.

    Raises:
        InvalidParameterError: for a bad name, backend, delay or limit, or a registry of
            another region or account, at once.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        backend: Backend | BackendName | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        clock: Callable[[], datetime.datetime] = _utcnow,
        task_healthy_delay: float = 40.0,
        max_tasks_per_service: int = MAX_TASKS_PER_SERVICE,
        stopped_tasks_kept: int = STOPPED_TASKS_KEPT,
        metrics_resolution: float = 5.0,
        metrics_retention: int = 3600,
        task_definitions: TaskDefinitionRegistry | None = None,
        adopt: Iterable[AdoptableTask] = (),
        security_groups: SecurityGroupRegistry | None = None,
    ) -> None:
        if not isinstance(name, str) or not CLUSTER_NAME.match(name):
            raise InvalidParameterError(
                f"cluster name {name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        self.name = name
        self._arns = ArnFactory(name, region=region, account=account)
        self._clock = clock
        if task_definitions is None:
            task_definitions = TaskDefinitionRegistry(region=region, account=account, clock=clock)
        elif not isinstance(task_definitions, TaskDefinitionRegistry):
            raise InvalidParameterError(
                f"task_definitions must be a pyecs.TaskDefinitionRegistry, got "
                f"{type(task_definitions).__name__}"
            )
        elif (task_definitions.region, task_definitions.account) != (region, account):
            raise InvalidParameterError(
                f"task_definitions belongs to region {task_definitions.region!r}, account "
                f"{task_definitions.account!r}, not to this cluster's {region!r}, {account!r}: "
                "give the cluster the same region and account"
            )
        self._registry = task_definitions
        self.task_healthy_delay = check_seconds(task_healthy_delay, "task_healthy_delay")
        self.backend = as_backend(backend)
        self._placement = PlacementState(name, region=region, account=account)
        self._events = EventHub()
        for param, value in (
            ("max_tasks_per_service", max_tasks_per_service),
            ("stopped_tasks_kept", stopped_tasks_kept),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{param} must be an integer >= 1, got {value!r}")
        self.max_tasks_per_service = max_tasks_per_service
        self._tasks = TaskManager(
            self._arns, self._placement, self._events, clock, stopped_tasks_kept=stopped_tasks_kept
        )
        self._capacity = CapacityManager(
            self._arns, self._placement, self._tasks, clock, lambda: self.instances_changed()
        )
        if security_groups is None:
            security_groups = SecurityGroupRegistry(f"cluster {name!r}")
        elif not isinstance(security_groups, SecurityGroupRegistry):
            raise InvalidParameterError(
                f"security_groups must be a pyecs.SecurityGroupRegistry, got "
                f"{type(security_groups).__name__}"
            )
        self._security_groups = security_groups
        self._capacity.check_groups = self._security_groups.check
        self._metrics = MetricStore(retention=metrics_retention)
        self._collector = MetricsCollector(self._metrics, metrics_resolution)
        # What services are given; the cluster composes it with the managers below.
        self._runtime = ClusterRuntime(
            name,
            arns=self._arns,
            clock=clock,
            events=self._events,
            registry=self._registry,
            tasks=self._tasks,
            placement=self._placement,
            task_healthy_delay=self.task_healthy_delay,
            max_tasks_per_service=max_tasks_per_service,
            capacity=self._capacity,
            security_groups=self._security_groups,
            metrics=self._metrics,
        )
        self._services = ServiceManager(self._runtime)
        self._scaler = ProviderScaler(
            self._capacity, self._placement, self._tasks, self._services.is_daemon_group
        )
        if self.backend is not None:
            self._collector.add_source(TaskUsage(name, self.backend, self._tasks.all))
        self._collector.add_source(ServiceMetrics(name, self._services.all))
        self._collector.add_source(
            CapacityMetrics(
                name,
                lambda: [p.name for p in self._capacity.providers() if not p.fargate],
                self._scaler.reservation,
            )
        )
        self._autoscaling = ApplicationAutoScaling(
            cluster=name,
            region=region,
            account=account,
            service=self._services.service,
            services=self._services.all,
            collector=self._collector,
            clock=clock,
        )
        self._instances = InstanceManager(self._runtime, self._services.instances_changed)
        self._tasks.watch(self._capacity.task_changed)
        self._tasks.watch(self._services.route_task)
        self._stack: AsyncExitStack | None = None
        self._adopt = tuple(adopt)
        for known in self._adopt:
            if not isinstance(known, AdoptableTask):
                raise InvalidParameterError(
                    f"adopt takes pyecs.AdoptableTask values, got {type(known).__name__}"
                )
        self._adopted: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<Cluster {self.name!r} {self._runtime.state}>"

    @property
    def arn(self) -> str:
        """``arn:aws:ecs:<region>:<account>:cluster/<name>``."""
        return self._arns.cluster_arn

    @property
    def adopted(self) -> tuple[str, ...]:
        """ARNs of the tasks taken over from an earlier run when the cluster opened
        (see ``adopt``)."""
        return self._adopted

    @property
    def task_definitions(self) -> TaskDefinitionRegistry:
        """The task-definition registry this cluster resolves references in."""
        return self._registry

    @property
    def state(self) -> Literal["new", "open", "closed"]:
        """``new`` before ``async with``, ``open`` inside, ``closed`` after."""
        return self._runtime.state

    @property
    def is_open(self) -> bool:
        """True inside ``async with``."""
        return self._runtime.state == "open"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        if self._runtime.state != "new":
            raise ClusterClosedError(
                f"cluster {self.name!r} was already {self._runtime.state}; create a new Cluster"
            )
        # Contexts are entered and left in strict LIFO order (anyio cancel scopes need it):
        # the backend session, then the cluster's task group, then the shutdown callback,
        # which therefore runs first on the way out, while both are still alive.
        stack = AsyncExitStack()
        await stack.__aenter__()
        # Attached while open: the registry may be shared, and outlive this cluster.
        stack.callback(
            self._security_groups.attach(self._groups_in_use, self._publish_security_groups)
        )
        try:
            if self.backend is not None:
                await stack.enter_async_context(self._backend_session(self.backend))
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self._shutdown, tg)
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._tasks.attach(self.backend, tg)
        self._services.attach(self.backend, tg)
        self._scaler.attach(tg)
        self._capacity.attach(tg)
        tg.start_soon(self._collector.run)
        self._stack = stack
        self._runtime.state = "open"
        if self.backend is not None and self._adopt:
            try:
                self._adopted = await adopt_tasks(
                    self._adopt, self.backend, self._registry, self._tasks
                )
            except BaseException:
                await self.__aexit__(None, None, None)
                raise
        return self

    @asynccontextmanager
    async def _backend_session(self, backend: Backend) -> AsyncIterator[None]:
        context = ClusterContext(
            self.name,
            self.arn,
            owner_labels(self.name),
            adopt=frozenset(t.arn for t in self._adopt),
        )
        specs = await backend.open(context)
        try:
            await backend.apply_security_groups(self._security_groups.policy)
            for spec in specs:
                ci = self._placement.add_instance(spec, registered_at=self._clock())
                if self._capacity.fargate_host is None:
                    self._capacity.fargate_host = ci.id  # Fargate tasks run on this one
            yield
        finally:
            await backend.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        self._runtime.state = "closed"
        if stack is not None:
            # The caller's exception is not the task group's business: closing cleanly
            # keeps it from being wrapped in an ExceptionGroup; it propagates as it is.
            await stack.__aexit__(None, None, None)
        return None

    async def _shutdown(self, tg: anyio.abc.TaskGroup) -> None:
        """Stop every task (shielded, bounded), then end the cluster's background work."""
        self._runtime.state = "closed"
        self._services.freeze()  # no replacements for the tasks we are about to stop
        with anyio.CancelScope(shield=True):
            try:
                await self._tasks.stop_all("Cluster closed")
                await self._scaler.aclose()
            finally:
                self._events.close()
                self._metrics.close()
                tg.cancel_scope.cancel()

    async def aclose(self) -> None:
        """Leave the cluster as ``async with`` does: stop and remove everything. Idempotent.

        Stopping is shielded from cancellation (and bounded by a timeout), so leaving the
        block on an exception or a cancellation cleans up too.
        """
        await self.__aexit__(None, None, None)

    def _require_open(self) -> None:
        self._runtime.require_open()

    # -- task definitions ------------------------------------------------------------------

    async def register_task_definition(
        self, task_definition: TaskDefinitionSource
    ) -> TaskDefinition:
        """Register a revision of a task definition (a model, ECS JSON dict or file path).

        Returns:
            The registered definition, with ``revision``, ``task_definition_arn`` and
            ``status`` ACTIVE set.

        Raises:
            InvalidTaskDefinitionError: when the definition breaks an ECS rule.
        """
        self._require_open()
        return self._registry.register(task_definition)

    async def deregister_task_definition(self, reference: str) -> TaskDefinition:
        """Mark ``family:revision`` INACTIVE: no new tasks; running ones keep running."""
        self._require_open()
        return self._registry.deregister(reference)

    async def delete_task_definitions(self, references: list[str]) -> DeleteTaskDefinitionsResult:
        """Delete INACTIVE revisions; ACTIVE or unknown ones come back as failures.

        Raises:
            InvalidParameterError: when ``references`` is not a list of strings.
        """
        self._require_open()
        refs = check_str_list(references, "references", "task definition references")
        return self._registry.delete(refs)

    def describe_task_definition(self, reference: str) -> TaskDefinition:
        """Resolve ``family`` (latest ACTIVE revision), ``family:revision`` or an ARN.

        Raises:
            TaskDefinitionNotFoundError: naming what is registered.
        """
        return self._registry.describe(reference)

    def list_task_definitions(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] = "ACTIVE",
        sort: Literal["ASC", "DESC"] = "ASC",
    ) -> list[str]:
        """ARNs of registered revisions (ACTIVE by default), sorted by family and revision."""
        return self._registry.list_arns(family_prefix=family_prefix, status=status, sort=sort)

    def list_task_definition_families(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "ALL"] = "ACTIVE",
    ) -> list[str]:
        """Family names (ACTIVE: those with at least one ACTIVE revision)."""
        return self._registry.list_families(family_prefix=family_prefix, status=status)

    # -- tasks -----------------------------------------------------------------------------

    async def run_task(
        self,
        task_definition: str | TaskDefinition,
        *,
        count: int = 1,
        placement_strategy: Sequence[object] | None = None,
        placement_constraints: Sequence[object] | None = None,
        group: str | None = None,
        started_by: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        launch_type: Literal["EC2", "FARGATE"] | None = None,
        capacity_provider_strategy: Sequence[object] | None = None,
        network_configuration: Mapping[str, Any] | AwsVpcConfiguration | None = None,
    ) -> RunTaskResult:
        """Place and start ``count`` standalone tasks (ECS RunTask).

        ECS allows 10 per call; pyecs lifts that limit locally (up to 1,000 per call).
        Copies that cannot be placed come back in ``failures`` with the ECS reason
        (``RESOURCE:MEMORY``...) and a detail naming the closest instance. The tasks start
        in the background: ``wait_tasks_running`` waits for them.

        Args:
            task_definition: ``family``, ``family:revision``, an ARN, or a registered
                :class:`TaskDefinition`; it must be ACTIVE.
            count: How many copies.
            placement_strategy: Up to 5 strategies (``pyecs.BinPack("memory")`` or the
                ECS dict form).
            placement_constraints: Up to 10 constraints, besides the task definition's.
            group: The task group (default ``family:<family>``).
            started_by: Recorded on the tasks, for ``list_tasks(started_by=...)``: up to
                128 letters, digits, ``-``, ``/`` or ``_`` (as ECS).
            overrides: ECS TaskOverride: ``containerOverrides`` (command, environment,
                cpu, memory, memoryReservation), task ``cpu`` and ``memory``.
            tags: Key/value tags recorded on the tasks, strings, by the ECS rules: at most
                50, keys 1-128 characters (not ``aws:...``), values up to 256.
            launch_type: ``EC2`` (a registered container instance) or ``FARGATE``
                (capacity of the task's own, sized by its cpu and memory).
            capacity_provider_strategy: Items ``{"capacityProvider", "base",
                "weight"}`` (or :class:`pyecs.CapacityProviderStrategyItem`); not with
                ``launch_type``. Neither: the cluster's default strategy, else EC2.
            network_configuration: ``{"awsvpcConfiguration": {"subnets": [...],
                "securityGroups": [...], "assignPublicIp": "DISABLED"}}``; required for
                (and only for) ``awsvpc`` task definitions.

        Raises:
            TaskDefinitionNotFoundError: unknown or INACTIVE task definition.
            InvalidParameterError: a bad count, group, started_by, tags or overrides;
                nothing is started then.
            PlacementError: a malformed strategy or constraint.
            BackendError: the cluster has no backend.
        """
        self._require_open()
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise InvalidParameterError(f"count must be from 1 to 1000, got {count!r}")
        td = self._runtime.resolve(task_definition)
        td = apply_overrides(td, overrides)
        if group is not None and (not isinstance(group, str) or not group or len(group) > 255):
            raise InvalidParameterError(f"group must be 1-255 characters, got {group!r}")
        started_by = check_started_by(started_by)
        checked_tags = check_tags(tags)
        choice = self._capacity.choose(launch_type, capacity_provider_strategy)
        network = self._capacity.check_network(td, choice, network_configuration)
        result, _ = self._capacity.launch(
            td,
            count,
            choice,
            network,
            group=group or f"family:{td.family}",
            started_by=started_by,
            strategies=placement_strategy,
            constraints=placement_constraints,
            tags=checked_tags,
        )
        return result

    async def stop_task(self, task: str, *, reason: str | None = None) -> Task:
        """Stop a task (ECS StopTask): stopCode UserInitiated, reason as given.

        Returns at once with the task's snapshot; ``wait_tasks_stopped`` waits.

        Raises:
            TaskNotFoundError: when the ARN or id is unknown.
        """
        self._require_open()
        return self._tasks.stop(task, "UserInitiated", reason or "Task stopped by user")

    def describe_tasks(self, tasks: Sequence[str]) -> DescribeTasksResult:
        """Snapshots of tasks by ARN or id; unknown ones are ``MISSING`` failures.

        Raises:
            InvalidParameterError: when ``tasks`` is not a list of strings (a lone string
                is refused, not read letter by letter).
        """
        return self._tasks.describe(check_str_list(tasks, "tasks", "task ARNs or ids"))

    def describe_task(self, task: str) -> Task:
        """The latest snapshot of one task.

        Raises:
            TaskNotFoundError: when the ARN or id is unknown.
        """
        return self._tasks.get(task)

    def list_tasks(
        self,
        *,
        family: str | None = None,
        service_name: str | None = None,
        desired_status: Literal["RUNNING", "STOPPED"] = "RUNNING",
        container_instance: str | None = None,
        started_by: str | None = None,
    ) -> list[str]:
        """ARNs of the tasks that match every filter given (desired RUNNING by default)."""
        return self._tasks.list_arns(
            family=family,
            service_name=service_name,
            desired_status=desired_status,
            container_instance=container_instance,
            started_by=started_by,
        )

    async def wait_tasks_running(self, tasks: Sequence[str], *, timeout: float) -> list[Task]:
        """Wait until every task is RUNNING (ECS waiter ``tasks-running``).

        Args:
            tasks: ARNs or ids.
            timeout: Seconds, >= 0; ``math.inf`` waits without a limit.

        Raises:
            TimeoutError: naming the tasks not RUNNING yet and their status.
            PyecsError: when a task stopped instead (with its stoppedReason).
            InvalidParameterError: a timeout that is not a number >= 0 (NaN...), or
                ``tasks`` not a list of strings.
        """
        return await self._wait_tasks(tasks, timeout, "RUNNING")

    async def wait_tasks_stopped(self, tasks: Sequence[str], *, timeout: float) -> list[Task]:
        """Wait until every task is STOPPED (ECS waiter ``tasks-stopped``).

        Args:
            tasks: ARNs or ids.
            timeout: Seconds, >= 0; ``math.inf`` waits without a limit.

        Raises:
            TimeoutError: naming the tasks not STOPPED yet and their status.
            InvalidParameterError: a timeout that is not a number >= 0 (NaN...), or
                ``tasks`` not a list of strings.
        """
        return await self._wait_tasks(tasks, timeout, "STOPPED")

    async def _wait_tasks(self, arns: Sequence[str], timeout: float, want: str) -> list[Task]:
        from pyecs.exceptions import PyecsError

        timeout = check_timeout(timeout)
        refs = check_str_list(arns, "tasks", "task ARNs or ids")
        arns = [t.arn for t in self._tasks.get_many(refs)]

        checked = 0  # arns[:checked] had reached ``want`` when last looked at

        def first_not_done(start: int) -> int:
            index = self._tasks.first_not_at(arns, start, want)
            if index < len(arns):
                t = self._tasks.get(arns[index])
                if t.last_status == "STOPPED" and want == "RUNNING":
                    raise PyecsError(
                        f"task {t.id} stopped before it was RUNNING: {t.stop_code}: "
                        f"{t.stopped_reason}"
                    )
            return index

        def done() -> bool:
            # Each check resumes where the last one stopped (a wait over many tasks stays
            # linear); once all got there, one full pass confirms they all are there now.
            nonlocal checked
            checked = first_not_done(checked)
            if checked < len(arns):
                return False
            checked = first_not_done(0)
            return checked == len(arns)

        with anyio.move_on_after(timeout):
            while not done():
                await self._tasks.wait_changed()
            return self._tasks.get_many(arns)
        pending = [
            f"{t.id} ({t.last_status})"
            for t in (self._tasks.get(a) for a in arns)
            if t.last_status != want
        ]
        raise TimeoutError(
            f"{len(pending)} task(s) not {want} after {timeout} s: {', '.join(pending)}; "
            "look at describe_tasks() for their containers' status and reasons"
        )

    def task_logs(self, task: str, container: str, *, follow: bool = False) -> AsyncIterator[str]:
        """Output lines of one container of a task (while it exists on the backend)."""
        snapshot = self._tasks.get(task)
        runtime_id = snapshot.container(container).runtime_id
        if runtime_id is None or self.backend is None:
            raise InvalidParameterError(
                f"container {container!r} of task {snapshot.id} has not been created"
            )
        return _guarded_lines(
            self.backend, runtime_id, follow, f"container {container!r} of task {snapshot.id}"
        )

    async def task_stats(self, task: str, container: str) -> dict[str, float]:
        """One sample of a running container's resource use (Docker: ``cpu_percent``,
        ``memory_mib``, ``memory_limit_mib``).

        Raises:
            BackendError: when the backend does not measure usage.
        """
        snapshot = self._tasks.get(task)
        runtime_id = snapshot.container(container).runtime_id
        if runtime_id is None or self.backend is None:
            raise InvalidParameterError(
                f"container {container!r} of task {snapshot.id} has not been created"
            )
        return await self.backend.stats(runtime_id)

    # -- services (ECS CreateService and friends) -------------------------------------------

    async def create_service(
        self,
        name: str,
        *,
        task_definition: str | TaskDefinition,
        desired_count: int = 1,
        scheduling_strategy: Literal["REPLICA", "DAEMON"] = "REPLICA",
        placement_strategy: Sequence[object] | None = None,
        placement_constraints: Sequence[object] | None = None,
        deployment_configuration: DeploymentConfiguration | None = None,
        health_check_grace_period: float = 0,
        healthy_delay: float | None = None,
        tags: Mapping[str, str] | None = None,
        load_balancers: Sequence[LoadBalancer | Mapping[str, Any]] | None = None,
        restart_backoff: RestartBackoff | None = None,
        launch_type: Literal["EC2", "FARGATE"] | None = None,
        capacity_provider_strategy: Sequence[object] | None = None,
        network_configuration: Mapping[str, Any] | AwsVpcConfiguration | None = None,
    ) -> Service:
        """Create a service that keeps ``desired_count`` tasks running (ECS CreateService).

        Every argument is checked before anything starts.

        Args:
            name: 1-255 letters, digits, ``-`` or ``_``; unique in the cluster while the
                service is ACTIVE or DRAINING.
            task_definition: ``family``, ``family:revision``, ARN or a registered model.
            desired_count: Tasks to keep (ignored for DAEMON: one per instance); at most the
                cluster's ``max_tasks_per_service`` (5,000 by default, as ECS's quota).
            scheduling_strategy: ``REPLICA`` or ``DAEMON``.
            placement_strategy: Up to 5 strategies; none means ECS's default (spread over
                availability zones, then instances). Not allowed for DAEMON.
            placement_constraints: Up to 10 constraints.
            deployment_configuration: Deployment bounds and circuit breaker (ECS defaults:
                100% / 200%; DAEMON: 0% / 100%).
            health_check_grace_period: Seconds after a task starts during which failing
                health checks are ignored.
            healthy_delay: Seconds a task without health checks must run to count as
                healthy; default the cluster's ``task_healthy_delay``.
            tags: Tags for the service and its tasks (the ECS rules: at most 50, keys
                1-128 characters, values up to 256, strings).
            load_balancers: Up to 5 in-process load balancers, each a
                ``pyecs.LoadBalancer(container_name="web", container_port=80, ...)`` or the
                ECS dict form ``{"containerName": "web", "containerPort": 80, ...}``. Each
                listens on 127.0.0.1 (``svc.load_balancer.address``) before this returns
                and spreads connections over the service's healthy tasks; see
                ``docs/load-balancing.md``.
            restart_backoff: How long to wait before replacing tasks that keep exiting
                soon after they start (a local protection; default
                ``pyecs.RestartBackoff()``: 1 s doubling to 60 s from the third quick
                exit in a row).
            launch_type: ``EC2`` or ``FARGATE``; not with ``capacity_provider_strategy``.
            capacity_provider_strategy: How the service's tasks spread over capacity
                providers (base first, then weights); neither: the cluster's default.
            network_configuration: The ``awsvpcConfiguration`` of ``awsvpc`` tasks.

        Raises:
            InvalidParameterError: a bad argument or a duplicate name, or a load balancer
                whose container or port the task definition lacks or whose listener port
                is taken.
            TaskDefinitionNotFoundError: unknown or INACTIVE task definition.
            PlacementError: a malformed strategy or constraint.
        """
        return await self._services.create_service(
            name,
            task_definition=task_definition,
            desired_count=desired_count,
            scheduling_strategy=scheduling_strategy,
            placement_strategy=placement_strategy,
            placement_constraints=placement_constraints,
            deployment_configuration=deployment_configuration,
            health_check_grace_period=health_check_grace_period,
            healthy_delay=healthy_delay,
            tags=tags,
            load_balancers=load_balancers,
            restart_backoff=restart_backoff,
            launch_type=launch_type,
            capacity_provider_strategy=capacity_provider_strategy,
            network_configuration=network_configuration,
        )

    def service(self, name: str) -> Service:
        """The service called ``name`` (ACTIVE, DRAINING or recently INACTIVE).

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        return self._services.service(name)

    def discover(
        self, name: str, *, security_groups: Sequence[str] | None = None
    ) -> list[Endpoint]:
        """Where the healthy tasks of service ``name`` can be reached now.

        One endpoint per healthy task that is not being stopped: for a service with a load
        balancer its container and port, otherwise every published port of the first
        essential container (``endpoint.address`` is ``"127.0.0.1:PORT"``).

        ``security_groups`` states the caller's groups (a task of those groups): then only
        endpoints whose task's groups admit one of them on that port (tcp) are given.
        None: the caller is this machine, outside every group (no filtering).

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        return self._services.discover(name, security_groups)

    def watch_endpoints(self, name: str) -> AsyncIterator[list[Endpoint]]:
        """Yield :meth:`discover`'s answer now and each time it changes.

        ``async for eps in cluster.watch_endpoints("web-app"): ...``; ends (after an
        empty list) when the service is INACTIVE or the cluster closes.

        Raises:
            ServiceNotFoundError: naming the services that exist (on first iteration).
        """
        return self._services.watch_endpoints(name)

    def list_services(self) -> list[str]:
        """ARNs of the services that are ACTIVE or DRAINING."""
        return self._services.list_services()

    def describe_services(self, names: Sequence[str]) -> DescribeServicesResult:
        """Services by name or ARN; unknown ones are ``MISSING`` failures.

        Raises:
            InvalidParameterError: when ``names`` is not a list of strings.
        """
        return self._services.describe_services(names)

    async def delete_service(self, name: str, *, force: bool = False) -> Service:
        """Delete a service (see :meth:`Service.delete`)."""
        return await self._services.delete_service(name, force=force)

    def instances_changed(self) -> None:
        """Tell the services that capacity changed (instances added, drained...)."""
        self._services.instances_changed()

    # -- container instances ---------------------------------------------------------------

    def list_container_instances(
        self, *, filter: str | None = None, status: str | None = None
    ) -> list[ContainerInstance]:
        """The cluster's container instances, optionally filtered.

        Args:
            filter: A cluster query language expression, such as
                ``attribute:ecs.availability-zone == us-east-1a``.
            status: Only instances with this status (ACTIVE, DRAINING...).

        Raises:
            QuerySyntaxError: pointing at the column of a malformed ``filter``.
        """
        return self._instances.list_container_instances(filter=filter, status=status)

    def describe_container_instance(self, instance: str) -> ContainerInstance:
        """One container instance by id or ARN."""
        return self._instances.describe_container_instance(instance)

    async def register_container_instance(
        self, spec: InstanceSpec, *, capacity_provider: str | None = None
    ) -> ContainerInstance:
        """Add an instance (simulated capacity, or an engine the backend serves).

        Args:
            spec: What the instance offers.
            capacity_provider: The provider (made with :meth:`create_capacity_provider`)
                whose instance it is, as an Auto Scaling group's instance is its provider's.
        """
        self._require_open()
        return await self._instances.register_container_instance(
            self._capacity.instance_spec(spec, capacity_provider)
        )

    async def deregister_container_instance(
        self, instance: str, *, force: bool = False
    ) -> ContainerInstance:
        """Remove an instance. With tasks on it, ``force=True`` is needed; they keep running.

        Raises:
            InvalidParameterError: when tasks run on it and ``force`` is False.
        """
        return await self._instances.deregister_container_instance(instance, force=force)

    async def update_container_instances_state(
        self, instances: Iterable[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> list[ContainerInstance]:
        """Set instances ACTIVE or DRAINING (DRAINING: nothing new is placed there).

        Every instance is looked up before any changes, so a bad one changes nothing.

        Raises:
            InvalidParameterError: a bad status, or ``instances`` not a list of strings.
        """
        return await self._instances.update_container_instances_state(instances, status)

    async def put_attributes(
        self, instance: str, attributes: Mapping[str, str | None]
    ) -> ContainerInstance:
        """Add or change custom attributes of an instance."""
        return await self._instances.put_attributes(instance, attributes)

    async def delete_attributes(self, instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes of an instance."""
        return await self._instances.delete_attributes(instance, names)

    # -- capacity providers (ECS CreateCapacityProvider and friends) ------------------------

    async def create_capacity_provider(
        self,
        name: str,
        *,
        instance_provider: InstanceProvider | None = None,
        managed_scaling: ManagedScaling | None = None,
        managed_termination_protection: Literal["ENABLED", "DISABLED"] = "DISABLED",
        scaling_interval: float = 60.0,
        scale_in_after: float = 900.0,
    ) -> CapacityProvider:
        """Create a capacity provider that owns a group of container instances.

        Instances join it with ``register_container_instance(spec, capacity_provider=...)``
        or, with managed scaling, from ``instance_provider``. Associate it with
        :meth:`put_cluster_capacity_providers` before tasks use it.

        Args:
            name: 1-255 letters, digits, ``-`` or ``_``, not starting with ``aws``,
                ``ecs`` or ``fargate``.
            instance_provider: Adds and removes instances (``SimulatedBackend`` and
                ``ProcessBackend`` are instance providers); needed by managed scaling.
            managed_scaling: Keep CapacityProviderReservation at ``target_capacity``.
            managed_termination_protection: ``ENABLED``: scale-in never removes an
                instance that runs non-daemon tasks (it drains first). Needs managed
                scaling, as in ECS.
            scaling_interval: Seconds between two looks at the metric (ECS's alarms look
                once a minute).
            scale_in_after: Seconds the metric must stay below target before scale-in
                (ECS: 15 minutes).

        Raises:
            InvalidParameterError: a bad or taken name, or managed scaling without an
                instance provider.
        """
        provider = self._capacity.create(
            name,
            instance_provider=instance_provider,
            managed_scaling=managed_scaling,
            managed_termination_protection=managed_termination_protection,
            scaling_interval=scaling_interval,
            scale_in_after=scale_in_after,
        )
        self._scaler.started(provider)
        return self._capacity.snapshot(name)

    async def put_cluster_capacity_providers(
        self,
        capacity_providers: Sequence[str],
        default_capacity_provider_strategy: Sequence[object] = (),
    ) -> list[str]:
        """Associate providers with the cluster and set its default strategy (ECS
        PutClusterCapacityProviders). ``FARGATE`` and ``FARGATE_SPOT`` need only this.

        Returns:
            The associated providers.

        Raises:
            InvalidParameterError: an unknown provider, a default strategy naming one that
                is not associated, or removing a provider that tasks still use.
        """
        self._capacity.put_cluster(capacity_providers, default_capacity_provider_strategy)
        return self._capacity.associated

    @property
    def capacity_providers(self) -> list[str]:
        """The providers associated with the cluster (ECS ``capacityProviders``)."""
        return self._capacity.associated

    @property
    def default_capacity_provider_strategy(self) -> list[CapacityProviderStrategyItem]:
        """The cluster's default capacity provider strategy."""
        return list(self._capacity.default_strategy)

    def describe_capacity_providers(
        self, names: Sequence[str] | None = None
    ) -> list[CapacityProvider]:
        """Providers by name (all by default), FARGATE and FARGATE_SPOT included.

        Raises:
            InvalidParameterError: an unknown name.
        """
        chosen = (
            [p.name for p in self._capacity.providers()]
            if names is None
            else list(check_str_list(names, "names", "capacity provider names"))
        )
        return [self._capacity.snapshot(n) for n in chosen]

    def capacity_provider_reservation(self, name: str) -> float:
        """The provider's CapacityProviderReservation now, in percent (ECS's metric:
        instances needed / instances it has x 100; 200 with no instance but tasks waiting).

        The same value goes into ``cluster.metrics`` every period, as
        ``AWS/ECS/ManagedScaling`` ``CapacityProviderReservation`` (dimensions
        ``ClusterName`` and ``CapacityProviderName``).
        """
        provider = self._capacity.get(name)
        if provider.fargate:
            raise InvalidParameterError(
                f"{name} has no instances of its own: CapacityProviderReservation is a metric "
                "of Auto Scaling group providers"
            )
        return self._scaler.reservation(name)

    async def interrupt_spot_task(self, task: str, *, warning: float | None = None) -> Task:
        """Take back a FARGATE_SPOT task's capacity, as AWS does with two minutes' warning.

        The containers get SIGTERM now and are killed after ``warning`` seconds (or their
        ``stopTimeout``, if shorter); the task stops with stopCode ``SpotInterruption``
        and ECS's reason, and its service replaces it.

        Args:
            task: ARN or id of a running FARGATE_SPOT task.
            warning: Seconds of warning (default the cluster's ``spot_warning``: 120).

        Raises:
            InvalidParameterError: the task does not run on FARGATE_SPOT.
        """
        self._require_open()
        snapshot = self._tasks.get(task)
        grace = None if warning is None else check_seconds(warning, "warning")
        return self._capacity.interrupt(snapshot, grace)

    @property
    def spot_warning(self) -> float:
        """Seconds between a Spot interruption's SIGTERM and the kill (ECS: 120)."""
        return self._capacity.spot_warning

    @spot_warning.setter
    def spot_warning(self, seconds: float) -> None:
        self._capacity.spot_warning = check_seconds(seconds, "spot_warning")

    # -- security groups (EC2 CreateSecurityGroup and friends) --------------------------------

    async def create_security_group(
        self, name: str, description: str = "", *, ingress: object = ()
    ) -> SecurityGroup:
        """Create a security group (no inbound rule unless ``ingress`` gives some).

        ``awsvpc`` tasks name groups in ``network_configuration``; a task in groups accepts
        a new connection only when one of its groups' rules admits the source. What each
        backend enforces: docs/security-groups.md.

        Raises:
            SecurityGroupError: InvalidGroup.Duplicate (the name is taken).
        """
        self._require_open()
        group = await self._security_groups.create(name, description)
        if ingress:
            group = await self._security_groups.authorize(group.group_id, ingress)
        return group

    async def authorize_security_group_ingress(self, group_id: str, rules: object) -> SecurityGroup:
        """Add inbound rules (:class:`pyecs.IngressRule` or EC2 ``IpPermissions`` dicts).

        New connections they admit are allowed at once.

        Raises:
            SecurityGroupNotFoundError: the group or a source group does not exist.
            SecurityGroupError: InvalidPermission.Duplicate.
            InvalidParameterError: a bad protocol, port range or CIDR (naming the field).
        """
        self._require_open()
        return await self._security_groups.authorize(group_id, rules)

    async def revoke_security_group_ingress(self, group_id: str, rules: object) -> SecurityGroup:
        """Remove inbound rules: new connections they admitted are refused from now on;
        connections already open continue (as in EC2).

        Raises:
            SecurityGroupNotFoundError: the group does not exist.
            SecurityGroupError: InvalidPermission.NotFound.
        """
        self._require_open()
        return await self._security_groups.revoke(group_id, rules)

    def describe_security_groups(
        self, group_ids: Sequence[str] | None = None
    ) -> list[SecurityGroup]:
        """The groups of these ids, or every group.

        Raises:
            SecurityGroupNotFoundError: an id names no group.
        """
        return self._security_groups.describe(group_ids)

    async def delete_security_group(self, group_id: str) -> None:
        """Delete a group that no running task and no other group's rule uses.

        Raises:
            SecurityGroupNotFoundError: the group does not exist.
            SecurityGroupError: DependencyViolation, naming what uses it.
        """
        self._require_open()
        await self._security_groups.delete(group_id)

    @property
    def security_groups(self) -> SecurityGroupRegistry:
        """The security-group registry (shared when given to the constructor)."""
        return self._security_groups

    @property
    def security_policy(self) -> SecurityPolicy:
        """Every security group now, as one frozen value."""
        return self._security_groups.policy

    def _groups_in_use(self) -> set[str]:
        return {
            gid
            for t in self._tasks.all()
            if t.last_status != "STOPPED" and t.network_interface is not None
            for gid in t.network_interface.security_groups
        }

    async def _publish_security_groups(self, policy: SecurityPolicy) -> None:
        if self.backend is not None and self.is_open:
            await self.backend.apply_security_groups(policy)

    # -- metrics ---------------------------------------------------------------------------

    @property
    def metrics(self) -> MetricStore:
        """The cluster's metrics: ``get_metric_statistics``, ``subscribe``, ``points``...

        Per task, service and cluster (AWS/ECS CPUUtilization, MemoryUtilization;
        ECS/ContainerInsights task counts) and per target group (AWS/ApplicationELB),
        sampled every ``metrics_resolution`` seconds.
        """
        return self._metrics

    @property
    def autoscaling(self) -> ApplicationAutoScaling:
        """Application Auto Scaling for this cluster's services (its methods are sync).

        ``register_scalable_target``, ``put_scaling_policy``, ``put_scheduled_action``,
        ``describe_scaling_activities``...: see ``docs/scaling.md``.
        """
        return self._autoscaling

    @property
    def metrics_resolution(self) -> float:
        """Seconds between metric samples."""
        return self._collector.resolution

    def add_metric(
        self,
        metric_name: str,
        source: Callable[[], float] | Callable[[], Awaitable[float]],
        *,
        namespace: str = "pyecs/Custom",
        dimensions: Mapping[str, str] | None = None,
        unit: str = "None",
    ) -> MetricKey:
        """Sample ``source()`` (plain or async, returning a number) every period.

        The values become the custom metric ``namespace``/``metric_name``: query it
        with ``cluster.metrics``, track it with a customized target tracking metric or
        alarm on it for step scaling. Keep ``source`` quick: it runs in the event loop.

        Raises:
            InvalidParameterError: an empty name or a source that is not callable.
        """
        return self._collector.add_metric(
            metric_name, source, namespace=namespace, dimensions=dimensions, unit=unit
        )

    # -- events ----------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[ClusterEvent]]:
        """Events from now on, for one consumer: ``async with cluster.subscribe() as ev:``."""
        async with self._events.subscribe() as events:
            yield events

    async def events(self) -> AsyncIterator[ClusterEvent]:
        """Iterate task state changes and service events from now on (until close)."""
        async with self._events.subscribe() as events:
            async for event in events:
                yield event
