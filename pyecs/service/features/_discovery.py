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
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import attrs

from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._overrides import apply_overrides

if TYPE_CHECKING:
    from pyecs.cluster._cluster import Cluster
    from pyecs.service._service import Service

__all__ = [
    "Endpoint",
    "discovery_environment",
    "endpoints",
    "env_name",
    "watch_endpoints",
    "with_discovery_environment",
]

#: Backends whose tasks share this machine's loopback, so a listener on 127.0.0.1 is
#: reachable from inside a task (Docker tasks use network aliases instead).
HOST_NETWORK_BACKENDS = frozenset({"process", "simulated"})


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


def endpoints(svc: Service) -> list[Endpoint]:
    """The endpoints of ``svc``'s healthy tasks that are not being stopped, oldest first."""
    view = svc._plan_view(anyio.current_time())
    balancers = svc.load_balancers
    out = []
    for task in svc.tasks:
        if task.desired_status != "RUNNING" or not view.is_healthy(task):
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
        for container, container_port in ports:
            try:
                host, _, port = task.endpoint(container, container_port).rpartition(":")
            except KeyError:
                continue
            out.append(
                Endpoint(svc.name, task.arn, task.id, container, container_port, host, int(port))
            )
    return out


async def watch_endpoints(cluster: Cluster, name: str) -> AsyncIterator[list[Endpoint]]:
    """Yield the endpoints of service ``name`` now and after each change.

    Ends (after yielding ``[]``) when the service is INACTIVE or the cluster closes.
    """
    last: list[Endpoint] | None = None
    while True:
        svc = cluster.service(name)
        changed = svc._changed  # taken before reading, so no change goes unseen
        over = svc.status == "INACTIVE" or not cluster.is_open
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


def discovery_environment(cluster: Cluster) -> dict[str, str]:
    """``PYECS_SERVICE_<NAME>_ADDR`` / ``_URL`` for every load-balanced service.

    Empty unless the cluster's backend runs tasks on this machine's network.
    """
    backend = cluster.backend
    if backend is None or getattr(backend, "name", None) not in HOST_NETWORK_BACKENDS:
        return {}
    env = {}
    for svc in cluster._services.values():
        if svc.status == "INACTIVE" or not svc.load_balancers:
            continue
        lb = svc.load_balancers[0]
        if not lb.port:
            continue
        env[f"PYECS_SERVICE_{env_name(svc.name)}_ADDR"] = lb.address
        env[f"PYECS_SERVICE_{env_name(svc.name)}_URL"] = lb.url
    return env


def with_discovery_environment(cluster: Cluster, td: TaskDefinition) -> TaskDefinition:
    """``td`` with :func:`discovery_environment` added to each container's environment.

    A variable the task definition sets itself is left alone.
    """
    env = discovery_environment(cluster)
    if not env:
        return td
    overrides = []
    for c in td.containers:
        own = c.environment_dict()
        extra = [{"name": k, "value": v} for k, v in sorted(env.items()) if k not in own]
        if extra:
            overrides.append({"name": str(c.name), "environment": extra})
    return apply_overrides(td, {"containerOverrides": overrides}) if overrides else td
