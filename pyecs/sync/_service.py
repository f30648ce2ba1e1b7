"""The blocking twin of :class:`pyecs.Service`, for :mod:`pyecs.sync`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from anyio.from_thread import BlockingPortal

from pyecs.lb._balancer import ServiceLoadBalancer
from pyecs.models.service import Deployment, DeploymentConfiguration, RestartBackoff
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._events import ServiceEvent
from pyecs.service._service import Service as AsyncService

__all__ = ["Service"]

T = TypeVar("T")


class Service:
    """One ECS service, with blocking calls. Get it from ``cluster.create_service(...)``.

    Same operations, semantics and errors as :class:`pyecs.Service`, without ``await``:
    every call runs in the cluster's event loop (in the portal thread) and blocks until
    it is done. Reads are properties, as on the async service.
    """

    def __init__(self, service: AsyncService, portal: BlockingPortal) -> None:
        self._service = service
        self._portal = portal

    def __repr__(self) -> str:
        return self._read(lambda: repr(self._service)).replace("<Service", "<sync.Service", 1)

    def _read(self, fn: Callable[[], T]) -> T:
        return self._portal.call(fn)

    @property
    def async_service(self) -> AsyncService:
        """The :class:`pyecs.Service` underneath (use it only inside the portal's loop)."""
        return self._service

    # -- reads -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The service name."""
        return self._service.name

    @property
    def arn(self) -> str:
        """The service ARN."""
        return self._service.arn

    @property
    def status(self) -> Literal["ACTIVE", "DRAINING", "INACTIVE"]:
        """ACTIVE, DRAINING (deleted, tasks stopping) or INACTIVE."""
        return self._read(lambda: self._service.status)

    @property
    def scheduling_strategy(self) -> Literal["REPLICA", "DAEMON"]:
        """REPLICA or DAEMON."""
        return self._service.scheduling_strategy

    @property
    def desired_count(self) -> int:
        """Tasks the service keeps (for DAEMON: one per eligible instance)."""
        return self._read(lambda: self._service.desired_count)

    @property
    def running_count(self) -> int:
        """Tasks in the RUNNING state."""
        return self._read(lambda: self._service.running_count)

    @property
    def pending_count(self) -> int:
        """Tasks placed but not RUNNING yet."""
        return self._read(lambda: self._service.pending_count)

    @property
    def tasks(self) -> list[Task]:
        """The service's tasks that are not STOPPED, oldest first."""
        return self._read(lambda: self._service.tasks)

    @property
    def task_definition(self) -> TaskDefinition:
        """The PRIMARY deployment's task definition."""
        return self._read(lambda: self._service.task_definition)

    @property
    def deployments(self) -> list[Deployment]:
        """PRIMARY first, then ACTIVE ones that still have tasks."""
        return self._read(lambda: self._service.deployments)

    @property
    def events(self) -> list[ServiceEvent]:
        """The latest 100 service events, newest first."""
        return self._read(lambda: self._service.events)

    @property
    def deployment_configuration(self) -> DeploymentConfiguration:
        """Deployment bounds and circuit breaker."""
        return self._read(lambda: self._service.deployment_configuration)

    @property
    def load_balancers(self) -> list[ServiceLoadBalancer]:
        """The service's running load balancers (``load_balancers=`` of create_service)."""
        return self._read(lambda: self._service.load_balancers)

    @property
    def load_balancer(self) -> ServiceLoadBalancer:
        """The first load balancer: ``svc.load_balancer.address`` / ``.url``.

        Raises:
            InvalidParameterError: when the service has no load balancer.
        """
        return self._read(lambda: self._service.load_balancer)

    def is_stable(self) -> bool:
        """One deployment, running == desired, nothing pending, every task healthy."""
        return self._read(self._service.is_stable)

    # -- writes ----------------------------------------------------------------------------

    def update(
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
        """Change the service (ECS UpdateService); see :meth:`pyecs.Service.update`."""
        self._portal.call(
            lambda: self._service.update(
                desired_count=desired_count,
                task_definition=task_definition,
                force_new_deployment=force_new_deployment,
                deployment_configuration=deployment_configuration,
                placement_strategy=placement_strategy,
                placement_constraints=placement_constraints,
                health_check_grace_period=health_check_grace_period,
                restart_backoff=restart_backoff,
            )
        )
        return self

    def delete(self, *, force: bool = False) -> Service:
        """Delete the service (DRAINING, then INACTIVE); see :meth:`pyecs.Service.delete`."""
        self._portal.call(lambda: self._service.delete(force=force))
        return self

    def wait_stable(self, timeout: float) -> Service:
        """Block until the service reaches a steady state.

        Raises:
            TimeoutError: with the last service events, when it doesn't get there.
        """
        self._portal.call(lambda: self._service.wait_stable(timeout))
        return self

    def wait_inactive(self, timeout: float) -> Service:
        """Block until a deleted service is INACTIVE (all its tasks stopped)."""
        self._portal.call(lambda: self._service.wait_inactive(timeout))
        return self
