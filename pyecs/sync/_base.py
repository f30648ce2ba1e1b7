"""The hand-written half of :mod:`pyecs.sync`: the portal, the lifecycle, the special cases.

``pyecs/sync/_generated.py`` (written by ``scripts/gen_sync.py``) derives the public
:class:`pyecs.sync.Cluster` and :class:`pyecs.sync.Service` from the bases here, adding one
blocking method per operation of the async API. What a generator cannot derive lives here:

- the event loop thread and its portal (``open``, ``close``, ``with``);
- the async objects' public instance attributes (``name``, ``status``...), mirrored as
  properties;
- operations whose blocking form is not a plain call: ``subscribe``, ``events``,
  ``watch_endpoints`` (checks the service before it returns) and ``describe_services``
  (wraps the services it finds).

A member defined here is not generated; ``tests/test_sync.py`` checks it against the async
API all the same (names, kinds, parameters, annotations, docstrings).
"""

from __future__ import annotations

import abc
import contextlib
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from pyecs.abc import Backend
from pyecs.cluster._cluster import Cluster as AsyncCluster
from pyecs.exceptions import ClusterClosedError
from pyecs.models.service import DeploymentConfiguration, RestartBackoff
from pyecs.runtime._events import ClusterEvent
from pyecs.runtime._tasks import DescribeServicesResult
from pyecs.service._service import Service as AsyncService
from pyecs.service.features._discovery import Endpoint
from pyecs.sync._bridge import BlockingStream

__all__ = ["ClusterBase", "ServiceBase"]

T = TypeVar("T")
S = TypeVar("S", bound="ServiceBase")


class _Blocking(abc.ABC):
    """Sends calls to an event loop in another thread, through its portal, and blocks."""

    @abc.abstractmethod
    def _loop_portal(self) -> BlockingPortal:
        """The portal into the event loop the async object lives in."""

    def _await(self, fn: Callable[[], Awaitable[T]]) -> T:
        return self._loop_portal().call(fn)

    def _call(self, fn: Callable[[], T]) -> T:
        return self._loop_portal().call(fn)

    def _stream(self, source: Callable[[], AsyncIterator[T]]) -> BlockingStream[T]:
        # Called in the loop now, so that a bad argument raises here, not mid-iteration.
        items = self._call(source)
        return BlockingStream(self._loop_portal(), lambda: items)


class ServiceBase(_Blocking):
    """The hand-written half of :class:`pyecs.sync.Service`."""

    def __init__(self, service: AsyncService, portal: BlockingPortal) -> None:
        self._async = service
        self._portal = portal

    def _loop_portal(self) -> BlockingPortal:
        return self._portal

    def __repr__(self) -> str:
        return self._call(lambda: repr(self._async)).replace("<Service", "<sync.Service", 1)

    @property
    def async_service(self) -> AsyncService:
        """The :class:`pyecs.Service` underneath (use it only inside the portal's loop)."""
        return self._async

    def _this(self, service: AsyncService) -> Self:
        """``self``, for an async operation that returned its own service."""
        if service is not self._async:
            raise RuntimeError(
                f"pyecs.Service.{service.name} returned another service; its blocking twin "
                "must wrap it (see pyecs/sync/_base.py)"
            )
        return self

    # -- the async service's instance attributes -------------------------------------------

    @property
    def name(self) -> str:
        """The service name."""
        return self._async.name

    @property
    def arn(self) -> str:
        """The service ARN."""
        return self._async.arn

    @property
    def status(self) -> Literal["ACTIVE", "DRAINING", "INACTIVE"]:
        """ACTIVE, DRAINING (deleted, tasks stopping) or INACTIVE."""
        return self._call(lambda: self._async.status)

    @property
    def scheduling_strategy(self) -> Literal["REPLICA", "DAEMON"]:
        """REPLICA or DAEMON."""
        return self._async.scheduling_strategy

    @property
    def deployment_configuration(self) -> DeploymentConfiguration:
        """Deployment bounds and circuit breaker."""
        return self._call(lambda: self._async.deployment_configuration)

    @property
    def placement_strategy(self) -> list[object]:
        """The placement strategies new tasks are placed by (none: ECS's default)."""
        return self._call(lambda: list(self._async.placement_strategy))

    @property
    def placement_constraints(self) -> list[object]:
        """The placement constraints of the service (besides the task definition's)."""
        return self._call(lambda: list(self._async.placement_constraints))

    @property
    def health_check_grace_period(self) -> float:
        """Seconds after a task starts during which failing health checks are ignored."""
        return self._call(lambda: self._async.health_check_grace_period)

    @property
    def healthy_delay(self) -> float:
        """Seconds a task without health checks must run to count as healthy."""
        return self._async.healthy_delay

    @property
    def restart_backoff(self) -> RestartBackoff:
        """How long to wait before replacing tasks that keep exiting soon after they start."""
        return self._call(lambda: self._async.restart_backoff)

    @property
    def tags(self) -> dict[str, str]:
        """The service's tags (its tasks carry them too)."""
        return dict(self._async.tags)

    @property
    def created_at(self) -> datetime.datetime:
        """When the service was created."""
        return self._async.created_at


class ClusterBase(_Blocking, Generic[S]):
    """The hand-written half of :class:`pyecs.sync.Cluster`: the loop, its portal, ``with``."""

    def __init__(
        self,
        cluster: AsyncCluster,
        *,
        service_type: type[S],
        async_backend: str,
        async_backend_options: Mapping[str, Any] | None,
    ) -> None:
        self._async = cluster
        self._service_type = service_type
        self._async_backend = async_backend
        self._async_backend_options = dict(async_backend_options or {})
        self._portal: BlockingPortal | None = None
        self._exit = contextlib.ExitStack()
        self._services: dict[int, S] = {}

    def __repr__(self) -> str:
        return repr(self._async).replace("<Cluster", "<sync.Cluster", 1)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
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
        if self._portal is not None or self._async.state != "new":
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
            stack.enter_context(portal.wrap_async_context_manager(self._async))
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

    def _loop_portal(self) -> BlockingPortal:
        return self.portal

    @property
    def async_cluster(self) -> AsyncCluster:
        """The :class:`pyecs.Cluster` underneath (use it only inside :attr:`portal`)."""
        return self._async

    def _service(self, svc: AsyncService) -> S:
        """The one blocking twin of ``svc``."""
        wrapped = self._services.get(id(svc))
        if wrapped is None or wrapped.async_service is not svc:
            wrapped = self._services[id(svc)] = self._service_type(svc, self.portal)
        return wrapped

    @property
    def is_open(self) -> bool:
        """True inside ``with``."""
        return self._portal is not None and self._async.is_open

    # -- the async cluster's instance attributes -------------------------------------------

    @property
    def name(self) -> str:
        """The cluster name."""
        return self._async.name

    @property
    def backend(self) -> Backend | None:
        """The backend that runs the containers."""
        return self._async.backend

    @property
    def task_healthy_delay(self) -> float:
        """Seconds a task without health checks must run before it counts as healthy."""
        return self._async.task_healthy_delay

    @property
    def max_tasks_per_service(self) -> int:
        """The largest ``desired_count`` a service may have."""
        return self._async.max_tasks_per_service

    # -- operations whose blocking form is not a plain call --------------------------------

    def subscribe(self) -> BlockingStream[ClusterEvent]:
        """Events from now on, for one consumer: ``with cluster.subscribe() as ev:``."""
        # Returns once the subscription is in place: no later event is missed.
        return BlockingStream(self.portal, subscription=self._async.subscribe)

    def events(self) -> Iterator[ClusterEvent]:
        """Iterate task state changes and service events from now on (until close)."""
        with self.subscribe() as events:
            yield from events

    def watch_endpoints(self, name: str) -> BlockingStream[list[Endpoint]]:
        """Yield :meth:`discover`'s answer now and each time it changes.

        ``for eps in cluster.watch_endpoints("web-app"): ...``; ends (after an
        empty list) when the service is INACTIVE or the cluster closes.

        Raises:
            ServiceNotFoundError: naming the services that exist (on first iteration).
        """
        self._call(lambda: self._async.service(name))  # raises here, not mid-iteration
        return BlockingStream(self.portal, lambda: self._async.watch_endpoints(name))

    def describe_services(self, names: Sequence[str]) -> DescribeServicesResult:
        """Services by name or ARN; unknown ones are ``MISSING`` failures.

        Raises:
            InvalidParameterError: when ``names`` is not a list of strings.
        """
        result = self._call(lambda: self._async.describe_services(names))
        services = tuple(self._service(s) for s in result.services)
        return DescribeServicesResult(services, result.failures)


def _stop_portal(portal: BlockingPortal) -> None:
    with contextlib.suppress(RuntimeError):  # already stopped
        portal.call(portal.stop, True)
