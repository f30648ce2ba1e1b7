"""A blocking facade over pyecs, for scripts and synchronous tests.

.. code-block:: python

    import pyecs.sync
    from pyecs.backends import ProcessBackend

    with pyecs.sync.Cluster("dev", backend=ProcessBackend()) as cluster:
        cluster.register_task_definition("task-definition.json")
        svc = cluster.create_service("web", task_definition="web", desired_count=2)
        svc.wait_stable(timeout=60)
        print([t.endpoint("web", 8080) for t in svc.tasks])

The cluster runs in an event loop of its own, in a background thread
(:func:`anyio.from_thread.start_blocking_portal`); each call is sent there and blocks
until it is done. Operations, arguments, return values and errors are those of
:class:`pyecs.Cluster` and :class:`pyecs.Service`, without ``await``. Leaving the ``with``
block stops every task and removes what the cluster created, as ``async with`` does.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from pyecs._checks import check_timeout
from pyecs.abc import Backend
from pyecs.backends._names import BackendName
from pyecs.cluster._cluster import Cluster as AsyncCluster
from pyecs.cluster._cluster import _utcnow
from pyecs.exceptions import ClusterClosedError
from pyecs.models._arn import DEFAULT_ACCOUNT, DEFAULT_REGION
from pyecs.models.instance import ContainerInstance, InstanceSpec
from pyecs.models.service import DeploymentConfiguration, RestartBackoff
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._events import ClusterEvent
from pyecs.runtime._registry import DeleteTaskDefinitionsResult, TaskDefinitionSource
from pyecs.runtime._tasks import (
    MAX_TASKS_PER_SERVICE,
    STOPPED_TASKS_KEPT,
    DescribeServicesResult,
    DescribeTasksResult,
    RunTaskResult,
)
from pyecs.service._service import Service as AsyncService
from pyecs.service.features._discovery import Endpoint
from pyecs.sync._bridge import BlockingStream
from pyecs.sync._service import Service

__all__ = ["BlockingStream", "Cluster", "Service"]

T = TypeVar("T")


class Cluster:
    """An ECS-style cluster with blocking calls: use it as ``with Cluster(...) as c:``.

    Args:
        name: The cluster name, 1-255 letters, digits, ``-`` or ``_``.
        backend: Runs the tasks' containers, or a backend's name (``"process"``...); see
            :class:`pyecs.Cluster`.
        region: The region written into ARNs.
        account: The account written into ARNs.
        clock: Returns the current UTC time.
        task_healthy_delay: Seconds a service task without health checks must be RUNNING
            before it counts as healthy (ECS: 40).
        max_tasks_per_service: The largest ``desired_count`` of a service (ECS: 5,000).
        stopped_tasks_kept: At most this many STOPPED tasks stay describable.
        async_backend: The event loop to run the cluster in: ``asyncio`` or ``trio``.
        async_backend_options: Options for that loop, as :func:`anyio.run` takes them.

    Raises:
        InvalidParameterError: for a bad name or delay, at once.
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
        async_backend: str = "asyncio",
        async_backend_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._cluster = self._make_cluster(
            name,
            backend=backend,
            region=region,
            account=account,
            clock=clock,
            task_healthy_delay=task_healthy_delay,
            max_tasks_per_service=max_tasks_per_service,
            stopped_tasks_kept=stopped_tasks_kept,
        )
        self._async_backend = async_backend
        self._async_backend_options = dict(async_backend_options or {})
        self._portal: BlockingPortal | None = None
        self._exit = contextlib.ExitStack()
        self._services: dict[int, Service] = {}

    def _make_cluster(self, name: str, **kwargs: Any) -> AsyncCluster:
        """The async cluster underneath; subclasses may return a subclass of it."""
        return AsyncCluster(name, **kwargs)

    def __repr__(self) -> str:
        return repr(self._cluster).replace("<Cluster", "<sync.Cluster", 1)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Start the event loop thread and open the cluster (``with`` does this)."""
        if self._portal is not None or self._cluster._state != "new":
            raise ClusterClosedError(
                f"cluster {self.name!r} was already opened; create a new Cluster"
            )
        stack = contextlib.ExitStack()
        try:
            portal = stack.enter_context(
                start_blocking_portal(
                    self._async_backend,
                    self._async_backend_options or None,
                    name=f"pyecs-{self.name}",
                )
            )
            # Stop whatever is left in the loop (log and event pumps) before it ends.
            stack.callback(_stop_portal, portal)
            # One task enters and leaves the cluster, as its cancel scopes require.
            stack.enter_context(portal.wrap_async_context_manager(self._cluster))
        except BaseException:
            stack.close()
            raise
        self._portal = portal
        self._exit = stack

    def close(self) -> None:
        """Stop every task, remove what the cluster created, end the loop. Idempotent."""
        stack, self._exit = self._exit, contextlib.ExitStack()
        try:
            stack.close()
        finally:
            self._portal = None

    @property
    def portal(self) -> BlockingPortal:
        """The portal into the cluster's event loop, to run coroutines of your own there.

        Raises:
            ClusterClosedError: outside ``with``.
        """
        if self._portal is None:
            raise ClusterClosedError(
                f"cluster {self.name!r} is not open: use it inside "
                f"`with pyecs.sync.Cluster({self.name!r}) as cluster:`"
            )
        return self._portal

    @property
    def async_cluster(self) -> AsyncCluster:
        """The :class:`pyecs.Cluster` underneath (use it only inside :attr:`portal`)."""
        return self._cluster

    def _await(self, fn: Callable[[], Awaitable[T]]) -> T:
        return self.portal.call(fn)

    def _call(self, fn: Callable[[], T]) -> T:
        return self.portal.call(fn)

    def _service(self, svc: AsyncService) -> Service:
        wrapped = self._services.get(id(svc))
        if wrapped is None or wrapped.async_service is not svc:
            wrapped = self._services[id(svc)] = Service(svc, self.portal)
        return wrapped

    @property
    def name(self) -> str:
        """The cluster name."""
        return self._cluster.name

    @property
    def arn(self) -> str:
        """``arn:aws:ecs:<region>:<account>:cluster/<name>``."""
        return self._cluster.arn

    @property
    def backend(self) -> Backend | None:
        """The backend that runs the containers."""
        return self._cluster.backend

    @property
    def is_open(self) -> bool:
        """True inside ``with``."""
        return self._portal is not None and self._cluster.is_open

    @property
    def task_healthy_delay(self) -> float:
        """Seconds a task without health checks must run before it counts as healthy."""
        return self._cluster.task_healthy_delay

    # -- task definitions ------------------------------------------------------------------

    def register_task_definition(self, task_definition: TaskDefinitionSource) -> TaskDefinition:
        """Register a revision (a model, ECS JSON dict or file path).

        Raises:
            InvalidTaskDefinitionError: when the definition breaks an ECS rule.
        """
        return self._await(lambda: self._cluster.register_task_definition(task_definition))

    def deregister_task_definition(self, reference: str) -> TaskDefinition:
        """Mark ``family:revision`` INACTIVE."""
        return self._await(lambda: self._cluster.deregister_task_definition(reference))

    def delete_task_definitions(self, references: list[str]) -> DeleteTaskDefinitionsResult:
        """Delete INACTIVE revisions."""
        return self._await(lambda: self._cluster.delete_task_definitions(references))

    def describe_task_definition(self, reference: str) -> TaskDefinition:
        """Resolve ``family``, ``family:revision`` or an ARN."""
        return self._call(lambda: self._cluster.describe_task_definition(reference))

    def list_task_definitions(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"] = "ACTIVE",
        sort: Literal["ASC", "DESC"] = "ASC",
    ) -> list[str]:
        """ARNs of registered revisions."""
        return self._call(
            lambda: self._cluster.list_task_definitions(
                family_prefix=family_prefix, status=status, sort=sort
            )
        )

    def list_task_definition_families(
        self,
        *,
        family_prefix: str | None = None,
        status: Literal["ACTIVE", "INACTIVE", "ALL"] = "ACTIVE",
    ) -> list[str]:
        """Family names."""
        return self._call(
            lambda: self._cluster.list_task_definition_families(
                family_prefix=family_prefix, status=status
            )
        )

    # -- container instances ---------------------------------------------------------------

    def list_container_instances(
        self, *, filter: str | None = None, status: str | None = None
    ) -> list[ContainerInstance]:
        """The cluster's container instances, optionally filtered (cluster query language)."""
        return self._call(
            lambda: self._cluster.list_container_instances(filter=filter, status=status)
        )

    def describe_container_instance(self, instance: str) -> ContainerInstance:
        """One container instance by id or ARN."""
        return self._call(lambda: self._cluster.describe_container_instance(instance))

    def register_container_instance(self, spec: InstanceSpec) -> ContainerInstance:
        """Add an instance."""
        return self._await(lambda: self._cluster.register_container_instance(spec))

    def deregister_container_instance(
        self, instance: str, *, force: bool = False
    ) -> ContainerInstance:
        """Remove an instance (``force=True`` when tasks run on it)."""
        return self._await(
            lambda: self._cluster.deregister_container_instance(instance, force=force)
        )

    def update_container_instances_state(
        self, instances: Iterable[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> list[ContainerInstance]:
        """Set instances ACTIVE or DRAINING."""
        refs = list(instances)
        return self._await(lambda: self._cluster.update_container_instances_state(refs, status))

    def put_attributes(
        self, instance: str, attributes: Mapping[str, str | None]
    ) -> ContainerInstance:
        """Add or change custom attributes of an instance."""
        return self._await(lambda: self._cluster.put_attributes(instance, attributes))

    def delete_attributes(self, instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes of an instance."""
        keys = list(names)
        return self._await(lambda: self._cluster.delete_attributes(instance, keys))

    def instances_changed(self) -> None:
        """Tell the services that capacity changed."""
        self._call(self._cluster.instances_changed)

    # -- tasks -----------------------------------------------------------------------------

    def run_task(
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
    ) -> RunTaskResult:
        """Place and start ``count`` standalone tasks (ECS RunTask).

        See :meth:`pyecs.Cluster.run_task`; the tasks start in the background and
        ``wait_tasks_running`` waits for them.
        """
        return self._await(
            lambda: self._cluster.run_task(
                task_definition,
                count=count,
                placement_strategy=placement_strategy,
                placement_constraints=placement_constraints,
                group=group,
                started_by=started_by,
                overrides=overrides,
                tags=tags,
            )
        )

    def stop_task(self, task: str, *, reason: str | None = None) -> Task:
        """Stop a task (ECS StopTask); returns at once, ``wait_tasks_stopped`` waits."""
        return self._await(lambda: self._cluster.stop_task(task, reason=reason))

    def describe_tasks(self, tasks: Sequence[str]) -> DescribeTasksResult:
        """Snapshots of tasks by ARN or id; unknown ones are ``MISSING`` failures."""
        return self._call(lambda: self._cluster.describe_tasks(tasks))

    def describe_task(self, task: str) -> Task:
        """The latest snapshot of one task."""
        return self._call(lambda: self._cluster.describe_task(task))

    def list_tasks(
        self,
        *,
        family: str | None = None,
        service_name: str | None = None,
        desired_status: Literal["RUNNING", "STOPPED"] = "RUNNING",
        container_instance: str | None = None,
        started_by: str | None = None,
    ) -> list[str]:
        """ARNs of the tasks that match every filter given."""
        return self._call(
            lambda: self._cluster.list_tasks(
                family=family,
                service_name=service_name,
                desired_status=desired_status,
                container_instance=container_instance,
                started_by=started_by,
            )
        )

    def wait_tasks_running(self, tasks: Sequence[str], *, timeout: float) -> list[Task]:
        """Block until every task is RUNNING (ECS waiter ``tasks-running``).

        ``timeout`` is seconds >= 0 (``math.inf``: no limit); anything else raises
        InvalidParameterError at once.
        """
        seconds = check_timeout(timeout)
        return self._await(lambda: self._cluster.wait_tasks_running(tasks, timeout=seconds))

    def wait_tasks_stopped(self, tasks: Sequence[str], *, timeout: float) -> list[Task]:
        """Block until every task is STOPPED (ECS waiter ``tasks-stopped``).

        ``timeout`` is seconds >= 0 (``math.inf``: no limit); anything else raises
        InvalidParameterError at once.
        """
        seconds = check_timeout(timeout)
        return self._await(lambda: self._cluster.wait_tasks_stopped(tasks, timeout=seconds))

    def task_logs(self, task: str, container: str, *, follow: bool = False) -> BlockingStream[str]:
        """Output lines of one container of a task, as a blocking iterator.

        With ``follow``, iteration blocks for new lines until the container exits.
        """
        # Resolve now, so that a bad task or container raises here and not mid-iteration.
        self._call(lambda: self._cluster.task_logs(task, container))
        return BlockingStream(
            self.portal, lambda: self._cluster.task_logs(task, container, follow=follow)
        )

    def task_stats(self, task: str, container: str) -> dict[str, float]:
        """One sample of a running container's resource use (see :meth:`pyecs.Cluster.task_stats`).

        Raises:
            BackendError: when the backend does not measure usage.
        """
        return self._await(lambda: self._cluster.task_stats(task, container))

    # -- events ----------------------------------------------------------------------------

    def subscribe(self) -> BlockingStream[ClusterEvent]:
        """Events from now on: ``with cluster.subscribe() as events: for e in events: ...``.

        ``events.get(timeout=...)`` waits for one with a deadline.
        """
        return BlockingStream(self.portal, subscription=self._cluster.subscribe)

    def events(self) -> Iterator[ClusterEvent]:
        """Iterate task state changes and service events from now on (until close)."""
        with self.subscribe() as events:
            yield from events

    # -- services --------------------------------------------------------------------------

    def create_service(
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
        load_balancers: Sequence[Any] | None = None,
        restart_backoff: RestartBackoff | None = None,
    ) -> Service:
        """Create a service (ECS CreateService); see :meth:`pyecs.Cluster.create_service`."""
        svc = self._await(
            lambda: self._cluster.create_service(
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
            )
        )
        return self._service(svc)

    def service(self, name: str) -> Service:
        """The service called ``name``.

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        return self._service(self._call(lambda: self._cluster.service(name)))

    def discover(self, name: str) -> list[Endpoint]:
        """Where the healthy tasks of service ``name`` can be reached now.

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        return self._call(lambda: self._cluster.discover(name))

    def watch_endpoints(self, name: str) -> BlockingStream[list[Endpoint]]:
        """:meth:`discover`'s answer now and each time it changes, as a blocking iterator."""
        self.service(name)  # raises ServiceNotFoundError here, not mid-iteration
        return BlockingStream(self.portal, lambda: self._cluster.watch_endpoints(name))

    def list_services(self) -> list[str]:
        """ARNs of the services that are ACTIVE or DRAINING."""
        return self._call(self._cluster.list_services)

    def describe_services(self, names: Sequence[str]) -> DescribeServicesResult:
        """Services (as blocking :class:`Service` objects) by name or ARN."""
        result = self._call(lambda: self._cluster.describe_services(names))
        return DescribeServicesResult(
            tuple(self._service(s) for s in result.services), result.failures
        )

    def delete_service(self, name: str, *, force: bool = False) -> Service:
        """Delete a service (see :meth:`Service.delete`)."""
        svc = self._await(lambda: self._cluster.delete_service(name, force=force))
        return self._service(svc)


def _stop_portal(portal: BlockingPortal) -> None:
    with contextlib.suppress(RuntimeError):  # already stopped
        portal.call(portal.stop, True)
