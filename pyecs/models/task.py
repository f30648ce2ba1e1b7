"""Tasks and their containers as ECS describes them (``DescribeTasks``), as frozen values.

A :class:`Task` is a snapshot: the cluster replaces it with a new one (``version`` + 1) on
every change. Read the latest with ``cluster.describe_tasks`` or ``svc.tasks``.
"""

from __future__ import annotations

import datetime
from typing import Literal, get_args

import attrs

__all__ = [
    "DESIRED_STATUSES",
    "HEALTH_STATUSES",
    "STOP_CODES",
    "TASK_STATUSES",
    "AdoptableTask",
    "Container",
    "HealthStatus",
    "NetworkBinding",
    "NetworkInterface",
    "Task",
    "TaskStatus",
]

TaskStatus = Literal[
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
]
#: Task ``lastStatus`` values, in life-cycle order.
TASK_STATUSES: tuple[TaskStatus, ...] = get_args(TaskStatus)
#: Task ``desiredStatus`` values.
DESIRED_STATUSES = ("RUNNING", "STOPPED")
HealthStatus = Literal["HEALTHY", "UNHEALTHY", "UNKNOWN"]
HEALTH_STATUSES: tuple[HealthStatus, ...] = get_args(HealthStatus)
#: ECS ``stopCode`` values pyecs sets.
STOP_CODES = (
    "TaskFailedToStart",
    "EssentialContainerExited",
    "UserInitiated",
    "ServiceSchedulerInitiated",
    "SpotInterruption",
)


@attrs.frozen
class NetworkBinding:
    """A published port: ``host_port`` on ``bind_ip`` reaches ``container_port``."""

    bind_ip: str
    container_port: int
    host_port: int
    protocol: str = "tcp"


@attrs.frozen
class NetworkInterface:
    """The elastic network interface of an ``awsvpc`` task (its ECS ``attachments``).

    Attributes:
        id: The attachment id (a UUID, as ECS shows it).
        subnet_id: The subnet from the task's ``awsvpcConfiguration``.
        private_ipv4: The task's own address, once the backend reports it (Docker: the
            address of the task's network namespace); None when the backend has none.
        security_groups: The task's security groups.
    """

    id: str
    subnet_id: str
    private_ipv4: str | None = None
    security_groups: tuple[str, ...] = ()


@attrs.frozen
class Container:
    """One container of a task (ECS ``Container``)."""

    name: str
    image: str
    essential: bool = True
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None
    health_status: HealthStatus = "UNKNOWN"
    runtime_id: str | None = None
    network_bindings: tuple[NetworkBinding, ...] = ()
    has_health_check: bool = False


@attrs.frozen
class Task:
    """A snapshot of one task (ECS ``Task``), with snake_case fields.

    Attributes:
        arn: ``arn:aws:ecs:<region>:<account>:task/<cluster>/<32 hex>``.
        id: The last part of the ARN.
        group: ``family:<family>`` for standalone tasks, ``service:<name>`` for services.
        started_by: Who started it (a deployment id ``ecs-svc/...`` for service tasks).
        version: Increments on every change.
        stop_code: Why it stopped, as an ECS ``stopCode``; None while it runs.
        health_status: From the essential containers: all HEALTHY -> HEALTHY, any
            UNHEALTHY -> UNHEALTHY, else UNKNOWN.
        availability_zone: The ``ecs.availability-zone`` attribute of its container
            instance (ECS ``availabilityZone``); None when not known.
        container_instance_id: The instance it runs on; ``""`` while it waits in
            PROVISIONING for capacity. A Fargate task's capacity is its own: ECS shows no
            container instance for it, and pyecs keeps that capacity's id here.
        launch_type: ``EC2`` or ``FARGATE`` (ECS ``launchType``).
        capacity_provider_name: The capacity provider it was placed through, if any.
        platform_version: ``LATEST`` resolved (``1.4.0``) for Fargate tasks, else None.
        network_interface: The ENI of an ``awsvpc`` task started with a network
            configuration.
    """

    arn: str
    id: str
    cluster_arn: str
    task_definition_arn: str
    container_instance_id: str
    container_instance_arn: str
    group: str
    last_status: TaskStatus = "PROVISIONING"
    desired_status: Literal["RUNNING", "STOPPED"] = "RUNNING"
    started_by: str | None = None
    cpu: int = 0
    memory: int = 0
    containers: tuple[Container, ...] = ()
    created_at: datetime.datetime | None = None
    pull_started_at: datetime.datetime | None = None
    pull_stopped_at: datetime.datetime | None = None
    started_at: datetime.datetime | None = None
    stopping_at: datetime.datetime | None = None
    execution_stopped_at: datetime.datetime | None = None
    stopped_at: datetime.datetime | None = None
    version: int = 1
    stop_code: str | None = None
    stopped_reason: str | None = None
    health_status: HealthStatus = "UNKNOWN"
    tags: tuple[tuple[str, str], ...] = ()
    availability_zone: str | None = None
    launch_type: str = "EC2"
    capacity_provider_name: str | None = None
    platform_version: str | None = None
    network_interface: NetworkInterface | None = None

    def container(self, name: str) -> Container:
        """The container called ``name``.

        Raises:
            KeyError: naming the containers of the task.
        """
        for c in self.containers:
            if c.name == name:
                return c
        known = ", ".join(repr(c.name) for c in self.containers)
        raise KeyError(f"task {self.id} has no container {name!r}; it has {known}")

    def host_port(self, container: str, container_port: int, protocol: str = "tcp") -> int:
        """The host port that reaches ``container_port`` of ``container``.

        Raises:
            KeyError: when the container publishes no such port (yet).
        """
        for b in self.container(container).network_bindings:
            if b.container_port == container_port and b.protocol == protocol:
                return b.host_port
        raise KeyError(
            f"container {container!r} of task {self.id} publishes no {protocol} port "
            f"{container_port} (is the task RUNNING? is it in portMappings?)"
        )

    def endpoint(self, container: str, container_port: int, protocol: str = "tcp") -> str:
        """``"127.0.0.1:49153"``: where to reach ``container_port`` of ``container``."""
        for b in self.container(container).network_bindings:
            if b.container_port == container_port and b.protocol == protocol:
                ip = "127.0.0.1" if b.bind_ip in ("0.0.0.0", "") else b.bind_ip
                return f"{ip}:{b.host_port}"
        self.host_port(container, container_port, protocol)  # raises the KeyError
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def is_stopped(self) -> bool:
        """True once ``last_status`` is STOPPED."""
        return self.last_status == "STOPPED"


@attrs.frozen
class AdoptableTask:
    """A task that an earlier run of a cluster started, for ``Cluster(adopt=...)``.

    A state store keeps these for the RUNNING tasks of services; after a restart the
    cluster takes over the containers they still have (same ARN, RUNNING), on backends
    whose containers outlive the process. :meth:`of` makes one from a task snapshot.

    Attributes:
        arn: The task ARN (of the same cluster, region and account).
        task_definition_arn: The revision it runs.
        group: ``service:<name>`` for a service's task (the service created with that
            name takes it over), else ``family:<family>``.
        started_by: The deployment id of a service's task.
        tags: The task's tags.
        created_at: When it was created.
        started_at: When it started running.
    """

    arn: str
    task_definition_arn: str
    group: str
    started_by: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    created_at: datetime.datetime | None = None
    started_at: datetime.datetime | None = None

    @classmethod
    def of(cls, task: Task) -> AdoptableTask:
        """What a later run needs to adopt ``task``."""
        return cls(
            task.arn,
            task.task_definition_arn,
            task.group,
            task.started_by,
            task.tags,
            task.created_at,
            task.started_at,
        )
