"""ECS container definitions as Docker create arguments (pure functions, no I/O).

:func:`create_args` maps one :class:`~pyecs.models.task_definition.ContainerDefinition`
onto the keyword arguments of the docker SDK's ``APIClient.create_container`` and
``create_host_config``; :class:`TaskPlan` holds what the containers of a task share
(network, volumes, aliases). docs/docker-backend.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import attrs
import docker.types

from pyecs.backends._shared import LABEL_DNS
from pyecs.models.task import NetworkBinding
from pyecs.models.task_definition import ContainerDefinition, HealthCheck, TaskDefinition

__all__ = [
    "LOCAL_LOG_DRIVERS",
    "OOM_REASON",
    "CreateArgs",
    "TaskPlan",
    "VolumeSource",
    "cluster_network_name",
    "create_args",
    "host_bindings",
    "joins_cluster_network",
    "network_aliases",
    "resource_prefix",
    "service_aliases",
]

#: The ECS container ``reason`` of a container the memory limit killed.
OOM_REASON: Final = "OutOfMemoryError: Container killed due to memory usage"
#: Log drivers that work without a remote service; others need ``log_drivers=``.
LOCAL_LOG_DRIVERS: Final = frozenset({"json-file", "local", "journald", "syslog", "none"})
_MIB: Final = 1024 * 1024
_NS: Final = 1_000_000_000


def resource_prefix(cluster: str, task_id: str) -> str:
    """``pyecs-<cluster>-<task id[:12]>``: the start of every Docker name of a task."""
    return f"pyecs-{cluster[:64]}-{task_id[:12]}"


def cluster_network_name(cluster: str) -> str:
    """``pyecs-<cluster>``: the network the cluster's bridge and awsvpc tasks share on an
    engine, on which service tasks answer to their service's name."""
    return f"pyecs-{cluster[:64]}"


@attrs.frozen
class VolumeSource:
    """What a task ``volumes`` entry is on the engine: a host path or a Docker volume."""

    kind: Literal["bind", "volume"]
    source: str


@attrs.frozen
class TaskPlan:
    """What the containers of one task share on its engine.

    Attributes:
        network_mode: The task's ECS network mode (bridge, host, none, awsvpc).
        docker_network: ``HostConfig.NetworkMode``: the per-task network (several
            containers), the cluster network (one container), ``host`` or ``none``.
        task_network: The per-task network pyecs creates, if any.
        aliases: Per container, the names it answers to on the task network.
        volumes: Per task volume name, its source on the engine.
        cluster_network: The cluster's network that the containers join (bridge and
            awsvpc tasks), once the cluster has one on the engine: a task alone there
            starts without it (see ``ClusterNetworks``) and is connected later.
        service_aliases: Per container, the names it answers to on the cluster network
            (the service name, for the containers of a service task that callers mean).
    """

    network_mode: str
    docker_network: str
    task_network: str | None
    aliases: Mapping[str, tuple[str, ...]]
    volumes: Mapping[str, VolumeSource] = attrs.field(factory=dict)
    cluster_network: str | None = None
    service_aliases: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    @property
    def named(self) -> bool:
        """Other tasks find this one by name (a service's task) or by its own address
        (awsvpc): it needs the cluster network as soon as another task is there."""
        return bool(self.service_aliases) or self.network_mode == "awsvpc"


def network_aliases(td: TaskDefinition) -> dict[str, tuple[str, ...]]:
    """Each container's name, plus the aliases ``links`` (``name:alias``) give it."""
    aliases: dict[str, list[str]] = {str(c.name): [str(c.name)] for c in td.containers}
    for c in td.containers:
        for link in c.links or ():
            target, _, alias = link.partition(":")
            if target in aliases and alias and alias not in aliases[target]:
                aliases[target].append(alias)
    return {name: tuple(names) for name, names in aliases.items()}


def service_aliases(td: TaskDefinition, service: str | None) -> dict[str, tuple[str, ...]]:
    """Which containers of a task of ``service`` answer to the service name.

    The essential containers that have ``portMappings`` (those a caller of the service
    means); when no essential container has any, every essential container. Nothing for a
    task that is not a service's.
    """
    if not service:
        return {}
    essential = [c for c in td.containers if c.is_essential]
    serving = [c for c in essential if c.port_mappings] or essential
    return {str(c.name): (service,) for c in serving}


def plan_network(
    td: TaskDefinition, prefix: str, cluster_network: str | None
) -> tuple[str, str, str | None]:
    """``(network_mode, docker_network, task_network)`` for a task.

    bridge and awsvpc tasks of several containers get a network of their own, so that
    they reach each other by container name without clashing with other tasks (they join
    the cluster network too); a task of one container joins only the cluster network
    (Docker has room for about 30 user-defined networks per engine with its default
    address pools). ``cluster_network`` is the cluster network's name or id (None: Docker's
    default ``bridge``).
    """
    mode = td.effective_network_mode
    if mode in ("host", "none"):
        return mode, mode, None
    if len(td.containers) > 1:
        return mode, prefix, prefix
    return mode, cluster_network or "bridge", None


def _healthcheck(hc: HealthCheck | None) -> dict[str, Any]:
    if hc is None:
        # Only task-definition checks count: switch off the image's own HEALTHCHECK.
        return {"test": ["NONE"]}
    return {
        "test": list(hc.command or ()),
        "interval": hc.effective_interval * _NS,
        "timeout": hc.effective_timeout * _NS,
        "retries": hc.effective_retries,
        "start_period": hc.effective_start_period * _NS,
    }


def _ports(
    c: ContainerDefinition, mode: str, bind_ip: str
) -> tuple[list[int | tuple[int, str]], dict[str, tuple[str, int | None]]]:
    exposed: list[int | tuple[int, str]] = []
    bindings: dict[str, tuple[str, int | None]] = {}
    if mode in ("host", "none"):
        return exposed, bindings
    for pm in c.port_mappings or ():
        proto = pm.effective_protocol
        ports: list[tuple[int, int | None]]
        if pm.container_port_range:
            low, _, high = pm.container_port_range.partition("-")
            ports = [(p, None) for p in range(int(low), int(high or low) + 1)]
        elif pm.container_port is not None:
            host: int | None = pm.host_port or None
            if mode == "awsvpc":
                host = pm.container_port
            ports = [(pm.container_port, host)]
        else:
            continue
        for container_port, host_port in ports:
            exposed.append((container_port, proto))
            bindings[f"{container_port}/{proto}"] = (bind_ip, host_port)
    return exposed, bindings


def _devices(devices: Any) -> list[str]:
    out = []
    for d in devices or ():
        host = d.get("hostPath") or d.get("host_path")
        inside = d.get("containerPath") or d.get("container_path") or host
        perms = d.get("permissions") or ["read", "write", "mknod"]
        flags = "".join(f for f, p in (("r", "read"), ("w", "write"), ("m", "mknod")) if p in perms)
        out.append(f"{host}:{inside}:{flags}")
    return out


def _log_config(
    c: ContainerDefinition, supported: frozenset[str], allowed: frozenset[str]
) -> docker.types.LogConfig | None:
    lc = c.log_configuration
    driver = lc.log_driver if lc is not None else None
    if lc is None or not driver:
        return None
    if driver not in supported or driver not in (LOCAL_LOG_DRIVERS | allowed):
        # awslogs, splunk, firelens...: would need the remote service. Docker's default.
        return None
    return docker.types.LogConfig(type=driver, config=dict(lc.options or {}))


def host_bindings(c: ContainerDefinition, plan: TaskPlan, bind_ip: str) -> list[NetworkBinding]:
    """In host mode, each container port is the host port (nothing to read back)."""
    if plan.network_mode != "host":
        return []
    return [
        NetworkBinding(bind_ip, pm.container_port, pm.container_port, pm.effective_protocol)
        for pm in c.port_mappings or ()
        if pm.container_port is not None
    ]


@attrs.frozen
class CreateArgs:
    """Arguments for ``create_container`` (``config``), ``create_host_config`` (``host``)."""

    config: dict[str, Any]
    host: dict[str, Any]
    network: str
    aliases: tuple[str, ...]
    #: Further networks to connect the container to before it starts, with its aliases there.
    connect: tuple[tuple[str, tuple[str, ...]], ...] = ()


def create_args(
    c: ContainerDefinition,
    td: TaskDefinition,
    plan: TaskPlan,
    *,
    name: str,
    labels: Mapping[str, str],
    bind_ip: str,
    environment: Mapping[str, str],
    volumes_from: Iterable[str],
    log_drivers_supported: frozenset[str],
    log_drivers_allowed: frozenset[str],
    fargate: bool = False,
) -> CreateArgs:
    """Map one container definition onto Docker create arguments.

    A Fargate task's size caps each of its containers: the memory limit is the task's
    memory (or the container's own, if smaller) and the CPU quota the task's vCPUs.

    ``environment`` is the container's, resolved already
    (:func:`pyecs.backends._shared.resolve_environment`).
    """
    mode = plan.network_mode
    exposed, bindings = _ports(c, mode, bind_ip)
    memory = c.memory
    task_memory = td.memory_mib
    if memory is None and task_memory and (c.memory_reservation or 0) < task_memory:
        memory = task_memory  # the task's limit, applied to each container on its own
    config: dict[str, Any] = {
        "image": c.image,
        "command": list(c.command) if c.command is not None else None,
        "entrypoint": list(c.entry_point) if c.entry_point is not None else None,
        "environment": dict(environment) or None,
        "working_dir": c.working_directory,
        "user": c.user,
        "labels": dict(labels),
        "ports": exposed or None,
        "healthcheck": _healthcheck(c.health_check),
        "stop_timeout": c.effective_stop_timeout,
        "stdin_open": bool(c.interactive),
        "tty": bool(c.pseudo_terminal),
        "network_disabled": bool(c.disable_networking),
        "hostname": c.hostname if mode in ("bridge", "none") else None,
        "detach": True,
        "name": name,
    }
    binds = []
    for mp in c.mount_points or ():
        source = plan.volumes[str(mp.source_volume)].source
        binds.append(f"{source}:{mp.container_path}:{'ro' if mp.read_only else 'rw'}")
    lp = c.linux_parameters
    host: dict[str, Any] = {
        "network_mode": plan.docker_network,
        "port_bindings": bindings or None,
        "binds": binds or None,
        "volumes_from": list(volumes_from) or None,
        "cpu_shares": c.cpu if c.cpu is not None and c.cpu >= 2 else 2,
        "mem_limit": memory * _MIB if memory else None,
        "mem_reservation": c.memory_reservation * _MIB if c.memory_reservation else None,
        "ulimits": [
            docker.types.Ulimit(
                name=str(u.name), soft=int(u.soft_limit or 0), hard=int(u.hard_limit or 0)
            )
            for u in c.ulimits or ()
        ]
        or None,
        "log_config": _log_config(c, log_drivers_supported, log_drivers_allowed),
        "read_only": True if c.readonly_root_filesystem else None,
        "extra_hosts": {h.hostname: h.ip_address for h in c.extra_hosts or ()} or None,
        "dns": list(c.dns_servers or ()) or None,
        "dns_search": list(c.dns_search_domains or ()) or None,
        "security_opt": list(c.docker_security_options or ()) or None,
        "sysctls": {s["namespace"]: s["value"] for s in c.system_controls or ()} or None,
    }
    if fargate and td.memory_mib and td.cpu_units:
        host["mem_limit"] = min(memory, td.memory_mib) * _MIB if memory else td.memory_mib * _MIB
        host["nano_cpus"] = td.cpu_units * 1_000_000_000 // 1024
    if c.privileged:
        host["privileged"] = True
    if td.pid_mode == "host":
        host["pid_mode"] = "host"
    if td.ipc_mode in ("host", "none"):
        host["ipc_mode"] = td.ipc_mode
    if lp is not None:
        caps = lp.capabilities
        host.update(
            init=True if lp.init_process_enabled else None,
            cap_add=list(caps.add or ()) or None if caps else None,
            cap_drop=list(caps.drop or ()) or None if caps else None,
            shm_size=lp.shared_memory_size * _MIB if lp.shared_memory_size else None,
            tmpfs={
                str(t.container_path): ",".join([f"size={t.size}m", *(t.mount_options or ())])
                for t in lp.tmpfs or ()
            }
            or None,
            devices=_devices(lp.devices) or None,
            mem_swappiness=lp.swappiness,
        )
        if lp.max_swap is not None and memory:
            host["memswap_limit"] = (memory + lp.max_swap) * _MIB
    aliases, connect = _networks(c, plan)
    if joins_cluster_network(c, plan):
        config["labels"][LABEL_DNS] = ",".join(plan.service_aliases.get(str(c.name), ()))
    return CreateArgs(
        config={k: v for k, v in config.items() if v is not None},
        host={k: v for k, v in host.items() if v is not None},
        network=plan.docker_network,
        aliases=aliases,
        connect=connect,
    )


def joins_cluster_network(c: ContainerDefinition, plan: TaskPlan) -> bool:
    """Whether the container belongs on the cluster network (bridge or awsvpc, networked)."""
    return plan.network_mode in ("bridge", "awsvpc") and not c.disable_networking


def _networks(
    c: ContainerDefinition, plan: TaskPlan
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    """The container's aliases on its first network, and the networks it joins besides."""
    name = str(c.name)
    service = plan.service_aliases.get(name, ())
    if plan.task_network is not None:
        connect: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if plan.cluster_network is not None and not c.disable_networking:
            connect = ((plan.cluster_network, service),)
        return plan.aliases.get(name, ()), connect
    if plan.cluster_network is not None and plan.docker_network == plan.cluster_network:
        return service, ()
    return (), ()
