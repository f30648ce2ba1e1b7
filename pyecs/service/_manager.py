"""Cluster methods for services (ECS CreateService, DescribeServices...) and discovery."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import anyio.abc

from pyecs._checks import check_str_list, check_tags
from pyecs.abc import Backend, ServiceFeature
from pyecs.exceptions import InvalidParameterError, ServiceNotFoundError
from pyecs.lb._config import LoadBalancer
from pyecs.models.service import DeploymentConfiguration, RestartBackoff
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._runtime import ClusterRuntime
from pyecs.runtime._tasks import DescribeServicesResult, TaskFailure
from pyecs.service._checks import check_backoff, check_count, check_daemon_config, check_grace
from pyecs.service._service import Service
from pyecs.service.features._balancing import LoadBalancing, check_load_balancers
from pyecs.service.features._discovery import (
    DiscoveryEnvironment,
    Endpoint,
    discovery_environment,
    endpoints,
    watch_endpoints,
)
from pyecs.service.features._scaling import AutoScaling

__all__ = ["CLUSTER_NAME", "ServiceManager"]

#: Cluster and service names: 1-255 letters, digits, ``-`` or ``_``.
CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class ServiceManager:
    """The services of one cluster: created, found, listed, routed to, frozen at close.

    :class:`pyecs.Cluster` owns one and delegates its service methods to it; the
    services themselves are given the cluster's :class:`ClusterRuntime`, nothing more.
    """

    def __init__(self, runtime: ClusterRuntime) -> None:
        self._runtime = runtime
        self._services: dict[str, Service] = {}
        self._by_group: dict[str, Service] = {}  # "service:<name>" -> the service, for routing
        # The services with tasks that found no instance: a STOPPED task wakes these only.
        self._starved: set[Service] = set()
        # The services created with load balancers (the discovery environment of every
        # launch is theirs: walking every service at each launch costs O(services)).
        self._balanced: list[Service] = []
        self._frozen = False
        self._task_group: anyio.abc.TaskGroup | None = None
        self._backend: Backend | None = None

    def attach(self, backend: Backend | None, task_group: anyio.abc.TaskGroup) -> None:
        """The cluster opened: its backend, and the task group services run in."""
        self._backend = backend
        self._task_group = task_group

    @property
    def is_open(self) -> bool:
        """Whether the cluster is open."""
        return self._runtime.is_open

    def all(self) -> list[Service]:
        """Every service the cluster knows (INACTIVE ones until their name is reused)."""
        return list(self._services.values())

    def is_daemon_group(self, group: str) -> bool:
        """Whether a task group is a DAEMON service's (``service:<name>``)."""
        svc = self._services.get(group[len("service:") :]) if group.startswith("service:") else None
        return svc is not None and svc.scheduling_strategy == "DAEMON"

    def freeze(self) -> None:
        """The cluster is closing: no service starts replacements from now on."""
        self._frozen = True  # nor wakes up for freed capacity (a million tasks stop now)
        for svc in self._services.values():
            svc.freeze()

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
        launch_type: str | None = None,
        capacity_provider_strategy: Sequence[object] | None = None,
        network_configuration: object = None,
    ) -> Service:
        """Create a service that keeps ``desired_count`` tasks running (ECS CreateService)."""
        self._runtime.require_open()
        if not isinstance(name, str) or not CLUSTER_NAME.match(name):
            raise InvalidParameterError(
                f"service name {name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        existing = self._services.get(name)
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameterError(
                f"service {name!r} already exists ({existing.status}) in cluster "
                f"{self._runtime.name!r}; update it, or delete it and wait until it is INACTIVE"
            )
        if scheduling_strategy not in ("REPLICA", "DAEMON"):
            raise InvalidParameterError(
                f"scheduling_strategy must be 'REPLICA' or 'DAEMON', got {scheduling_strategy!r}"
            )
        td = self._runtime.resolve(task_definition)
        check_count(desired_count, self._runtime.max_tasks_per_service)
        check_backoff(restart_backoff)
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
        check_daemon_config(scheduling_strategy, deployment_configuration)
        strategies = self._runtime.check_placement(
            placement_strategy, placement_constraints, scheduling_strategy
        )
        check_grace(health_check_grace_period)
        delay = self._runtime.task_healthy_delay if healthy_delay is None else healthy_delay
        check_grace(delay)
        balancers = check_load_balancers(load_balancers, td, name)
        choice = self._runtime.capacity.choose(launch_type, capacity_provider_strategy)
        network = self._runtime.capacity.check_network(td, choice, network_configuration)
        if scheduling_strategy == "DAEMON" and choice.uses_fargate:
            raise InvalidParameterError(
                "The DAEMON scheduling strategy is not supported with the FARGATE launch "
                "type; use REPLICA"
            )
        features: list[ServiceFeature] = [DiscoveryEnvironment(self.discovery_environment)]
        if balancers:
            features.append(LoadBalancing(balancers))
        # Last: nothing entered after it can fail and be wrapped by its task group.
        features.append(AutoScaling(self._runtime.metrics, self._runtime.clock))
        svc = Service(
            self._runtime,
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
            restart_backoff=restart_backoff,
            features=features,
            capacity=choice,
            network_configuration=network,
            starved=self._starved,
        )
        self._services[name] = svc
        self._by_group[f"service:{name}"] = svc
        if balancers:
            self._balanced.append(svc)
        svc.take_over_adopted()
        assert self._task_group is not None
        try:
            await self._task_group.start(svc.run)  # returns once its features run
        except BaseException:
            if self._services.get(name) is svc:
                if existing is not None:
                    self._services[name] = existing
                    self._by_group[f"service:{name}"] = existing
                else:
                    del self._services[name]
                    del self._by_group[f"service:{name}"]
            raise
        return svc

    def route_task(self, task: Task) -> None:
        """Hand a task snapshot to its service; a STOPPED task wakes the services that wait
        for capacity (those with tasks that found no instance)."""
        svc = self._by_group.get(task.group)
        if svc is not None:
            svc.on_task(task)
        if task.last_status == "STOPPED" and self._starved and not self._frozen:
            for svc in list(self._starved):
                svc.wake()  # capacity freed: retry what could not be placed

    def service(self, name: str) -> Service:
        """The service called ``name`` (ACTIVE, DRAINING or recently INACTIVE)."""
        svc = self._services.get(name)
        if svc is None:
            known = ", ".join(sorted(self._services)) or "none"
            raise ServiceNotFoundError(
                f"no service {name!r} in cluster {self._runtime.name!r} (services: {known})"
            )
        return svc

    def discover(self, name: str, security_groups: Sequence[str] | None = None) -> list[Endpoint]:
        """Where the healthy tasks of service ``name`` can be reached now (by a caller in
        ``security_groups``, when given)."""
        if security_groups is None:
            return endpoints(self.service(name))
        return endpoints(
            self.service(name), self._runtime.security_groups.policy, tuple(security_groups)
        )

    def watch_endpoints(self, name: str) -> AsyncIterator[list[Endpoint]]:
        """Yield :meth:`discover`'s answer now and each time it changes."""
        return watch_endpoints(self, name)

    def list_services(self) -> list[str]:
        """ARNs of the services that are ACTIVE or DRAINING."""
        return [s.arn for s in self._services.values() if s.status != "INACTIVE"]

    def describe_services(self, names: Sequence[str]) -> DescribeServicesResult:
        """Services by name or ARN; unknown ones are ``MISSING`` failures."""
        found, failures = [], []
        for ref in check_str_list(names, "names", "service names or ARNs"):
            svc = self._services.get(ref.rsplit("/", 1)[-1])
            if svc is None:
                failures.append(
                    TaskFailure(self._runtime.arns.service(ref.rsplit("/", 1)[-1]), "MISSING")
                )
            else:
                found.append(svc)
        return DescribeServicesResult(tuple(found), tuple(failures))

    async def delete_service(self, name: str, *, force: bool = False) -> Service:
        """Delete a service (see :meth:`Service.delete`)."""
        self._runtime.require_open()
        return await self.service(name).delete(force=force)

    def instances_changed(self) -> None:
        """Tell the services that capacity changed (instances added, drained...)."""
        for svc in self._services.values():
            svc.wake()

    def discovery_environment(self) -> dict[str, str]:
        """``PYECS_SERVICE_<NAME>_ADDR`` / ``_URL`` of the load-balanced services, for
        backends whose tasks share this machine's network (else empty)."""
        # Those replaced under their name (or whose creation failed) are dropped here.
        self._balanced = [s for s in self._balanced if self._services.get(s.name) is s]
        return discovery_environment(self._backend, self._balanced)
