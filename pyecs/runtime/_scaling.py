"""ECS managed scaling of capacity providers: CapacityProviderReservation and steps.

ECS defines the metric as ``M / N * 100``, where N is the number of instances the
provider has and M the number it needs: the instances that run at least one non-daemon
task, plus, when tasks wait in PROVISIONING, the instances they need. Special cases:
N = 0 and M > 0 gives 200; M = N = 0 gives 100. Managed scaling keeps the metric at the
target capacity: it wants ``ceil(M * 100 / target)`` instances; a scale-out adds at
least ``minimum_scaling_step_size`` and at most ``maximum_scaling_step_size`` at once; a
scale-in happens only after the metric stayed low for ``scale_in_after`` seconds (ECS's
alarm wants 15 minutes of low datapoints), and removes only instances that run no
non-daemon task, draining each first (managed termination protection).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import anyio
import anyio.abc

from pyecs.models.instance import InstanceSpec
from pyecs.placement._scheduler import PlacementState
from pyecs.runtime._capacity import CapacityManager, _Provider
from pyecs.runtime._tasks import TaskManager

__all__ = ["ProviderScaler", "reservation"]

_log = logging.getLogger("pyecs.capacity")
_REMOVED = "Container instance is being removed by managed scaling"


def reservation(needed: int, have: int) -> float:
    """CapacityProviderReservation as ECS defines it, in percent."""
    if have == 0:
        return 200.0 if needed > 0 else 100.0
    return needed / have * 100.0


class ProviderScaler:
    """Measures and scales the providers of one cluster that have managed scaling.

    Args:
        capacity: The cluster's providers.
        placement: The cluster's instances.
        tasks: The cluster's tasks.
        is_daemon: Whether a task group belongs to a DAEMON service (daemon tasks do not
            make an instance needed).
    """

    def __init__(
        self,
        capacity: CapacityManager,
        placement: PlacementState,
        tasks: TaskManager,
        is_daemon: Callable[[str], bool],
    ) -> None:
        self._capacity = capacity
        self._placement = placement
        self._tasks = tasks
        self._is_daemon = is_daemon
        self._tg: anyio.abc.TaskGroup | None = None
        self._low_since: dict[str, float] = {}

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """Start a loop for every provider with managed scaling (and for later ones)."""
        self._tg = tg
        for provider in self._capacity.providers():
            if provider.scales:
                tg.start_soon(self._loop, provider)

    def started(self, provider: _Provider) -> None:
        """A provider was created while the cluster is open."""
        if self._tg is not None and provider.scales:
            self._tg.start_soon(self._loop, provider)

    def busy(self, instance_id: str) -> bool:
        """Whether the instance runs (or holds a place for) a non-daemon task."""
        for key in self._placement.tasks_on(instance_id):
            task = self._tasks.find(key)
            if task is not None and not self._is_daemon(task.group):
                return True
        return False

    def measure(self, name: str) -> tuple[int, int]:
        """``(M, N)`` of a provider: instances needed and instances it has."""
        ids = self._capacity.instance_ids(name)
        have = len(ids)
        needed = sum(1 for i in ids if self.busy(i))
        held = self._tasks.held(name)
        if held:
            needed = have + self._extra_for(name, ids, held_arns=[t.arn for t in held])
        return needed, have

    def _extra_for(self, name: str, ids: list[str], held_arns: list[str]) -> int:
        """Instances the waiting tasks need, by the size of the provider's instances."""
        template = self._capacity.get(name).template
        cpu = template.cpu if template else None
        memory = template.memory if template else None
        for i in ids:
            ci = self._placement.instance(i)
            cpu, memory = ci.registered_resources.cpu, ci.registered_resources.memory
            break
        if not cpu or not memory:
            return 1
        want_cpu = sum(self._tasks.held_request(a).cpu for a in held_arns)
        want_memory = sum(self._tasks.held_request(a).memory for a in held_arns)
        return max(1, math.ceil(want_cpu / cpu), math.ceil(want_memory / memory))

    def reservation(self, name: str) -> float:
        """The provider's CapacityProviderReservation now, in percent."""
        return reservation(*self.measure(name))

    async def _loop(self, provider: _Provider) -> None:
        while True:
            try:
                await self.step(provider)
            except Exception:  # a failing instance provider must not end the cluster
                _log.exception("capacity provider %s: a scaling step failed", provider.name)
            await anyio.sleep(provider.scaling_interval)

    async def step(self, provider: _Provider) -> None:
        """One look at the metric, and the scaling it calls for."""
        assert provider.managed_scaling is not None and provider.instance_provider is not None
        scaling = provider.managed_scaling
        needed, have = self.measure(provider.name)
        want = math.ceil(needed * 100 / scaling.target_capacity)
        now = anyio.current_time()
        if want > have:
            self._low_since.pop(provider.name, None)
            add = min(
                max(want - have, scaling.minimum_scaling_step_size),
                scaling.maximum_scaling_step_size,
            )
            specs = await provider.instance_provider.add_instances(provider.name, add)
            for spec in specs:
                self._register(provider, spec)
            self._capacity.place_held(provider.name)
            self._capacity.on_change()
            return
        if want >= have:
            self._low_since.pop(provider.name, None)
            return
        since = self._low_since.setdefault(provider.name, now)
        if now - since < provider.scale_in_after:
            return
        idle = [i for i in self._capacity.instance_ids(provider.name) if not self.busy(i)]
        victims = idle[: min(have - want, scaling.maximum_scaling_step_size)]
        if not victims:
            return
        # Managed termination protection: drain first, so nothing new lands there, and
        # remove only what still runs no non-daemon task.
        for instance_id in victims:
            self._placement.set_status(instance_id, "DRAINING")
        self._capacity.on_change()
        await anyio.lowlevel.checkpoint()
        gone = [i for i in victims if not self.busy(i)]
        for instance_id in set(victims) - set(gone):
            self._placement.set_status(instance_id, "ACTIVE")
        for instance_id in gone:
            for key in self._placement.tasks_on(instance_id):  # daemon tasks end with it
                self._tasks.stop(
                    key,
                    "ServiceSchedulerInitiated",
                    "Container instance is being removed by managed scaling",
                )
            self._placement.remove_instance(instance_id)
            if instance_id in provider.added:
                provider.added.remove(instance_id)
        if gone:
            await provider.instance_provider.remove_instances(provider.name, gone)
            self._low_since.pop(provider.name, None)
            self._capacity.on_change()

    def _register(self, provider: _Provider, spec: InstanceSpec) -> None:
        spec = self._capacity.instance_spec(spec, provider.name)
        ci = self._placement.add_instance(spec)
        provider.added.append(ci.id)
        provider.template = spec

    async def aclose(self) -> None:
        """Give back every instance managed scaling added (the cluster is closing)."""
        for provider in self._capacity.providers():
            if not provider.added or provider.instance_provider is None:
                continue
            ids, provider.added = list(provider.added), []
            for instance_id in ids:
                if instance_id in self._placement:
                    self._placement.remove_instance(instance_id)
            try:
                await provider.instance_provider.remove_instances(provider.name, ids)
            except Exception:
                _log.exception("capacity provider %s: removing instances failed", provider.name)
