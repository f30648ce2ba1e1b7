"""Cluster methods for container instances (ECS ListContainerInstances and friends)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import attrs

from pyecs._checks import check_str_list, shown
from pyecs.exceptions import InvalidParameterError
from pyecs.models.instance import ContainerInstance, InstanceSpec
from pyecs.placement._scheduler import PlacementState

__all__ = ["ContainerInstancesMixin"]


class ContainerInstancesMixin:
    """The container-instance half of :class:`pyecs.Cluster`."""

    if TYPE_CHECKING:  # provided by Cluster and ServicesMixin
        _clock: Callable[[], datetime.datetime]
        _placement: PlacementState

        def _require_open(self) -> None: ...

        def instances_changed(self) -> None: ...

    def list_container_instances(
        self, *, filter: str | None = None, status: str | None = None
    ) -> list[ContainerInstance]:
        """The cluster's container instances, optionally filtered.

        Args:
            filter: A cluster query language expression, such as
                ``attribute:ecs.availability-zone == us-east-1a``.
            status: Only instances with this status (ACTIVE, DRAINING...).

        Raises:
            QuerySyntaxError: pointing at the column of a malformed ``filter``.
        """
        from pyecs.placement.query import parse

        expression = parse(filter) if filter is not None else None
        return [
            ci
            for ci in self._placement.instances()
            if (status is None or ci.status == status)
            and (expression is None or expression.evaluate(ci))
        ]

    def describe_container_instance(self, instance: str) -> ContainerInstance:
        """One container instance by id or ARN."""
        return self._placement.instance(self._instance_id(instance))

    def _instance_id(self, instance: str) -> str:
        if not isinstance(instance, str):
            raise InvalidParameterError(
                f"instance must be a container instance id or ARN (a string), got {shown(instance)}"
            )
        return instance.rsplit("/", 1)[-1] if instance.startswith("arn:") else instance

    async def register_container_instance(self, spec: InstanceSpec) -> ContainerInstance:
        """Add an instance (simulated capacity, or an engine the backend serves)."""
        self._require_open()
        ci = self._placement.add_instance(spec, registered_at=self._clock())
        self.instances_changed()
        return ci

    async def deregister_container_instance(
        self, instance: str, *, force: bool = False
    ) -> ContainerInstance:
        """Remove an instance. With tasks on it, ``force=True`` is needed; they keep running.

        Raises:
            InvalidParameterError: when tasks run on it and ``force`` is False.
        """
        self._require_open()
        instance_id = self._instance_id(instance)
        ci = self._placement.instance(instance_id)
        if self._placement.tasks_on(instance_id) and not force:
            raise InvalidParameterError(
                f"container instance {instance_id} has {len(self._placement.tasks_on(instance_id))}"
                " tasks; stop them first, or pass force=True to leave them running orphaned"
            )
        self._placement.remove_instance(instance_id)
        self.instances_changed()
        return attrs.evolve(ci, status="INACTIVE")

    async def update_container_instances_state(
        self, instances: Iterable[str], status: Literal["ACTIVE", "DRAINING"]
    ) -> list[ContainerInstance]:
        """Set instances ACTIVE or DRAINING (DRAINING: nothing new is placed there).

        Every instance is looked up before any changes, so a bad one changes nothing.

        Raises:
            InvalidParameterError: a bad status, or ``instances`` not a list of strings.
        """
        self._require_open()
        if status not in ("ACTIVE", "DRAINING"):
            raise InvalidParameterError(f"status must be 'ACTIVE' or 'DRAINING', got {status!r}")
        refs = check_str_list(instances, "instances", "container instance ids or ARNs")
        ids = [self._instance_id(ref) for ref in refs]
        for instance_id in ids:
            self._placement.instance(instance_id)  # unknown: raises before any change
        out = []
        for instance_id in ids:
            self._placement.set_status(instance_id, status)
            out.append(self._placement.instance(instance_id))
        self.instances_changed()
        return out

    async def put_attributes(
        self, instance: str, attributes: Mapping[str, str | None]
    ) -> ContainerInstance:
        """Add or change custom attributes of an instance."""
        self._require_open()
        instance_id = self._instance_id(instance)
        self._placement.put_attributes(instance_id, attributes)
        self.instances_changed()
        return self._placement.instance(instance_id)

    async def delete_attributes(self, instance: str, names: Iterable[str]) -> ContainerInstance:
        """Remove attributes of an instance."""
        self._require_open()
        instance_id = self._instance_id(instance)
        keys = check_str_list(names, "names", "attribute names")
        self._placement.delete_attributes(instance_id, keys)
        self.instances_changed()
        return self._placement.instance(instance_id)
