"""Cluster methods for services (ECS CreateService, DescribeServices...) and discovery."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import anyio.abc

from pyecs._checks import check_str_list, check_tags
from pyecs.exceptions import InvalidParameterError, ServiceNotFoundError
from pyecs.lb._config import LoadBalancer
from pyecs.models._arn import ArnFactory
from pyecs.models.service import DeploymentConfiguration, RestartBackoff
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._tasks import DescribeServicesResult, TaskFailure
from pyecs.service._service import (
    Service,
    _check_backoff,
    _check_count,
    _check_daemon_config,
    _check_grace,
)
from pyecs.service.features._balancing import check_load_balancers
from pyecs.service.features._discovery import Endpoint, endpoints, watch_endpoints

if TYPE_CHECKING:
    from pyecs.cluster._cluster import Cluster

__all__ = ["CLUSTER_NAME", "ServicesMixin"]

#: Cluster and service names: 1-255 letters, digits, ``-`` or ``_``.
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class ServicesMixin:
    """The service half of :class:`pyecs.Cluster`."""

    if TYPE_CHECKING:  # provided by Cluster
        name: str
        task_healthy_delay: float
        max_tasks_per_service: int
        _arns: ArnFactory
        _services: dict[str, Service]
        _task_group: anyio.abc.TaskGroup | None

        def _require_open(self) -> None: ...

        def _resolve(self, task_definition: str | TaskDefinition) -> TaskDefinition: ...

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
                ``pyecs.RestartBackoff()``: 1 s doubling to 60 s from the second quick
                exit in a row).

        Raises:
            InvalidParameterError: a bad argument or a duplicate name, or a load balancer
                whose container or port the task definition lacks or whose listener port
                is taken.
            TaskDefinitionNotFoundError: unknown or INACTIVE task definition.
            PlacementError: a malformed strategy or constraint.
        """
        self._require_open()
        if not isinstance(name, str) or not CLUSTER_NAME.match(name):
            raise InvalidParameterError(
                f"service name {name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        existing = self._services.get(name)
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameterError(
                f"service {name!r} already exists ({existing.status}) in cluster "
                f"{self.name!r}; update it, or delete it and wait until it is INACTIVE"
            )
        if scheduling_strategy not in ("REPLICA", "DAEMON"):
            raise InvalidParameterError(
                f"scheduling_strategy must be 'REPLICA' or 'DAEMON', got {scheduling_strategy!r}"
            )
        td = self._resolve(task_definition)
        _check_count(desired_count, self.max_tasks_per_service)
        _check_backoff(restart_backoff)
        if deployment_configuration is None:
            deployment_configuration = (
                DeploymentConfiguration(minimum_healthy_percent=0, maximum_percent=100)
                if scheduling_strategy == "DAEMON"
                else DeploymentConfiguration()
            )
        if not isinstance(deployment_configuration, DeploymentConfiguration):
            raise InvalidParameterError(
                "deployment_configuration must be a pyecs.DeploymentConfiguration"
            )
        _check_daemon_config(scheduling_strategy, deployment_configuration)
        strategies = self._check_placement(
            placement_strategy, placement_constraints, scheduling_strategy
        )
        _check_grace(health_check_grace_period)
        delay = self.task_healthy_delay if healthy_delay is None else healthy_delay
        _check_grace(delay)
        balancers = check_load_balancers(load_balancers, td, name)
        svc = Service(
            cast("Cluster", self),
            name,
            td,
            desired_count=desired_count,
            scheduling_strategy=scheduling_strategy,
            placement_strategy=strategies,
            placement_constraints=list(placement_constraints or ()),
            deployment_configuration=deployment_configuration,
            health_check_grace_period=health_check_grace_period,
            healthy_delay=delay,
            tags=check_tags(tags),
            load_balancers=balancers,
            restart_backoff=restart_backoff,
        )
        self._services[name] = svc
        assert self._task_group is not None
        try:
            if balancers:
                await self._task_group.start(svc.run)  # returns once its listeners are bound
            else:
                self._task_group.start_soon(svc.run)
        except BaseException:
            if self._services.get(name) is svc:
                if existing is not None:
                    self._services[name] = existing
                else:
                    del self._services[name]
            raise
        return svc

    def _check_placement(
        self,
        strategies: Sequence[object] | None,
        constraints: Sequence[object] | None,
        scheduling_strategy: str,
    ) -> list[object]:
        from pyecs.placement import constraint_from, strategy_from

        out: list[object] = [strategy_from(s) for s in strategies or ()]
        if out and scheduling_strategy == "DAEMON":
            raise InvalidParameterError("a DAEMON service takes no placement_strategy")
        if len(out) > 5:
            raise InvalidParameterError(f"at most 5 placement strategies, got {len(out)}")
        checked = [constraint_from(c) for c in constraints or ()]
        if len(checked) > 10:
            raise InvalidParameterError(f"at most 10 placement constraints, got {len(checked)}")
        return out

    def _route_task(self, task: Task) -> None:
        if task.group.startswith("service:"):
            svc = self._services.get(task.group[len("service:") :])
            if svc is not None:
                svc.on_task(task)
        if task.last_status == "STOPPED":
            for svc in self._services.values():
                svc.wake()  # capacity freed: retry what could not be placed

    def service(self, name: str) -> Service:
        """The service called ``name`` (ACTIVE, DRAINING or recently INACTIVE).

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        svc = self._services.get(name)
        if svc is None:
            known = ", ".join(sorted(self._services)) or "none"
            raise ServiceNotFoundError(
                f"no service {name!r} in cluster {self.name!r} (services: {known})"
            )
        return svc

    def discover(self, name: str) -> list[Endpoint]:
        """Where the healthy tasks of service ``name`` can be reached now.

        One endpoint per healthy task that is not being stopped: for a service with a load
        balancer its container and port, otherwise every published port of the first
        essential container (``endpoint.address`` is ``"127.0.0.1:PORT"``).

        Raises:
            ServiceNotFoundError: naming the services that exist.
        """
        return endpoints(self.service(name))

    def watch_endpoints(self, name: str) -> AsyncIterator[list[Endpoint]]:
        """Yield :meth:`discover`'s answer now and each time it changes.

        ``async for eps in cluster.watch_endpoints("web-app"): ...``; ends (after an
        empty list) when the service is INACTIVE or the cluster closes.

        Raises:
            ServiceNotFoundError: naming the services that exist (on first iteration).
        """
        return watch_endpoints(cast("Cluster", self), name)

    def list_services(self) -> list[str]:
        """ARNs of the services that are ACTIVE or DRAINING."""
        return [s.arn for s in self._services.values() if s.status != "INACTIVE"]

    def describe_services(self, names: Sequence[str]) -> DescribeServicesResult:
        """Services by name or ARN; unknown ones are ``MISSING`` failures.

        Raises:
            InvalidParameterError: when ``names`` is not a list of strings.
        """
        found, failures = [], []
        for ref in check_str_list(names, "names", "service names or ARNs"):
            svc = self._services.get(ref.rsplit("/", 1)[-1])
            if svc is None:
                failures.append(TaskFailure(self._arns.service(ref.rsplit("/", 1)[-1]), "MISSING"))
            else:
                found.append(svc)
        return DescribeServicesResult(tuple(found), tuple(failures))

    async def delete_service(self, name: str, *, force: bool = False) -> Service:
        """Delete a service (see :meth:`Service.delete`)."""
        self._require_open()
        return await self.service(name).delete(force=force)

    def instances_changed(self) -> None:
        """Tell the services that capacity changed (instances added, drained...)."""
        for svc in self._services.values():
            svc.wake()
