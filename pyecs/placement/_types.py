"""The values that go into and come out of the scheduler."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "FAILURE_REASONS",
    "PlacedTask",
    "Placement",
    "PlacementFailure",
    "PlacementRequest",
    "PlacementResult",
]

#: The ``reason`` values of :class:`PlacementFailure`, as ECS RunTask reports them.
FAILURE_REASONS = (
    "RESOURCE:CPU",
    "RESOURCE:MEMORY",
    "RESOURCE:PORTS",
    "RESOURCE:PORTS_UDP",
    "ATTRIBUTE",
    "AGENT",
    "INACTIVE",
    "MISSING",
)


def _amount(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParameterError(
            f"placement request {attribute.name} must be a whole number of at least 0, "
            f"not {value!r}"
        )


def _host_ports(value: Iterable[int]) -> frozenset[int]:
    ports = frozenset(value)
    for port in ports:
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise InvalidParameterError(
                f"static host port {port!r} is not between 1 and 65535; leave dynamic host "
                "ports (hostPort 0 or unset) out of the placement request"
            )
    return ports


def _group(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(
            f"placement request group must be a non-empty string such as 'service:web' or "
            f"'family:batch', not {value!r}"
        )


@attrs.frozen
class PlacementRequest:
    """What one copy of a task needs from an instance.

    Attributes:
        group: The task group: ``service:<name>`` for service tasks, ``family:<family>``
            (or the user's ``group``) for standalone ones. Spread strategies balance it,
            ``distinctInstance`` keeps its tasks apart and ``task:group`` queries see it.
        cpu: CPU units to reserve (task-level cpu, else the sum of the containers').
        memory: MiB to reserve: task-level memory, else per container ``memoryReservation``
            when set, else ``memory``, summed.
        tcp_ports: Static TCP host ports; dynamic host ports (0 or unset) do not count.
        udp_ports: Static UDP host ports.
    """

    group: str = attrs.field(validator=_group)
    cpu: int = attrs.field(default=0, validator=_amount)
    memory: int = attrs.field(default=0, validator=_amount)
    tcp_ports: frozenset[int] = attrs.field(default=frozenset(), converter=_host_ports)
    udp_ports: frozenset[int] = attrs.field(default=frozenset(), converter=_host_ports)


# No __weakref__ slot: one is kept per task the scheduler holds, 8 bytes each.
@attrs.frozen(weakref_slot=False)
class PlacedTask:
    """A task the scheduler has placed and not yet released.

    Attributes:
        key: The caller's key for the task (its ARN).
        instance_id: The container instance it was placed on.
        request: What it reserved there.
        sequence: Placement order in the state, for deterministic tie-breaks (newest last).
    """

    key: str
    instance_id: str
    request: PlacementRequest
    sequence: int

    @property
    def group(self) -> str:
        """The task group."""
        return self.request.group


@attrs.frozen
class Placement:
    """One copy placed: ``copy_index`` (0-based in the call) went to ``instance_id``."""

    copy_index: int
    instance_id: str
    task_key: str


_EVENT_PHRASES = {
    "RESOURCE:CPU": "has insufficient CPU units available.",
    "RESOURCE:MEMORY": "has insufficient memory available.",
    "RESOURCE:PORTS": "is already using a port required by your task.",
    "RESOURCE:PORTS_UDP": "is already using a port required by your task.",
    "ATTRIBUTE": "is missing an attribute required by your task.",
    "AGENT": 'encountered error "AGENT".',
    "INACTIVE": 'encountered error "INACTIVE".',
}


@attrs.frozen
class PlacementFailure:
    """One copy that could not be placed, with the ECS reason.

    Attributes:
        copy_index: Which copy of the call (0-based).
        reason: One of :data:`FAILURE_REASONS`: ``RESOURCE:CPU``, ``RESOURCE:MEMORY``,
            ``RESOURCE:PORTS``, ``RESOURCE:PORTS_UDP``, ``ATTRIBUTE`` (constraints),
            ``AGENT`` (agents disconnected), ``INACTIVE`` (no ACTIVE instance) or
            ``MISSING`` (no instance registered).
        detail: What was missing where, and what to do about it.
        closest_instance_id: The instance that came nearest (it passed the most checks
            and, among those, had the most of what was lacking), if any.
    """

    copy_index: int
    reason: str
    detail: str
    closest_instance_id: str | None = None

    @property
    def insufficient(self) -> str | None:
        """``CPU``, ``MEMORY``, ``PORTS`` or ``PORTS_UDP`` for resource failures, else None."""
        prefix = "RESOURCE:"
        return self.reason[len(prefix) :] if self.reason.startswith(prefix) else None

    def service_event(self, service_name: str) -> str:
        """The message a service emits for this failure, worded as ECS words it."""
        head = (
            f"(service {service_name}) was unable to place a task because no container "
            "instance met all of its requirements."
        )
        if self.reason == "MISSING" or self.closest_instance_id is None:
            return f"{head} Reason: No Container Instances were found in your cluster."
        phrase = _EVENT_PHRASES.get(self.reason, f'encountered error "{self.reason}".')
        return f"{head} The closest matching container-instance {self.closest_instance_id} {phrase}"


@attrs.frozen
class PlacementResult:
    """The outcome of one ``place`` call: what was placed and what was not.

    Attributes:
        placements: The copies placed, in copy order.
        failures: The copies not placed, in copy order; once a copy fails, every later copy
            of the same call fails the same way (the cluster did not change in between).
    """

    placements: tuple[Placement, ...] = ()
    failures: tuple[PlacementFailure, ...] = ()

    @property
    def instance_ids(self) -> list[str]:
        """The instance of every placed copy, in copy order."""
        return [p.instance_id for p in self.placements]
