"""Why a copy could not be placed, in ECS terms, and which instance came closest.

The checks run in the scheduler's order over every registered instance: ACTIVE, agent
connected, CPU, memory, TCP ports, UDP ports, then each constraint. The first check that
leaves no instance standing gives the ECS reason; the closest instance is the one, among
those that passed every earlier check, with the most of what the failing check wanted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import attrs

from pyecs.placement._node import InstanceNode
from pyecs.placement._protocols import PlacementConstraint
from pyecs.placement._types import PlacementRequest

__all__ = ["Diagnosis", "diagnose"]


@attrs.frozen
class Diagnosis:
    """The reason, the detail and the closest instance of a failed placement."""

    reason: str
    detail: str
    closest: str | None


def _ports(ports: frozenset[int]) -> str:
    shown = sorted(ports)
    return ", ".join(map(str, shown))


def _port_check(
    nodes: list[InstanceNode], wanted: frozenset[int], udp: bool
) -> tuple[list[InstanceNode], Diagnosis | None]:
    if not wanted:
        return nodes, None

    def used(node: InstanceNode) -> frozenset[int]:
        return node.used_udp_ports if udp else node.used_tcp_ports

    free = [n for n in nodes if wanted.isdisjoint(used(n))]
    if free:
        return free, None
    closest = min(nodes, key=lambda n: (len(wanted & used(n)), n.id))
    proto = "UDP" if udp else "TCP"
    plural = "s" if len(wanted) > 1 else ""
    taken = wanted & used(closest)
    return [], Diagnosis(
        "RESOURCE:PORTS_UDP" if udp else "RESOURCE:PORTS",
        f"no container instance has {proto} host port{plural} {_ports(wanted)} free (closest: "
        f"{closest.id}, where {_ports(frozenset(taken))} "
        f"{'is' if len(taken) == 1 else 'are'} taken); use a dynamic host port (hostPort 0 "
        "or unset) or add an instance",
        closest.id,
    )


def diagnose(
    nodes: Sequence[InstanceNode],
    request: PlacementRequest,
    constraints: Sequence[tuple[PlacementConstraint, Callable[[InstanceNode], bool]]],
) -> Diagnosis:
    """Explain why no instance among ``nodes`` (every registered one) may take ``request``.

    Args:
        nodes: Every registered instance, in id order.
        request: What the copy needs.
        constraints: Each constraint with the check the selector applied for it.
    """
    if not nodes:
        return Diagnosis(
            "MISSING",
            "no container instance is registered in the cluster; register one (a backend "
            "adds its instances) and try again",
            None,
        )
    active = [n for n in nodes if n.status == "ACTIVE"]
    if not active:
        statuses = Counter(n.status for n in nodes)
        listed = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
        return Diagnosis(
            "INACTIVE",
            f"no container instance is ACTIVE ({listed}); only ACTIVE instances take new "
            "tasks: activate one or register another",
            nodes[0].id,
        )
    connected = [n for n in active if n.agent_connected]
    if not connected:
        return Diagnosis(
            "AGENT",
            f"the container agent is disconnected on every ACTIVE instance (closest: "
            f"{active[0].id}); reconnect an agent or add an instance",
            active[0].id,
        )
    cpu_ok = [n for n in connected if n.remaining_cpu >= request.cpu]
    if not cpu_ok:
        best = min(connected, key=lambda n: (-n.remaining_cpu, n.id))
        return Diagnosis(
            "RESOURCE:CPU",
            f"no container instance has {request.cpu} CPU units free (closest: {best.id} with "
            f"{max(0, best.remaining_cpu)} CPU units free); lower cpu or add an instance",
            best.id,
        )
    memory_ok = [n for n in cpu_ok if n.remaining_memory >= request.memory]
    if not memory_ok:
        best = min(cpu_ok, key=lambda n: (-n.remaining_memory, n.id))
        return Diagnosis(
            "RESOURCE:MEMORY",
            f"no container instance has {request.memory} MiB free (closest: {best.id} with "
            f"{max(0, best.remaining_memory)} MiB free); lower memory or add an instance",
            best.id,
        )
    remaining, found = _port_check(memory_ok, request.tcp_ports, udp=False)
    if found is None:
        remaining, found = _port_check(remaining, request.udp_ports, udp=True)
    if found is not None:
        return found
    for constraint, check in constraints:
        allowed = [n for n in remaining if check(n)]
        if not allowed:
            closest = remaining[0]
            if str(constraint) == "distinctInstance":
                what = (
                    f"distinctInstance: every instance with room already has a task of group "
                    f"{request.group}"
                )
            else:
                what = f"the placement constraint {constraint}"
            return Diagnosis(
                "ATTRIBUTE",
                f"no container instance with room for the task meets {what} (closest: "
                f"{closest.id}, which has the resources); relax the constraint or add an "
                "instance that meets it",
                closest.id,
            )
        remaining = allowed
    return Diagnosis(  # only reachable with a user constraint that changed its mind
        "ATTRIBUTE",
        f"no container instance was chosen although {remaining[0].id} seems to fit; a "
        "placement constraint answers differently from call to call",
        remaining[0].id,
    )
