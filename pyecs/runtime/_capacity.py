"""The cluster's capacity providers: association, strategies, Fargate, managed scaling.

One :class:`CapacityManager` per cluster. It knows the providers (``FARGATE`` and
``FARGATE_SPOT`` always exist and need only be associated), which of them the cluster
uses and its default strategy (ECS PutClusterCapacityProviders), and it launches tasks
through a strategy: the split over providers (``pyecs.placement._capacity``), placement
restricted to each provider's instances, a capacity of its own for each Fargate task,
PROVISIONING for tasks whose provider scales out for them. Scaling itself lives in
``pyecs.runtime._scaling``.
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import anyio
import anyio.abc
import attrs

from pyecs.abc import InstanceProvider
from pyecs.ecs._rules import FARGATE_SIZES
from pyecs.exceptions import InvalidParameterError
from pyecs.models._arn import ArnFactory
from pyecs.models.capacity import (
    FARGATE_PROVIDERS,
    LAUNCH_TYPES,
    PROVIDER_ATTRIBUTE,
    CapacityProvider,
    CapacityProviderStrategyItem,
    ManagedScaling,
    check_provider_name,
    strategy_from,
)
from pyecs.models.instance import InstanceSpec
from pyecs.models.network import AwsVpcConfiguration, network_configuration_from
from pyecs.models.task import NetworkInterface, Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.placement._capacity import split_by_strategy
from pyecs.placement._constraints import MemberOf, constraints_from
from pyecs.placement._scheduler import PlacementState
from pyecs.placement._types import PlacementFailure
from pyecs.runtime._tasks import RunTaskResult, TaskCapacity, TaskFailure, TaskManager

__all__ = [
    "FARGATE_PLATFORM_VERSION",
    "PROVISIONING_LIMIT",
    "SPOT_STOPPED_REASON",
    "SPOT_STOP_CODE",
    "CapacityChoice",
    "CapacityManager",
]

#: ECS's quota of tasks in PROVISIONING per cluster.
PROVISIONING_LIMIT = 500
#: What ``LATEST`` means for Linux Fargate tasks.
FARGATE_PLATFORM_VERSION = "1.4.0"
#: How ECS ends a task whose Fargate Spot capacity is taken back.
SPOT_STOP_CODE = "SpotInterruption"
SPOT_STOPPED_REASON = "Your Spot Task was interrupted."
#: ECS's warning before a Spot interruption: SIGTERM, then at most this long.
SPOT_WARNING = 120.0

_EC2_ONLY = MemberOf(f"not(attribute:{PROVIDER_ATTRIBUTE} in [FARGATE, FARGATE_SPOT])")
_FARGATE_HOST_ATTRIBUTE = "pyecs.fargate-task"


@attrs.frozen
class CapacityChoice:
    """How a run_task call or a service gets capacity.

    Attributes:
        launch_type: ``EC2`` or ``FARGATE`` when no strategy applies.
        strategy: The strategy (the caller's or the cluster's default), or empty.
        explicit: The caller gave the strategy (ECS shows it on the service then).
    """

    launch_type: str = "EC2"
    strategy: tuple[CapacityProviderStrategyItem, ...] = ()
    explicit: bool = False

    @property
    def uses_fargate(self) -> bool:
        """Whether the tasks run on Fargate capacity."""
        if self.strategy:
            return self.strategy[0].capacity_provider in FARGATE_PROVIDERS
        return self.launch_type == "FARGATE"


#: Neither a launch type nor a strategy, and no default strategy: the most common choice.
_EC2_CHOICE = CapacityChoice("EC2")
#: An EC2 task without a provider or network interface (frozen: shared).
_EC2_CAPACITY = TaskCapacity("EC2")


@attrs.define
class _Provider:
    name: str
    arn: str
    managed_scaling: ManagedScaling | None = None
    termination_protection: Literal["ENABLED", "DISABLED"] = "DISABLED"
    instance_provider: InstanceProvider | None = None
    scaling_interval: float = 60.0
    scale_in_after: float = 900.0
    added: list[str] = attrs.field(factory=list)
    template: InstanceSpec | None = None

    @property
    def fargate(self) -> bool:
        return self.name in FARGATE_PROVIDERS

    @property
    def scales(self) -> bool:
        return self.managed_scaling is not None and self.managed_scaling.enabled


def _with_provider(constraints: Sequence[object], expression: str) -> list[object]:
    """Add a provider restriction without using up one of the caller's 10 constraints:
    joined to a memberOf the caller gave, if any, else one more constraint."""
    checked = list(constraints_from(constraints))
    for i, c in enumerate(checked):
        if isinstance(c, MemberOf):
            checked[i] = MemberOf(f"({c.expression}) and ({expression})")
            return list(checked)
    return [*checked, MemberOf(expression)]


class CapacityManager:
    """The capacity providers of one cluster.

    Args:
        arns: The cluster's ARNs.
        placement: The cluster's instances.
        tasks: The cluster's tasks.
        clock: The cluster's wall clock.
        on_change: Called when capacity changed (services retry what did not fit).
    """

    def __init__(
        self,
        arns: ArnFactory,
        placement: PlacementState,
        tasks: TaskManager,
        clock: Callable[[], datetime.datetime],
        on_change: Callable[[], None],
    ) -> None:
        self._arns = arns
        self._placement = placement
        self._tasks = tasks
        self._clock = clock
        self.on_change = on_change
        self._providers: dict[str, _Provider] = {
            name: _Provider(name, self.provider_arn(name)) for name in FARGATE_PROVIDERS
        }
        self._associated: list[str] = []
        self._default: tuple[CapacityProviderStrategyItem, ...] = ()
        self._fargate_ids = itertools.count(1)
        #: The backend instance that runs Fargate tasks (the first the backend offered).
        self.fargate_host: str | None = None
        self.spot_warning = SPOT_WARNING
        self._held_placement: dict[str, tuple[list[object], list[object]]] = {}
        self._spot_scheduled: set[str] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        #: Checks that security group ids exist (the cluster's registry), if set.
        self.check_groups: Callable[[Iterable[str], str], None] | None = None

    def provider_arn(self, name: str) -> str:
        """``arn:aws:ecs:<region>:<account>:capacity-provider/<name>``."""
        return f"arn:aws:ecs:{self._arns.region}:{self._arns.account}:capacity-provider/{name}"

    # -- providers -------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        instance_provider: InstanceProvider | None = None,
        managed_scaling: ManagedScaling | None = None,
        managed_termination_protection: Literal["ENABLED", "DISABLED"] = "DISABLED",
        scaling_interval: float = 60.0,
        scale_in_after: float = 900.0,
    ) -> _Provider:
        """Create a provider (ECS CreateCapacityProvider); see ``Cluster``'s method."""
        check_provider_name(name, creating=True)
        if name in self._providers:
            raise InvalidParameterError(
                f"capacity provider {name!r} already exists; describe_capacity_providers() "
                "lists them"
            )
        if managed_scaling is not None and not isinstance(managed_scaling, ManagedScaling):
            raise InvalidParameterError(
                f"managed_scaling must be a pyecs.ManagedScaling, got {managed_scaling!r}"
            )
        if managed_termination_protection not in ("ENABLED", "DISABLED"):
            raise InvalidParameterError(
                "managed_termination_protection must be 'ENABLED' or 'DISABLED', got "
                f"{managed_termination_protection!r}"
            )
        scales = managed_scaling is not None and managed_scaling.enabled
        if scales and not isinstance(instance_provider, InstanceProvider):
            raise InvalidParameterError(
                f"capacity provider {name!r} has managed scaling but no instance_provider: "
                "pass one that adds and removes instances (SimulatedBackend and "
                "ProcessBackend are instance providers)"
            )
        if managed_termination_protection == "ENABLED" and not scales:
            raise InvalidParameterError(
                "managed termination protection needs managed scaling: pass "
                "managed_scaling=pyecs.ManagedScaling(), or leave protection DISABLED"
            )
        for label, value in (
            ("scaling_interval", scaling_interval),
            ("scale_in_after", scale_in_after),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 < value < math.inf)
            ):
                raise InvalidParameterError(f"{label} must be seconds > 0, got {value!r}")
        provider = _Provider(
            name,
            self.provider_arn(name),
            managed_scaling,
            managed_termination_protection,
            instance_provider,
            float(scaling_interval),
            float(scale_in_after),
        )
        self._providers[name] = provider
        return provider

    def get(self, name: str) -> _Provider:
        """The provider called ``name``.

        Raises:
            InvalidParameterError: naming the providers that exist.
        """
        provider = self._providers.get(name) if isinstance(name, str) else None
        if provider is None:
            raise InvalidParameterError(
                f"The specified capacity provider {name!r} does not exist. Create it with "
                f"create_capacity_provider(); existing: {', '.join(sorted(self._providers))}"
            )
        return provider

    def providers(self) -> list[_Provider]:
        """Every provider, FARGATE and FARGATE_SPOT first."""
        return list(self._providers.values())

    def instance_ids(self, name: str) -> list[str]:
        """The registered instances of a provider, in id order."""
        return [
            i
            for i in self._placement.instance_ids()
            if self._placement.attribute(i, PROVIDER_ATTRIBUTE) == name
        ]

    def snapshot(self, name: str) -> CapacityProvider:
        """ECS DescribeCapacityProviders' view of one provider."""
        p = self.get(name)
        return CapacityProvider(
            name=p.name,
            arn=p.arn,
            managed_scaling=p.managed_scaling,
            managed_termination_protection=p.termination_protection,
            instance_ids=() if p.fargate else tuple(self.instance_ids(name)),
            fargate=p.fargate,
        )

    def put_cluster(self, providers: Sequence[str], default: Iterable[object]) -> None:
        """ECS PutClusterCapacityProviders: replace the associations and the default."""
        if isinstance(providers, str) or not isinstance(providers, (list, tuple)):
            raise InvalidParameterError(
                f"capacity_providers must be a list of provider names, got {providers!r}"
            )
        for name in providers:
            self.get(name)
        items = tuple(strategy_from(default)) if list(default) else ()
        for item in items:
            if item.capacity_provider not in providers:
                raise InvalidParameterError(
                    "The specified capacity provider strategy cannot contain a capacity "
                    "provider that is not associated with the cluster. Associate the "
                    "capacity provider with the cluster or specify a valid capacity provider "
                    f"and try again. ({item.capacity_provider!r} is not in capacity_providers)"
                )
        removed = set(self._associated) - set(providers)
        busy = sorted(
            {
                t.capacity_provider_name
                for t in self._tasks.all()
                if t.capacity_provider_name in removed and t.last_status != "STOPPED"
            }
            - {None}
        )
        if busy:
            raise InvalidParameterError(
                f"The specified capacity provider is in use and cannot be removed. "
                f"({busy[0]!r} still has tasks: stop them, or keep it associated)"
            )
        self._associated = list(dict.fromkeys(providers))
        self._default = items

    @property
    def associated(self) -> list[str]:
        """The providers associated with the cluster."""
        return list(self._associated)

    @property
    def default_strategy(self) -> tuple[CapacityProviderStrategyItem, ...]:
        """The cluster's default capacity provider strategy."""
        return self._default

    def instance_spec(self, spec: InstanceSpec, provider: str | None) -> InstanceSpec:
        """The spec with the provider's attribute, for registering into ``provider``."""
        if provider is None:
            return spec
        p = self.get(provider)
        if p.fargate:
            raise InvalidParameterError(
                f"{provider} capacity is AWS's own: container instances register only into "
                "capacity providers you create"
            )
        return attrs.evolve(spec, attributes={**spec.attributes, PROVIDER_ATTRIBUTE: provider})

    # -- choosing capacity -----------------------------------------------------------------

    def choose(self, launch_type: object, strategy: object) -> CapacityChoice:
        """Check a launch type or strategy by ECS's rules; the cluster default applies when
        neither is given.

        Raises:
            InvalidParameterError: both given, an unknown or unassociated provider, or a
                strategy that breaks the base/weight rules.
        """
        if launch_type is not None and strategy is not None:
            raise InvalidParameterError(
                "Specifying both a launch type and capacity provider strategy is not "
                "supported. Remove one and try again."
            )
        if launch_type is not None:
            if launch_type not in LAUNCH_TYPES:
                raise InvalidParameterError(
                    f"launch_type must be one of {', '.join(LAUNCH_TYPES)}, got {launch_type!r}"
                )
            return CapacityChoice(str(launch_type))
        if strategy is None:
            if self._default:
                return CapacityChoice("EC2", self._default)
            return _EC2_CHOICE
        items = strategy_from(strategy)  # type: ignore[arg-type]
        for item in items:
            self.get(item.capacity_provider)
            if item.capacity_provider not in self._associated:
                raise InvalidParameterError(
                    "The specified capacity provider strategy cannot contain a capacity "
                    "provider that is not associated with the cluster. Associate the "
                    "capacity provider with the cluster or specify a valid capacity provider "
                    f"and try again. (put_cluster_capacity_providers([..., "
                    f"{item.capacity_provider!r}]) associates it)"
                )
        return CapacityChoice("EC2", items, explicit=True)

    def check_network(
        self, td: TaskDefinition, choice: CapacityChoice, network: object
    ) -> AwsVpcConfiguration | None:
        """Check the task definition and network configuration against the capacity.

        Raises:
            InvalidParameterError: ECS's words first, then the way out.
        """
        config = network_configuration_from(network)
        mode = td.effective_network_mode
        if choice.uses_fargate:
            problems = fargate_incompatibilities(td)
            if problems:
                raise InvalidParameterError(
                    "Task definition does not support launch_type FARGATE. " + "; ".join(problems)
                )
        if mode == "awsvpc" and config is None:
            raise InvalidParameterError(
                "Network Configuration must be provided when networkMode 'awsvpc' is "
                "specified. Pass network_configuration={'awsvpcConfiguration': "
                "{'subnets': ['subnet-1'], 'securityGroups': [...]}}"
            )
        if config is not None and mode != "awsvpc":
            raise InvalidParameterError(
                "Network Configuration is not valid for the given networkMode of this task "
                f"definition. (networkMode is {mode!r}: use 'awsvpc', or drop "
                "network_configuration)"
            )
        if config is not None and config.assign_public_ip == "ENABLED" and not choice.uses_fargate:
            raise InvalidParameterError(
                "Assign public IP is not supported for this launch type. (only Fargate "
                "tasks take assignPublicIp ENABLED)"
            )
        if config is not None and self.check_groups is not None:
            self.check_groups(
                config.security_groups, "networkConfiguration.awsvpcConfiguration.securityGroups"
            )
        return config

    # -- launching -------------------------------------------------------------------------

    def launch(
        self,
        td: TaskDefinition,
        count: int,
        choice: CapacityChoice,
        network: AwsVpcConfiguration | None,
        *,
        current: Mapping[str, int] | None = None,
        strategies: Sequence[object] | None = None,
        constraints: Sequence[object] | None = None,
        **options: Any,
    ) -> tuple[RunTaskResult, tuple[PlacementFailure, ...]]:
        """Launch ``count`` tasks through ``choice``; see ``TaskManager.launch``.

        Args:
            current: Tasks of the group per provider, for the strategy's base and shares.
        """
        eni = (
            NetworkInterface("", network.subnets[0], security_groups=network.security_groups)
            if network is not None
            else None
        )
        user: list[object] = list(constraints_from(constraints))  # a lone item is refused
        if not choice.strategy:
            if choice.launch_type == "FARGATE":
                return self._fargate(td, count, None, eni, strategies, user, options)
            capacity = _EC2_CAPACITY if eni is None else TaskCapacity("EC2", network_interface=eni)
            if self._has_fargate_capacity():  # keep EC2 tasks off Fargate tasks' capacity
                user = _with_provider(user, _EC2_ONLY.expression)
            return self._tasks.launch(
                td, count, strategies=strategies, constraints=user, capacity=capacity, **options
            )
        split = split_by_strategy(choice.strategy, count, current)
        tasks: list[Task] = []
        failures: list[TaskFailure] = []
        unplaced: list[PlacementFailure] = []
        for name in dict.fromkeys(split):
            n = split.count(name)
            provider = self.get(name)
            if provider.fargate:
                result, missing = self._fargate(td, n, name, eni, strategies, user, options)
            else:
                rules = _with_provider(user, f"attribute:{PROVIDER_ATTRIBUTE} == {name}")
                hold = provider.scales and self.provisioning_room() >= n
                result, missing = self._tasks.launch(
                    td,
                    n,
                    strategies=strategies,
                    constraints=rules,
                    capacity=TaskCapacity("EC2", name, network_interface=eni),
                    hold_unplaced=hold,
                    **options,
                )
                for t in result.tasks:
                    if t.last_status == "PROVISIONING" and not t.container_instance_id:
                        self._held_placement[t.arn] = (list(strategies or ()), rules)
            tasks.extend(result.tasks)
            failures.extend(result.failures)
            unplaced.extend(missing)
        return RunTaskResult(tuple(tasks), tuple(failures)), tuple(unplaced)

    def _fargate(
        self,
        td: TaskDefinition,
        count: int,
        provider: str | None,
        eni: NetworkInterface | None,
        strategies: Sequence[object] | None,
        constraints: list[object],
        options: Mapping[str, Any],
    ) -> tuple[RunTaskResult, tuple[PlacementFailure, ...]]:
        """Each Fargate task gets capacity of its own, sized by its cpu and memory."""
        tasks: list[Task] = []
        failures: list[TaskFailure] = []
        unplaced: list[PlacementFailure] = []
        zone = self._zone()  # the same for every copy: Fargate capacity does not count
        for _ in range(count):
            serial = f"{next(self._fargate_ids)}"
            spec = InstanceSpec(
                cpu=td.cpu_units or 0,
                memory=td.memory_mib or 0,
                attributes={
                    PROVIDER_ATTRIBUTE: provider or "FARGATE",
                    _FARGATE_HOST_ATTRIBUTE: serial,
                    "ecs.availability-zone": zone,
                    "ecs.os-type": "linux",
                    "ecs.cpu-architecture": "x86_64",
                },
                reserved_ports=frozenset(),
                id=f"fargate-{serial}",
                ec2_instance_id=f"fargate-{serial}",
            )
            self._placement.add_instance(spec, registered_at=self._clock())
            rules = _with_provider(constraints, f"attribute:{_FARGATE_HOST_ATTRIBUTE} == {serial}")
            capacity = TaskCapacity(
                "FARGATE", provider, self.fargate_host, eni, FARGATE_PLATFORM_VERSION
            )
            result, missing = self._tasks.launch(
                td, 1, strategies=strategies, constraints=rules, capacity=capacity, **options
            )
            if not result.tasks:
                self._placement.remove_instance(spec.id or "")
            tasks.extend(result.tasks)
            failures.extend(result.failures)
            unplaced.extend(missing)
        return RunTaskResult(tuple(tasks), tuple(failures)), tuple(unplaced)

    def _has_fargate_capacity(self) -> bool:
        return self._placement.count_ids_with_prefix("fargate-") > 0

    def _zone(self) -> str:
        for instance_id in self._placement.instance_ids():
            zone = self._placement.attribute(instance_id, "ecs.availability-zone")
            if zone and not instance_id.startswith("fargate-"):
                return zone
        return f"{self._arns.region}a"

    def provisioning_room(self) -> int:
        """How many more tasks may wait in PROVISIONING (ECS's quota: 500 per cluster)."""
        return PROVISIONING_LIMIT - len(self._tasks.held())

    def place_held(self, provider: str | None = None) -> int:
        """Place what waits in PROVISIONING now that capacity changed; how many started."""
        started = 0
        for task in self._tasks.held(provider):
            strategies, constraints = self._held_placement.get(task.arn, ([], []))
            if self._tasks.start_held(task.arn, strategies, constraints):
                self._held_placement.pop(task.arn, None)
                started += 1
        return started

    # -- task changes ----------------------------------------------------------------------

    def attach(self, tg: anyio.abc.TaskGroup) -> None:
        """The cluster opened: Spot interruptions a backend simulates run in ``tg``."""
        self._tg = tg

    def task_changed(self, task: Task) -> None:
        """Give back a stopped Fargate task's capacity; forget a stopped waiting task;
        schedule the Spot interruption a backend simulates for a new FARGATE_SPOT task."""
        if task.last_status == "RUNNING" and task.capacity_provider_name == "FARGATE_SPOT":
            self._schedule_spot(task)
        if task.last_status != "STOPPED":
            return
        self._spot_scheduled.discard(task.arn)
        self._held_placement.pop(task.arn, None)
        instance = task.container_instance_id
        fargate = task.launch_type == "FARGATE" and instance.startswith("fargate-")
        if fargate and instance in self._placement:
            self._placement.remove_instance(instance)

    def _schedule_spot(self, task: Task) -> None:
        runner = self._tasks.runner(task.arn)
        backend = self._tasks.backend
        if task.arn in self._spot_scheduled or runner is None or backend is None:
            return
        self._spot_scheduled.add(task.arn)
        delay = backend.spot_interruption_after(runner.launch)
        if delay is not None and self._tg is not None:
            self._tg.start_soon(self._interrupt_later, task.arn, delay)

    async def _interrupt_later(self, arn: str, delay: float) -> None:
        await anyio.sleep(delay)
        task = self._tasks.find(arn)
        if task is not None and task.desired_status == "RUNNING":
            self.interrupt(task, None)

    def interrupt(self, task: Task, warning: float | None) -> Task:
        """Interrupt a FARGATE_SPOT task (see ``Cluster.interrupt_spot_task``)."""
        self.check_spot(task)
        grace = self.spot_warning if warning is None else warning
        return self._tasks.stop(task.arn, SPOT_STOP_CODE, SPOT_STOPPED_REASON, grace=grace)

    def check_spot(self, task: Task) -> None:
        """Raise unless ``task`` runs on FARGATE_SPOT and has not stopped."""
        if task.capacity_provider_name != "FARGATE_SPOT":
            raise InvalidParameterError(
                f"task {task.id} does not run on FARGATE_SPOT (capacity provider: "
                f"{task.capacity_provider_name}); only Fargate Spot tasks are interrupted"
            )
        if task.desired_status == "STOPPED":
            raise InvalidParameterError(f"task {task.id} is already stopping")


def fargate_incompatibilities(td: TaskDefinition) -> list[str]:
    """Why a task definition cannot run on Fargate (empty when it can)."""
    out = []
    if td.effective_network_mode != "awsvpc":
        out.append(
            f"Fargate only supports network mode 'awsvpc' (this one is "
            f"{td.effective_network_mode!r})"
        )
    cpu, memory = td.cpu_units, td.memory_mib
    if cpu is None or memory is None:
        out.append("Fargate needs task-level cpu and memory: set both in the task definition")
    elif cpu not in FARGATE_SIZES or memory not in FARGATE_SIZES[cpu]:
        sizes = FARGATE_SIZES.get(cpu)
        offer = (
            f"with cpu {cpu} Fargate offers memory {', '.join(str(m) for m in sizes)} MiB"
            if sizes
            else f"Fargate cpu is one of {', '.join(str(c) for c in FARGATE_SIZES)}"
        )
        out.append(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory; {offer}"
        )
    return out
