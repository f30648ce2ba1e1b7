"""The ECS task-definition model: frozen attrs values with snake_case fields.

Every optional field is ``None`` when the source did not set it, so that a definition
written out again (:meth:`TaskDefinition.to_dict`) is exactly what was read. Effective
values that ECS derives from defaults are properties (``ContainerDefinition.is_essential``,
``PortMapping.effective_protocol``, ``TaskDefinition.effective_network_mode`` ...).

Fields that only mean something in the AWS cloud (roles, runtime platform, EFS, S3 Files
and FSx volumes, proxy configuration ...) are kept as plain JSON values so that a definition
round-trips; pyecs ignores them when it runs tasks. Their types, enum values and required
members are still checked, against botocore's ECS model.

``None`` (JSON ``null``) means unset everywhere, also inside those plain JSON values: a
``null`` member is dropped, as ECS drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from pyecs.models._codec import task_definition_codec
from pyecs.models._units import parse_cpu, parse_memory

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "Capabilities",
    "ContainerDefinition",
    "ContainerDependency",
    "DockerVolumeConfiguration",
    "EnvironmentFile",
    "HealthCheck",
    "HostEntry",
    "HostVolumeProperties",
    "Json",
    "KeyValuePair",
    "LinuxParameters",
    "LogConfiguration",
    "MountPoint",
    "PortMapping",
    "RestartPolicy",
    "Secret",
    "Tag",
    "TaskDefinition",
    "TaskDefinitionPlacementConstraint",
    "Tmpfs",
    "Ulimit",
    "Volume",
    "VolumeFrom",
]

#: A JSON value kept as it was read (cloud-only structures pyecs does not interpret).
Json: TypeAlias = Any


def _tuple_or_none(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _mapping_or_none(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def _str_or_none(value: Any) -> Any:
    # Task-level cpu/memory are strings in ECS; accept numbers as the JSON loader does.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _opt_tuple() -> Any:
    return attrs.field(default=None, converter=_tuple_or_none, kw_only=True)


def _opt_mapping() -> Any:
    return attrs.field(default=None, converter=_mapping_or_none, kw_only=True, hash=False)


def _opt() -> Any:
    return attrs.field(default=None, kw_only=True)


def without_nulls(value: Any) -> Any:
    """``value`` with every ``null`` (None) member removed, at every level.

    ECS reads a JSON ``null`` member as an absent one: the old console exported every
    unset member as ``null``. List items are kept (a ``null`` item is not an absent
    member; validation reports it); tuples become lists, as in JSON.
    """
    if isinstance(value, Mapping):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [without_nulls(v) for v in value]
    return value


def _json() -> Any:
    """A member kept as plain JSON; ``None`` members inside it are dropped (unset)."""
    return attrs.field(default=None, converter=without_nulls, kw_only=True)


@attrs.frozen
class KeyValuePair:
    """An ``environment`` entry: ``{"name": ..., "value": ...}``."""

    name: str | None = None
    value: str | None = None


@attrs.frozen
class EnvironmentFile:
    """An ``environmentFiles`` entry. Locally ``value`` is a path (or ``file://`` URL)."""

    value: str | None = None
    type: str | None = None


@attrs.frozen
class Secret:
    """A ``secrets`` entry. pyecs never prints ``value_from`` resolutions."""

    name: str | None = None
    value_from: str | None = None


@attrs.frozen
class PortMapping:
    """A ``portMappings`` entry. ``host_port`` None or 0 means a dynamic host port."""

    container_port: int | None = None
    host_port: int | None = _opt()
    protocol: str | None = _opt()
    name: str | None = _opt()
    app_protocol: str | None = _opt()
    container_port_range: str | None = _opt()

    @property
    def effective_protocol(self) -> str:
        """``tcp`` unless the mapping says ``udp``."""
        return self.protocol or "tcp"

    @property
    def is_dynamic(self) -> bool:
        """True when the host port is picked at start (omitted or 0)."""
        return not self.host_port


@attrs.frozen
class HealthCheck:
    """A container ``healthCheck``; timings are seconds. Defaults are ECS's."""

    command: tuple[str, ...] | None = _opt_tuple()
    interval: int | None = _opt()
    timeout: int | None = _opt()
    retries: int | None = _opt()
    start_period: int | None = _opt()

    @property
    def effective_interval(self) -> int:
        """Seconds between checks (ECS default 30)."""
        return 30 if self.interval is None else self.interval

    @property
    def effective_timeout(self) -> int:
        """Seconds one check may take (ECS default 5)."""
        return 5 if self.timeout is None else self.timeout

    @property
    def effective_retries(self) -> int:
        """Consecutive failures that make the container UNHEALTHY (ECS default 3)."""
        return 3 if self.retries is None else self.retries

    @property
    def effective_start_period(self) -> int:
        """Seconds during which failures don't count (ECS default 0: off)."""
        return self.start_period or 0

    @property
    def is_probe(self) -> bool:
        """Whether the check runs: its command starts with ``CMD`` or ``CMD-SHELL``.

        ECS registers other commands too (``["/healthcheck"]``), but the Docker engine
        runs no probe for them ("Unknown healthcheck type"), and neither does pyecs: the
        container's health stays UNKNOWN, as without a health check.
        """
        command = self.command or ()
        return bool(command) and command[0] in ("CMD", "CMD-SHELL")


@attrs.frozen
class ContainerDependency:
    """A ``dependsOn`` entry: wait for ``container_name`` to reach ``condition``."""

    container_name: str | None = None
    condition: str | None = None


@attrs.frozen
class MountPoint:
    """A ``mountPoints`` entry."""

    source_volume: str | None = None
    container_path: str | None = None
    read_only: bool | None = _opt()


@attrs.frozen
class VolumeFrom:
    """A ``volumesFrom`` entry."""

    source_container: str | None = None
    read_only: bool | None = _opt()


@attrs.frozen
class HostVolumeProperties:
    """``volumes[].host``: a bind mount of ``source_path`` (a Docker volume if unset)."""

    source_path: str | None = None


@attrs.frozen
class DockerVolumeConfiguration:
    """``volumes[].dockerVolumeConfiguration``: a Docker named volume."""

    scope: str | None = None
    autoprovision: bool | None = _opt()
    driver: str | None = _opt()
    driver_opts: dict[str, str] | None = _opt_mapping()
    labels: dict[str, str] | None = _opt_mapping()


@attrs.frozen
class Volume:
    """A task ``volumes`` entry. EFS, S3 Files and FSx configurations are kept, not used."""

    name: str | None = None
    host: HostVolumeProperties | None = _opt()
    docker_volume_configuration: DockerVolumeConfiguration | None = _opt()
    configured_at_launch: bool | None = _opt()
    efs_volume_configuration: Json = _json()
    s3files_volume_configuration: Json = _json()
    fsx_windows_file_server_volume_configuration: Json = _json()


@attrs.frozen
class Ulimit:
    """A ``ulimits`` entry."""

    name: str | None = None
    soft_limit: int | None = None
    hard_limit: int | None = None


@attrs.frozen
class LogConfiguration:
    """A container ``logConfiguration``. Locally every driver but json-file is advisory."""

    log_driver: str | None = None
    options: dict[str, str] | None = _opt_mapping()
    secret_options: tuple[Secret, ...] | None = _opt_tuple()


@attrs.frozen
class Capabilities:
    """``linuxParameters.capabilities``: kernel capabilities to add and drop."""

    add: tuple[str, ...] | None = _opt_tuple()
    drop: tuple[str, ...] | None = _opt_tuple()


@attrs.frozen
class Tmpfs:
    """A ``linuxParameters.tmpfs`` entry; ``size`` in MiB."""

    container_path: str | None = None
    size: int | None = None
    mount_options: tuple[str, ...] | None = _opt_tuple()


@attrs.frozen
class LinuxParameters:
    """A container ``linuxParameters``."""

    capabilities: Capabilities | None = _opt()
    devices: Json = _json()
    init_process_enabled: bool | None = _opt()
    shared_memory_size: int | None = _opt()
    tmpfs: tuple[Tmpfs, ...] | None = _opt_tuple()
    max_swap: int | None = _opt()
    swappiness: int | None = _opt()


@attrs.frozen
class RestartPolicy:
    """A container ``restartPolicy``: restart in place unless the exit code is ignored."""

    enabled: bool | None = None
    ignored_exit_codes: tuple[int, ...] | None = _opt_tuple()
    restart_attempt_period: int | None = _opt()

    @property
    def effective_restart_attempt_period(self) -> int:
        """Seconds a container must have run before it may be restarted (default 300)."""
        return 300 if self.restart_attempt_period is None else self.restart_attempt_period


@attrs.frozen
class HostEntry:
    """An ``extraHosts`` entry: an ``/etc/hosts`` line."""

    hostname: str | None = None
    ip_address: str | None = None


@attrs.frozen
class TaskDefinitionPlacementConstraint:
    """A task-definition ``placementConstraints`` entry (only ``memberOf`` is allowed)."""

    type: str | None = None
    expression: str | None = _opt()


@attrs.frozen
class Tag:
    """A ``tags`` entry."""

    key: str | None = None
    value: str | None = None


@attrs.frozen
class ContainerDefinition:
    """One container of a task definition (ECS ``ContainerDefinition``)."""

    name: str | None = None
    image: str | None = None
    cpu: int | None = _opt()
    memory: int | None = _opt()
    memory_reservation: int | None = _opt()
    links: tuple[str, ...] | None = _opt_tuple()
    port_mappings: tuple[PortMapping, ...] | None = _opt_tuple()
    essential: bool | None = _opt()
    restart_policy: RestartPolicy | None = _opt()
    entry_point: tuple[str, ...] | None = _opt_tuple()
    command: tuple[str, ...] | None = _opt_tuple()
    environment: tuple[KeyValuePair, ...] | None = _opt_tuple()
    environment_files: tuple[EnvironmentFile, ...] | None = _opt_tuple()
    mount_points: tuple[MountPoint, ...] | None = _opt_tuple()
    volumes_from: tuple[VolumeFrom, ...] | None = _opt_tuple()
    linux_parameters: LinuxParameters | None = _opt()
    secrets: tuple[Secret, ...] | None = _opt_tuple()
    depends_on: tuple[ContainerDependency, ...] | None = _opt_tuple()
    start_timeout: int | None = _opt()
    stop_timeout: int | None = _opt()
    version_consistency: str | None = _opt()
    hostname: str | None = _opt()
    user: str | None = _opt()
    working_directory: str | None = _opt()
    disable_networking: bool | None = _opt()
    privileged: bool | None = _opt()
    readonly_root_filesystem: bool | None = _opt()
    dns_servers: tuple[str, ...] | None = _opt_tuple()
    dns_search_domains: tuple[str, ...] | None = _opt_tuple()
    extra_hosts: tuple[HostEntry, ...] | None = _opt_tuple()
    docker_security_options: tuple[str, ...] | None = _opt_tuple()
    interactive: bool | None = _opt()
    pseudo_terminal: bool | None = _opt()
    docker_labels: dict[str, str] | None = _opt_mapping()
    ulimits: tuple[Ulimit, ...] | None = _opt_tuple()
    log_configuration: LogConfiguration | None = _opt()
    health_check: HealthCheck | None = _opt()
    system_controls: Json = _json()
    resource_requirements: Json = _json()
    firelens_configuration: Json = _json()
    credential_specs: Json = _json()
    repository_credentials: Json = _json()

    @property
    def is_essential(self) -> bool:
        """Whether the task stops when this container stops (ECS default: true)."""
        return self.essential is not False

    @property
    def has_health_probe(self) -> bool:
        """Whether a health check runs for this container (see :attr:`HealthCheck.is_probe`)."""
        return self.health_check is not None and self.health_check.is_probe

    @property
    def reserved_memory(self) -> int:
        """MiB placement reserves for this container: memoryReservation, else memory."""
        if self.memory_reservation is not None:
            return self.memory_reservation
        return self.memory or 0

    @property
    def effective_stop_timeout(self) -> int:
        """Seconds between the stop signal and SIGKILL (ECS default 30)."""
        return 30 if self.stop_timeout is None else self.stop_timeout

    def environment_dict(self) -> dict[str, str]:
        """The ``environment`` entries as a dict (later duplicates win, as in Docker)."""
        return {kv.name: kv.value or "" for kv in self.environment or () if kv.name is not None}


@attrs.frozen
class TaskDefinition:
    """An ECS task definition.

    Load ECS JSON with :meth:`from_dict`, :meth:`from_json` or :meth:`from_file`; write it
    with :meth:`to_dict`. Constructing one in Python validates it too. The response-only
    fields (``task_definition_arn``, ``revision``, ``status`` ...) are set by the registry
    and ignored when a definition is registered.
    """

    family: str | None = None
    container_definitions: tuple[ContainerDefinition, ...] | None = _opt_tuple()
    task_role_arn: str | None = _opt()
    execution_role_arn: str | None = _opt()
    network_mode: str | None = _opt()
    volumes: tuple[Volume, ...] | None = _opt_tuple()
    placement_constraints: tuple[TaskDefinitionPlacementConstraint, ...] | None = _opt_tuple()
    requires_compatibilities: tuple[str, ...] | None = _opt_tuple()
    cpu: str | None = attrs.field(default=None, converter=_str_or_none, kw_only=True)
    memory: str | None = attrs.field(default=None, converter=_str_or_none, kw_only=True)
    tags: tuple[Tag, ...] | None = _opt_tuple()
    pid_mode: str | None = _opt()
    ipc_mode: str | None = _opt()
    proxy_configuration: Json = _json()
    inference_accelerators: Json = _json()
    ephemeral_storage: Json = _json()
    runtime_platform: Json = _json()
    enable_fault_injection: bool | None = _opt()
    trusted_execution_configuration: Json = _json()
    # Response-only fields (describe-task-definition output); set by the registry.
    task_definition_arn: str | None = _opt()
    revision: int | None = _opt()
    status: str | None = _opt()
    requires_attributes: Json = _json()
    compatibilities: Json = _json()
    registered_at: Json = _json()
    registered_by: Json = _json()
    deregistered_at: Json = _json()
    delete_requested_at: Json = _json()

    def __attrs_post_init__(self) -> None:
        task_definition_codec().validate(self)

    # -- ECS JSON at the edge ------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: object, *, source: str | None = None) -> TaskDefinition:
        """Build a task definition from ECS JSON (already parsed).

        Accepts the ``register-task-definition --cli-input-json`` shape and the output of
        ``describe-task-definition`` (with or without its ``{"taskDefinition": ...}``
        wrapper).

        Raises:
            InvalidTaskDefinitionError: listing every problem with its JSON path.
        """
        return task_definition_codec().structure(data, source=source)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str | None = None) -> TaskDefinition:
        """Parse ECS JSON text; malformed JSON is reported with its line and column."""
        return task_definition_codec().loads(text, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> TaskDefinition:
        """Read a ``task-definition.json`` file."""
        return task_definition_codec().load_file(path)

    def to_dict(self, *, include_response_fields: bool = True) -> dict[str, Any]:
        """ECS camelCase JSON of this definition; unset fields are omitted.

        Args:
            include_response_fields: Also write ``taskDefinitionArn``, ``revision``,
                ``status`` and the other describe-only fields when they are set. Pass
                False for a ``register-task-definition --cli-input-json`` request.
        """
        return task_definition_codec().unstructure(
            self, include_response_fields=include_response_fields
        )

    # -- derived values ------------------------------------------------------------------

    @property
    def containers(self) -> tuple[ContainerDefinition, ...]:
        """The container definitions (never None on a validated definition)."""
        return self.container_definitions or ()

    def container(self, name: str) -> ContainerDefinition:
        """The container definition called ``name``.

        Raises:
            KeyError: naming the containers that exist.
        """
        for c in self.containers:
            if c.name == name:
                return c
        known = ", ".join(repr(c.name) for c in self.containers)
        raise KeyError(f"no container {name!r} in task definition {self.family!r}; has {known}")

    @property
    def effective_network_mode(self) -> str:
        """``bridge`` unless the definition says otherwise (the Linux default)."""
        return self.network_mode or "bridge"

    @property
    def cpu_units(self) -> int | None:
        """Task-level CPU in units (1024 per vCPU), or None when unset."""
        return None if self.cpu is None else parse_cpu(self.cpu)

    @property
    def memory_mib(self) -> int | None:
        """Task-level memory in MiB, or None when unset."""
        return None if self.memory is None else parse_memory(self.memory)

    @property
    def reserved_cpu(self) -> int:
        """CPU units placement reserves: task-level cpu if set, else the containers' sum."""
        units = self.cpu_units
        if units is not None:
            return units
        return sum(c.cpu or 0 for c in self.containers)

    @property
    def reserved_memory(self) -> int:
        """MiB placement reserves: task-level memory if set, else the containers' sum."""
        mib = self.memory_mib
        if mib is not None:
            return mib
        return sum(c.reserved_memory for c in self.containers)

    def static_host_ports(self, protocol: str = "tcp") -> frozenset[int]:
        """The static host ports the task needs on its instance for ``protocol``."""
        ports: set[int] = set()
        host_mode = self.effective_network_mode in ("host", "awsvpc")
        for c in self.containers:
            for pm in c.port_mappings or ():
                if pm.effective_protocol != protocol:
                    continue
                if pm.host_port:
                    ports.add(pm.host_port)
                elif host_mode and pm.container_port:
                    ports.add(pm.container_port)
        return frozenset(ports)

    @property
    def ref(self) -> str:
        """``family:revision`` when registered, else the family."""
        return f"{self.family}:{self.revision}" if self.revision is not None else str(self.family)
