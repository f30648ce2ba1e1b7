"""Service discovery: where a service's healthy tasks can be reached, now and as it changes.

``cluster.discover("web-app")`` answers with one :class:`Endpoint` per healthy task (for a
service with a load balancer: its container and port; otherwise every published port of
the first essential container). ``cluster.watch_endpoints("web-app")`` yields that list
each time it changes.

Tasks find each other in two ways: on Docker, by the service name (a network alias on the
cluster's network, which the engine's DNS resolves to the task addresses); on backends whose
tasks share this machine's loopback (``process``), through environment variables naming
the load balancers of the cluster's services, set when a service task is launched:
``PYECS_SERVICE_<NAME>_ADDR=127.0.0.1:PORT`` and ``PYECS_SERVICE_<NAME>_URL=http://...``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from pyecs.abc import Backend, ServiceFeature
from pyecs.models.security_group import SecurityPolicy
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._overrides import apply_overrides

if TYPE_CHECKING:
    from pyecs.service._manager import ServiceManager
    from pyecs.service._service import Service

__all__ = [
    "DiscoveryEnvironment",
    "Endpoint",
    "discovery_environment",
    "endpoints",
    "env_name",
    "watch_endpoints",
    "with_discovery_environment",
]


@attrs.frozen
class Endpoint:
    """One reachable port of one healthy task of a service.

    Attributes:
        service: The service name.
        task_arn: The task.
        container_name: The container that publishes the port.
        container_port: The port inside the container.
        host: The address to connect to (``127.0.0.1`` for published ports).
        port: The host port.
    """

    service: str
    task_arn: str
    task_id: str
    container_name: str
    container_port: int
    host: str
    port: int

    @property
    def address(self) -> str:
        """``"host:port"``."""
        return f"{self.host}:{self.port}"


def endpoints(
    svc: Service, policy: SecurityPolicy | None = None, caller_groups: Sequence[str] = ()
) -> list[Endpoint]:
    """The endpoints of ``svc``'s healthy tasks that are not being stopped, oldest first.

    With a ``policy``, only those whose task's security groups admit a caller in
    ``caller_groups`` (tcp, the container port): discovery hands out no endpoint that the
    caller's connection would be refused at.
    """
    snap = svc.snapshot()
    balancers = svc.load_balancers
    out = []
    for task in snap.tasks:
        if task.desired_status != "RUNNING" or not snap.is_healthy(task):
            continue
        if balancers:
            ports = [(balancers[0].config.container_name, balancers[0].config.container_port)]
        else:
            essential = next((c for c in task.containers if c.essential), None)
            if essential is None:
                continue
            ports = [
                (essential.name, b.container_port)
                for b in essential.network_bindings
                if b.protocol == "tcp"
            ]
        eni = task.network_interface
        target_groups = eni.security_groups if eni is not None else ()
        for container, container_port in ports:
            if policy is not None and not policy.admits(
                target_groups, source_groups=caller_groups, port=container_port
            ):
                continue
            try:
                host, _, port = task.endpoint(container, container_port).rpartition(":")
            except KeyError:
                continue
            out.append(
                Endpoint(svc.name, task.arn, task.id, container, container_port, host, int(port))
            )
    return out


async def watch_endpoints(services: ServiceManager, name: str) -> AsyncIterator[list[Endpoint]]:
    """Yield the endpoints of service ``name`` now and after each change.

    Ends (after yielding ``[]``) when the service is INACTIVE or the cluster closes.
    """
    last: list[Endpoint] | None = None
    while True:
        svc = services.service(name)
        changed = svc.change_event  # taken before reading, so no change goes unseen
        over = svc.status == "INACTIVE" or not services.is_open
        current = [] if over else endpoints(svc)
        if current != last:
            last = current
            yield current
        if over:
            return
        await changed.wait()


def env_name(service: str) -> str:
    """``web-app`` -> ``WEB_APP``: the service name as it appears in variable names."""
    return re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def discovery_environment(backend: Backend | None, services: Sequence[Service]) -> dict[str, str]:
    """``PYECS_SERVICE_<NAME>_ADDR`` / ``_URL`` for every load-balanced service.

    Empty unless the backend's tasks share this machine's network
    (``capabilities.shares_host_network``: a listener on 127.0.0.1 is reachable from inside
    a task; Docker tasks reach services by network aliases instead).
    """
    if backend is None or not backend.capabilities.shares_host_network:
        return {}
    env = {}
    for svc in services:
        if svc.status == "INACTIVE" or not svc.load_balancers:
            continue
        lb = svc.load_balancers[0]
        if not lb.port:
            continue
        env[f"PYECS_SERVICE_{env_name(svc.name)}_ADDR"] = lb.address
        env[f"PYECS_SERVICE_{env_name(svc.name)}_URL"] = lb.url
    return env


def with_discovery_environment(td: TaskDefinition, env: Mapping[str, str]) -> TaskDefinition:
    """``td`` with ``env`` (:func:`discovery_environment`) added to each container's
    environment. A variable the task definition sets itself is left alone.
    """
    if not env:
        return td
    overrides = []
    for c in td.containers:
        own = c.environment_dict()
        extra = [{"name": k, "value": v} for k, v in sorted(env.items()) if k not in own]
        if extra:
            overrides.append({"name": str(c.name), "environment": extra})
    return apply_overrides(td, {"containerOverrides": overrides}) if overrides else td


class DiscoveryEnvironment(ServiceFeature):
    """The discovery feature: a service's new tasks get the cluster's service addresses.

    Args:
        directory: Returns the ``PYECS_SERVICE_*`` variables at the moment of a launch.
    """

    def __init__(self, directory: Callable[[], Mapping[str, str]]) -> None:
        self.directory = directory

    def prepare_launch(self, task_definition: TaskDefinition) -> TaskDefinition:
        """``task_definition`` with the current service addresses in its environment."""
        return with_discovery_environment(task_definition, self.directory())
