"""Container instances: what a backend offers to run tasks on, as ECS describes it.

A backend describes each of its hosts with an :class:`InstanceSpec`; the cluster registers
it and from then on reports it as a :class:`ContainerInstance` snapshot, the value that ECS
``DescribeContainerInstances`` returns (with snake_case names).
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "DEFAULT_AGENT_VERSION",
    "DEFAULT_RESERVED_PORTS",
    "INSTANCE_STATUSES",
    "ContainerInstance",
    "InstanceSpec",
    "Resources",
    "container_instance_arn",
    "uniform_instances",
]

#: The ports the ECS agent reserves on every instance unless told otherwise: SSH, the
#: Docker daemon (2375, 2376) and the agent itself (51678, 51679).
DEFAULT_RESERVED_PORTS: Final = frozenset({22, 2375, 2376, 51678, 51679})
#: The container instance statuses, in lifecycle order.
INSTANCE_STATUSES: Final = ("REGISTERING", "ACTIVE", "DRAINING", "DEREGISTERING", "INACTIVE")
#: The agent version reported by instances that do not name one.
DEFAULT_AGENT_VERSION: Final = "1.82.0"


def _freeze_attributes(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(value))


def _ports(value: Iterable[int]) -> frozenset[int]:
    ports = frozenset(value)
    for port in ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidParameterError(f"port {port!r} is not a port number between 1 and 65535")
    return ports


def _groups(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _non_negative(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParameterError(
            f"{attribute.name} must be a whole number of at least 0, not {value!r}"
        )


@attrs.frozen
class Resources:
    """An amount of instance resources, as ECS ``registeredResources``/``remainingResources``.

    Attributes:
        cpu: CPU units (1,024 per vCPU).
        memory: Memory in MiB.
        ports: TCP host ports *in use*: ECS lists the reserved and taken ports rather than
            the free ones, in both the registered and the remaining resources.
        ports_udp: UDP host ports in use, the same way.
    """

    cpu: int = attrs.field(validator=_non_negative)
    memory: int = attrs.field(validator=_non_negative)
    ports: frozenset[int] = attrs.field(default=frozenset(), converter=_ports)
    ports_udp: frozenset[int] = attrs.field(default=frozenset(), converter=_ports)


def container_instance_arn(region: str, account: str, cluster: str, instance_id: str) -> str:
    """The ARN of a container instance, in the ECS long format.

    Example: ``arn:aws:ecs:us-east-1:123456789012:container-instance/default/i-0a1b``.
    """
    return f"arn:aws:ecs:{region}:{account}:container-instance/{cluster}/{instance_id}"


@attrs.frozen
class ContainerInstance:
    """A snapshot of one registered container instance (ECS ``ContainerInstance``).

    Satisfies the cluster query language's ``QueryTarget`` protocol, so a snapshot can be
    tested with :func:`pyecs.placement.query.matches`.

    Attributes:
        id: The container instance id (any string unique in the cluster).
        arn: ``arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>``.
        ec2_instance_id: The EC2-style instance id (``i-...``); the id when none was given.
        status: One of :data:`INSTANCE_STATUSES`; only ACTIVE instances take new tasks.
        agent_connected: Whether the container agent is connected; placement needs it.
        agent_version: The agent version, such as ``1.82.0``.
        registered_at: When the instance registered, timezone-aware UTC.
        attributes: Built-in (``ecs.availability-zone``, ``ecs.instance-type``...) and
            custom attributes; a value may be None (an attribute that is only a name).
        registered_resources: What the instance offers; ``ports`` are the reserved ones.
        remaining_resources: What is left; ``ports`` are the reserved and taken ones.
        running_tasks_count: Tasks in the RUNNING state on the instance.
        pending_tasks_count: Tasks placed on the instance that do not run yet.
        task_groups: The groups (``service:web``, ``family:batch``...) of those tasks.
    """

    id: str
    arn: str
    ec2_instance_id: str
    status: str
    agent_connected: bool
    agent_version: str
    registered_at: datetime.datetime
    attributes: Mapping[str, str | None] = attrs.field(converter=_freeze_attributes, hash=False)
    registered_resources: Resources
    remaining_resources: Resources
    running_tasks_count: int = 0
    pending_tasks_count: int = 0
    task_groups: frozenset[str] = attrs.field(default=frozenset(), converter=_groups)


def _spec_attributes(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    for name, attr_value in value.items():
        if not isinstance(name, str) or not name:
            raise InvalidParameterError(f"attribute name {name!r} must be a non-empty string")
        if attr_value is not None and not isinstance(attr_value, str):
            raise InvalidParameterError(
                f"attribute {name!r} has value {attr_value!r}; values are strings or None"
            )
    return _freeze_attributes(value)


@attrs.frozen
class InstanceSpec:
    """How a backend describes one of its instances, for registration with a cluster.

    Attributes:
        cpu: CPU units the instance offers (1,024 per vCPU).
        memory: Memory in MiB the instance offers to tasks.
        attributes: Instance attributes, built-in (``ecs.availability-zone``...) and custom.
        reserved_ports: TCP host ports no task may take; the ECS agent's by default.
        reserved_ports_udp: UDP host ports no task may take.
        id: The container instance id; the cluster makes one up when None.
        ec2_instance_id: The EC2-style id; the container instance id when None.
        agent_version: The version the agent reports.
        status: The status to register with; ACTIVE unless testing draining and the like.
        agent_connected: Whether the agent starts connected.
    """

    cpu: int = attrs.field(validator=_non_negative)
    memory: int = attrs.field(validator=_non_negative)
    attributes: Mapping[str, str | None] = attrs.field(
        factory=dict, converter=_spec_attributes, hash=False
    )
    reserved_ports: frozenset[int] = attrs.field(default=DEFAULT_RESERVED_PORTS, converter=_ports)
    reserved_ports_udp: frozenset[int] = attrs.field(default=frozenset(), converter=_ports)
    id: str | None = None
    ec2_instance_id: str | None = None
    agent_version: str = DEFAULT_AGENT_VERSION
    status: str = attrs.field(default="ACTIVE")
    agent_connected: bool = True

    @status.validator
    def _check_status(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in INSTANCE_STATUSES:
            raise InvalidParameterError(
                f"status {value!r} is not a container instance status; expected one of "
                + ", ".join(INSTANCE_STATUSES)
            )


def _zone_names(zones: int | Sequence[str], region: str) -> list[str]:
    if isinstance(zones, int):
        if not 1 <= zones <= len(string.ascii_lowercase):
            raise InvalidParameterError(f"zones must be between 1 and 26, not {zones}")
        return [f"{region}{letter}" for letter in string.ascii_lowercase[:zones]]
    names = list(zones)
    if not names:
        raise InvalidParameterError("zones must name at least one availability zone")
    return names


def uniform_instances(
    count: int,
    *,
    zones: int | Sequence[str] = 3,
    cpu: int = 2048,
    memory: int = 3904,
    instance_type: str = "t3.medium",
    region: str = "us-east-1",
    attributes: Mapping[str, str | None] | None = None,
    id_prefix: str = "i-",
) -> list[InstanceSpec]:
    """Specs for ``count`` identical instances spread round-robin over availability zones.

    Ids are ``<id_prefix><17 hex digits>``, numbered from 0 so that they sort in creation
    order; instance ``k`` is in zone ``k mod len(zones)``.

    Args:
        count: How many instances.
        zones: How many zones (named ``<region>a``, ``<region>b``...) or their names.
        cpu: CPU units per instance (the default is a t3.medium's 2 vCPUs).
        memory: MiB per instance available to tasks (roughly what a t3.medium, 4 GiB,
            registers once the OS and agent have their share).
        instance_type: The ``ecs.instance-type`` attribute.
        region: The region the zone names derive from.
        attributes: Extra attributes for every instance (they win over the built-ins).
        id_prefix: What every id starts with.

    Returns:
        The specs, in id order.
    """
    if count < 0:
        raise InvalidParameterError(f"count must be at least 0, not {count}")
    zone_names = _zone_names(zones, region)
    specs = []
    for index in range(count):
        built_in: dict[str, str | None] = {
            "ecs.availability-zone": zone_names[index % len(zone_names)],
            "ecs.instance-type": instance_type,
            "ecs.os-type": "linux",
            "ecs.os-family": "LINUX",
            "ecs.cpu-architecture": "x86_64",
            "ecs.ami-id": "ami-00000000000000000",
        }
        built_in.update(attributes or {})
        specs.append(
            InstanceSpec(cpu=cpu, memory=memory, attributes=built_in, id=f"{id_prefix}{index:017x}")
        )
    return specs
