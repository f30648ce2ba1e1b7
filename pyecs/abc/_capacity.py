"""The instance-provider seam: what a capacity provider with managed scaling calls.

ECS managed scaling changes the desired size of an Auto Scaling group; the group starts
or terminates EC2 instances, which register with (or leave) the cluster. pyecs asks an
:class:`InstanceProvider` instead: add this many instances, remove these ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pyecs.models.instance import InstanceSpec

__all__ = ["InstanceProvider"]


@runtime_checkable
class InstanceProvider(Protocol):
    """Adds and removes the container instances of one capacity provider.

    The cluster registers what :meth:`add_instances` returns into the provider, and
    calls :meth:`remove_instances` only with instances it has already deregistered (and,
    under managed termination protection, that run no non-daemon task).
    """

    async def add_instances(self, provider: str, count: int) -> Sequence[InstanceSpec]:
        """Start ``count`` instances for ``provider``; return their specs (ids unique)."""
        ...

    async def remove_instances(self, provider: str, instance_ids: Sequence[str]) -> None:
        """Stop these instances of ``provider`` (already deregistered from the cluster)."""
        ...
