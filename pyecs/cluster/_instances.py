"""Cluster methods for container instances (ECS ListContainerInstances and friends)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Literal

import attrs

from pyecs._checks import check_str_list, shown
from pyecs.exceptions import InvalidParameterError
from pyecs.models.capacity import FARGATE_PROVIDERS, PROVIDER_ATTRIBUTE
from pyecs.models.instance import ContainerInstance, InstanceSpec
from pyecs.runtime._runtime import ClusterRuntime

__all__ = ["InstanceManager"]


class InstanceManager:
    """The cluster's container instances (ECS ListContainerInstances and friends).

    :class:`pyecs.Cluster` owns one and delegates its container-instance methods to it.

    Args:
        runtime: The cluster's runtime (placement state, clock).
        on_change: Called when capacity changed (services retry what did not fit).
    """

    def __init__(self, runtime: ClusterRuntime, on_change: Callable[[], None]) -> None:
        self._runtime = runtime
        self._on_change = on_change

    def list_container_instances(
        self, *, filter: str | None = None, status: str | None = None
    ) -> list[ContainerInstance]:
        """The cluster's container instances, optionally filtered."""
        from pyecs.placement.query import parse

        expression = parse(filter) if filter is not None else None
        # A Fargate task's own capacity is not a container instance of the cluster.
        return [
            ci
            for ci in self._runtime.placement.instances()
            if ci.attributes.get(PROVIDER_ATTRIBUTE) not in FARGATE_PROVIDERS
            and (status is None or ci.status == status)
            and (expression is None or expression.evaluate(ci))
        ]

    def describe_container_instance(self, instance: str) -> ContainerInstance:
        """One container instance by id or ARN."""
        return self._runtime.placement.instance(self._instance_id(instance))

    def _instance_id(self, instance: str) -> str:
        if not isinstance(instance, str):
            raise InvalidParameterError(
                f"instance must be a container instance id or ARN (a string), got {shown(instance)}"
            )
        return instance.rsplit("/", 1)[-1] if instance.startswith("arn:") else instance

    async def register_container_instance(self, spec: InstanceSpec) -> ContainerInstance:
        """Add an instance (simulated capacity, or an engine the backend serves)."""
        self._runtime.require_open()
        ci = self._runtime.placement.add_instance(spec, registered_at=self._runtime.clock())
        self._on_change()
        return ci

    async def deregister_container_instance(
        self, instance: str, *, force: bool = False
    ) -> ContainerInstance:
        """Remove an instance. With tasks on it, ``force=True`` is needed; they keep running."""
        self._runtime.require_open()
        instance_id = self._instance_id(instance)
        ci = self._runtime.placement.instance(instance_id)
        running = self._runtime.placement.tasks_on(instance_id)
        if running and not force:
            raise InvalidParameterError(
                f"container instance {instance_id} has {len(running)} tasks; stop them "
                "first, or pass force=True to leave them running orphaned"
            )
        self._runtime.placement.remove_instance(instance_id)
        self._on_change()
        return attrs.evolve(ci, status="INACTIVE")

    async def update_container_instances_state(
        self, instances: Iterable[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> list[ContainerInstance]:
        """Set instances ACTIVE or DRAINING (DRAINING: nothing new is placed there)."""
        self._runtime.require_open()
        if status not in ("ACTIVE", "DRAINING"):
            raise InvalidParameterError(f"status must be 'ACTIVE' or 'DRAINING', got {status!r}")
        refs = check_str_list(instances, "instances", "container instance ids or ARNs")
        ids = [self._instance_id(ref) for ref in refs]
        for instance_id in ids:
            self._runtime.placement.instance(instance_id)  # unknown: raises before any change
        out = []
        for instance_id in ids:
            self._runtime.placement.set_status(instance_id, status)
            out.append(self._runtime.placement.instance(instance_id))
        self._on_change()
        return out

    async def put_attributes(
        self, instance: str, attributes: Mapping[str, str | None]
    ) -> ContainerInstance:
        """Add or change custom attributes of an instance."""
        self._runtime.require_open()
        instance_id = self._instance_id(instance)
        self._runtime.placement.put_attributes(instance_id, attributes)
        self._on_change()
        return self._runtime.placement.instance(instance_id)

    async def delete_attributes(self, instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes of an instance."""
        self._runtime.require_open()
        instance_id = self._instance_id(instance)
        keys = check_str_list(names, "names", "attribute names")
        self._runtime.placement.delete_attributes(instance_id, keys)
        self._on_change()
        return self._runtime.placement.instance(instance_id)
