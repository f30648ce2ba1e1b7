"""The scheduler's state: instances, what they have left, and the tasks placed on them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import repeat

from pyecs.exceptions import InvalidParameterError
from pyecs.models._construct import positional_constructor
from pyecs.models.instance import (
    INSTANCE_STATUSES,
    ContainerInstance,
    InstanceSpec,
    container_instance_arn,
)
from pyecs.placement._constraints import constraints_from
from pyecs.placement._diagnose import diagnose
from pyecs.placement._index import GroupStats, Indexes
from pyecs.placement._node import InstanceNode
from pyecs.placement._order import Selector, value_counts
from pyecs.placement._protocols import CandidateInstance
from pyecs.placement._scale_in import choose_victims
from pyecs.placement._strategies import DEFAULT_SERVICE_STRATEGY, strategies_from
from pyecs.placement._types import (
    PlacedTask,
    Placement,
    PlacementFailure,
    PlacementRequest,
    PlacementResult,
)

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "PlacementState"]

#: The region and account in ARNs when the caller names none: plainly not AWS's.
DEFAULT_REGION = "local"
DEFAULT_ACCOUNT = "000000000000"


# The scheduler makes one of each per placed copy.
_make_placed = positional_constructor(PlacedTask)
_make_placement = positional_constructor(Placement)


def _sequence(task: PlacedTask) -> int:
    return task.sequence


class PlacementState:
    """The scheduler of one cluster: pure, synchronous, and owned by the cluster.

    It tracks the registered container instances, the resources and ports each has left
    and the tasks placed on them, with the indexes that make a placement cost far less
    than a look at every instance. ``place`` decides and reserves; ``release`` gives back.
    It also serves as the :class:`~pyecs.placement.PlacementView` that strategies and
    constraints receive.

    Args:
        cluster: The cluster name, for instance ARNs.
        region: The region in ARNs.
        account: The account in ARNs.
    """

    def __init__(
        self,
        cluster: str = "default",
        *,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self.cluster = cluster
        self.region = region
        self.account = account
        self._nodes: dict[str, InstanceNode] = {}
        self._indexes = Indexes(self._nodes)
        self._groups: dict[str, GroupStats] = {}
        self._tasks: dict[str, PlacedTask] = {}
        self._running: set[str] = set()
        self._sequence = 0
        self._instance_counter = 0
        #: Every node in id order, and their ARNs; None until asked for after a change.
        self._in_order: list[InstanceNode] | None = None
        self._arns: dict[str, str] = {}
        #: The snapshots instances() returned last, each one's index, and the ids of the
        #: nodes changed since (every change of a node goes through this class).
        self._listing: list[ContainerInstance] | None = None
        self._position: dict[str, int] = {}
        self._dirty: set[str] = set()
        #: How many instance ids start with each prefix asked about (kept up to date).
        self._prefix_counts: dict[str, int] = {}

    # -- instances -----------------------------------------------------------------------

    def add_instance(
        self, spec: InstanceSpec, *, registered_at: datetime.datetime | None = None
    ) -> ContainerInstance:
        """Register an instance.

        Args:
            spec: What the instance offers; an id is made up when ``spec.id`` is None.
            registered_at: Registration time (timezone-aware); now when None.

        Raises:
            InvalidParameterError: The id is taken, or ``registered_at`` is naive.
        """
        instance_id = spec.id
        if instance_id is None:
            while instance_id is None or instance_id in self._nodes:
                self._instance_counter += 1
                instance_id = f"i-{self._instance_counter:017x}"
        elif instance_id in self._nodes:
            raise InvalidParameterError(
                f"container instance {instance_id!r} is already registered in cluster "
                f"{self.cluster!r}; remove it first or give another id"
            )
        if registered_at is None:
            registered_at = datetime.datetime.now(datetime.UTC)
        elif registered_at.tzinfo is None:
            raise InvalidParameterError(
                "registered_at must be timezone-aware: pass datetime.datetime.now(datetime.UTC)"
            )
        node = InstanceNode(instance_id, spec, registered_at)
        self._nodes[instance_id] = node
        self._in_order = self._listing = None
        self._count_prefixes(instance_id, +1)
        if node.placeable:
            self._indexes.insert(node)
        return node.snapshot(self.instance_arn(instance_id), keep=False)

    def add_instances(self, specs: Iterable[InstanceSpec]) -> list[ContainerInstance]:
        """Register several instances; see :meth:`add_instance`."""
        return [self.add_instance(spec) for spec in specs]

    def remove_instance(self, instance_id: str) -> list[str]:
        """Deregister an instance (with force): its tasks are forgotten, not stopped.

        Returns:
            The keys of the tasks that were on it, which now run orphaned.
        """
        node = self._node(instance_id)
        keys = self.tasks_on(instance_id)
        for key in keys:
            self.release(key)
        self._indexes.delete(node)
        del self._nodes[instance_id]
        self._arns.pop(instance_id, None)
        self._in_order = self._listing = None
        self._count_prefixes(instance_id, -1)
        return keys

    def set_status(self, instance_id: str, status: str) -> None:
        """Change an instance's status (ACTIVE, DRAINING...); only ACTIVE takes new tasks."""
        if status not in INSTANCE_STATUSES:
            raise InvalidParameterError(
                f"status {status!r} is not a container instance status; expected one of "
                + ", ".join(INSTANCE_STATUSES)
            )
        node = self._node(instance_id)

        def change() -> None:
            node.status = status
            node.version += 1

        self._reindex(node, change)

    def set_agent_connected(self, instance_id: str, connected: bool) -> None:
        """Record the agent connecting or disconnecting; disconnected instances take none."""
        node = self._node(instance_id)

        def change() -> None:
            node.agent_connected = connected
            node.touch_static()

        self._reindex(node, change)

    def put_attributes(self, instance_id: str, attributes: Mapping[str, str | None]) -> None:
        """Add or change attributes of an instance (ECS PutAttributes)."""
        for name, value in attributes.items():
            if not isinstance(name, str) or not name:
                raise InvalidParameterError(f"attribute name {name!r} must be a non-empty string")
            if value is not None and not isinstance(value, str):
                raise InvalidParameterError(f"attribute {name!r} value must be a string or None")
        node = self._node(instance_id)
        self._change_attributes(node, dict(attributes), ())

    def delete_attributes(self, instance_id: str, names: Iterable[str]) -> None:
        """Remove attributes of an instance (ECS DeleteAttributes); absent ones are ignored."""
        node = self._node(instance_id)
        self._change_attributes(node, {}, tuple(names))

    def instance(self, instance_id: str) -> ContainerInstance:
        """A snapshot of one instance."""
        return self._node(instance_id).snapshot(self.instance_arn(instance_id))

    def attribute(self, instance_id: str, name: str) -> str | None:
        """One attribute of an instance (None when it is absent or only a name)."""
        return self._node(instance_id).attributes.get(name)

    def instances(self) -> list[ContainerInstance]:
        """Snapshots of every registered instance, in id order.

        A service takes these on every pass: the order is kept between changes of the
        instance set, and each node's snapshot is rebuilt only when the node changed.
        """
        arn = self.instance_arn
        listing = self._listing
        if listing is None:
            ordered = self._ordered()
            listing = self._listing = [node.snapshot(arn(node.id)) for node in ordered]
            self._position = {node.id: i for i, node in enumerate(ordered)}
        elif self._dirty:
            nodes, position = self._nodes, self._position
            for instance_id in self._dirty:
                listing[position[instance_id]] = nodes[instance_id].snapshot(arn(instance_id))
        self._dirty.clear()
        return list(listing)

    def instance_ids(self) -> list[str]:
        """The ids of every registered instance, in id order."""
        return [node.id for node in self._ordered()]

    def _ordered(self) -> list[InstanceNode]:
        ordered = self._in_order
        if ordered is None:
            nodes = self._nodes
            ordered = self._in_order = [nodes[i] for i in sorted(nodes)]
        return ordered

    def count_ids_with_prefix(self, prefix: str) -> int:
        """How many registered instances have an id that starts with ``prefix``.

        The first call for a prefix counts; from then on the count is kept as instances
        come and go, so that asking costs nothing (the cluster asks on every launch).
        """
        count = self._prefix_counts.get(prefix)
        if count is None:
            count = self._prefix_counts[prefix] = sum(
                1 for i in self._nodes if i.startswith(prefix)
            )
        return count

    def _count_prefixes(self, instance_id: str, delta: int) -> None:
        counts = self._prefix_counts
        for prefix in counts:
            if instance_id.startswith(prefix):
                counts[prefix] += delta

    def instance_arn(self, instance_id: str) -> str:
        """The ARN of an instance of this cluster."""
        arn = self._arns.get(instance_id)
        if arn is None:
            arn = container_instance_arn(self.region, self.account, self.cluster, instance_id)
            if instance_id in self._nodes:  # remembered while it is registered
                self._arns[instance_id] = arn
        return arn

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._nodes

    # -- tasks ---------------------------------------------------------------------------

    def place(
        self,
        request: PlacementRequest,
        count: int = 1,
        strategies: Iterable[object] | None = (),
        constraints: Iterable[object] | None = (),
        *,
        task_keys: Sequence[str] | None = None,
    ) -> PlacementResult:
        """Place ``count`` copies of a task, one after the other, and reserve what they take.

        Each copy sees the ones placed before it. No strategy means the lowest instance id
        that fits; a service with none should pass :data:`DEFAULT_SERVICE_STRATEGY`.

        Args:
            request: A :class:`PlacementRequest`.
            count: How many copies (ECS RunTask allows 10 per call; this allows more).
            strategies: Up to 5, in any form :func:`strategy_from` accepts.
            constraints: Up to 10 (the task definition's included), in any form
                :func:`constraint_from` accepts.
            task_keys: The key (ARN) of each copy, for :meth:`release`; made up when None.

        Returns:
            The placements and, for copies that found no instance, failures with the ECS
            reason; once one copy fails the rest fail the same way.

        Raises:
            PlacementError: A strategy or constraint is invalid, or there are too many.
            InvalidParameterError: ``count`` below 1, or keys missing or already in use.
        """
        if not isinstance(request, PlacementRequest):
            raise InvalidParameterError(f"request must be a PlacementRequest, not {request!r}")
        chain = strategies_from(strategies)
        rules = constraints_from(constraints)
        keys = self._task_keys(count, task_keys)
        selector = Selector(self._indexes, self._groups, self, request, chain, rules)
        picker = None
        if count > 1:
            selector.plan_runs()
            picker = selector.spread_picker()
        sticky, fits, room = selector.sticky, selector.fits, selector.room
        placements: list[Placement] = []
        node: InstanceNode | None = None
        index = 0
        while index < count:
            # A spread picks from walks it keeps open (see Selector.spread_picker), and
            # where the last copy went stays the best while it fits when the selector says
            # so (see Selector.sticky): in both cases a new walk would find the same.
            if picker is not None:
                node = picker()
                if node is None:
                    picker = None  # from here on, the full walk
            if node is None or (picker is None and not (sticky and fits(node))):
                node = selector.select()
                if node is None:
                    nodes = list(self._ordered())
                    found = diagnose(nodes, request, selector.checks)
                    failures = tuple(
                        PlacementFailure(i, found.reason, found.detail, found.closest)
                        for i in range(index, count)
                    )
                    return PlacementResult(tuple(placements), failures)
            run = room(node, count - index)
            self._reserve_copies(node, request, keys, index, run, placements)
            index += run
        return PlacementResult(tuple(placements), ())

    def reserve(self, task_key: str, instance_id: str, request: PlacementRequest) -> None:
        """Reserve what a task that already runs on ``instance_id`` holds (an adopted one).

        No constraint or strategy is asked: the task is there. The instance may end up
        over-committed if it shrank meanwhile; new tasks then find no room on it.

        Raises:
            InvalidParameterError: an unknown instance, or a key already in use.
        """
        if task_key in self._tasks:
            raise InvalidParameterError(f"task key {task_key!r} is already placed")
        node = self._node(instance_id)
        self._sequence += 1
        self._reserve(node, PlacedTask(task_key, node.id, request, self._sequence))

    def release(self, task_key: str) -> bool:
        """Give back what a stopped task held. Returns False for an unknown (or released) key."""
        task = self._tasks.get(task_key)
        if task is None:
            return False
        self._unreserve(task)
        self._running.discard(task_key)
        return True

    def mark_running(self, task_key: str) -> bool:
        """Count a placed task as RUNNING rather than pending (``runningTasksCount``).

        Returns False for an unknown key or a task already counted as running.
        """
        task = self._tasks.get(task_key)
        if task is None or task_key in self._running:
            return False
        node = self._nodes[task.instance_id]
        self._running.add(task_key)
        self._dirty.add(node.id)
        node.pending_tasks_count -= 1
        node.running_tasks_count += 1
        node.version += 1
        return True

    def task(self, task_key: str) -> PlacedTask | None:
        """The placed task with that key, if it holds resources."""
        return self._tasks.get(task_key)

    def tasks_on(self, instance_id: str) -> list[str]:
        """The keys of the tasks placed on an instance, in placement order."""
        return [t.key for t in sorted(self._node(instance_id).tasks.values(), key=_sequence)]

    def victims(
        self,
        group: str,
        count: int,
        strategies: Iterable[object] | None = None,
        *,
        candidates: Collection[str] | None = None,
    ) -> list[str]:
        """Choose which tasks of ``group`` to stop on scale-in; nothing is changed.

        Args:
            group: The task group, such as ``service:web``.
            count: How many to stop (fewer come back if the group has fewer).
            strategies: The group's strategy chain; None or empty uses the ECS default
                for services (spread over zones, then instances): most tasks first.
            candidates: Restrict the choice to these task keys (say, the old deployment's
                or only the RUNNING ones); the balance still counts the whole group.

        Returns:
            Task keys in the order to stop them.
        """
        chain = strategies_from(strategies) or DEFAULT_SERVICE_STRATEGY
        stats = self._groups.get(group)
        if stats is None or count <= 0:
            return []
        pool = self._group_tasks(group, stats, candidates)
        return choose_victims(
            pool, count, chain, self._nodes, self._groups, self, self._unreserve, self._reserve
        )

    # -- the PlacementView protocol --------------------------------------------------------

    def tasks_in_group(
        self, group: str, attribute: str | None = None, value: str | None = None
    ) -> int:
        """How many placed tasks ``group`` has, in all or where ``attribute`` is ``value``."""
        if attribute is None:
            stats = self._groups.get(group)
            return stats.total if stats is not None else 0
        return value_counts(self._groups, self._nodes, group, attribute).get(value, 0)

    def candidates(self) -> list[CandidateInstance]:
        """Live views of every registered instance, in id order."""
        return list(self._ordered())

    # -- internals -----------------------------------------------------------------------

    def _node(self, instance_id: str) -> InstanceNode:
        node = self._nodes.get(instance_id)
        if node is None:
            raise InvalidParameterError(
                f"container instance {instance_id!r} is not registered in cluster "
                f"{self.cluster!r}; registered: {len(self._nodes)} instance(s)"
            )
        return node

    def _task_keys(self, count: int, task_keys: Sequence[str] | None) -> list[str]:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidParameterError(f"count must be a whole number of at least 1, not {count}")
        if task_keys is None:
            first = self._sequence
            return [f"task-{first + i + 1}" for i in range(count)]
        keys = list(task_keys)
        if len(keys) != count:
            raise InvalidParameterError(f"{len(keys)} task keys given for {count} copies")
        if len(set(keys)) != count or any(k in self._tasks for k in keys):
            raise InvalidParameterError("task keys must be unique and not already placed")
        return keys

    def _group_tasks(
        self, group: str, stats: GroupStats, candidates: Collection[str] | None
    ) -> list[PlacedTask]:
        """The tasks of ``group`` (among ``candidates``), in placement order: looked up
        by key when the candidates are fewer, else gathered from the group's instances."""
        if candidates is not None and len(candidates) <= stats.total:
            found = map(self._tasks.get, dict.fromkeys(candidates))
            pool = [t for t in found if t is not None and t.request.group == group]
        else:
            nodes = self._nodes
            pool = [
                t
                for node_id in stats.hosts
                for t in nodes[node_id].tasks.values()
                if t.request.group == group and (candidates is None or t.key in candidates)
            ]
        pool.sort(key=_sequence)
        return pool

    def _reindex(self, node: InstanceNode, change: Callable[[], None]) -> None:
        self._dirty.add(node.id)
        if node.placeable:
            for group in node.groups:
                self._groups[group].leave_buckets(node)
            self._indexes.delete(node)
        change()
        if node.placeable:
            self._indexes.insert(node)
            for group in node.groups:
                self._groups[group].enter_buckets(node)

    def _change_attributes(
        self, node: InstanceNode, changes: dict[str, str | None], removed: tuple[str, ...]
    ) -> None:
        for group in node.groups:
            self._groups[group].shift_values(node, -1)
        self._reindex(node, lambda: node.set_attributes(changes, removed))
        for group in node.groups:
            self._groups[group].shift_values(node, +1)

    def _reserve(self, node: InstanceNode, task: PlacedTask) -> None:
        self._dirty.add(node.id)
        request = task.request
        if request.cpu or request.memory:
            self._indexes.set_amounts(
                node, node.remaining_cpu - request.cpu, node.remaining_memory - request.memory
            )
        if request.tcp_ports:
            node.used_tcp_ports |= request.tcp_ports
        if request.udp_ports:
            node.used_udp_ports |= request.udp_ports
        group = request.group
        node.groups[group] = node.groups.get(group, 0) + 1
        node.tasks[task.key] = task
        if task.key in self._running:
            node.running_tasks_count += 1
        else:
            node.pending_tasks_count += 1
        node.version += 1
        stats = self._groups.get(group)
        if stats is None:
            stats = self._groups[group] = GroupStats()
        stats.count_tasks(node, 1)
        self._tasks[task.key] = task

    def _reserve_copies(
        self,
        node: InstanceNode,
        request: PlacementRequest,
        keys: list[str],
        first: int,
        run: int,
        placements: list[Placement],
    ) -> None:
        """Reserve copies ``first`` to ``first + run - 1`` (new, pending tasks) on
        ``node`` at once: what :meth:`_reserve` would leave after each in turn, with one
        index update rather than ``run``."""
        node_id = node.id
        self._dirty.add(node_id)
        if request.cpu or request.memory:
            self._indexes.set_amounts(
                node,
                node.remaining_cpu - run * request.cpu,
                node.remaining_memory - run * request.memory,
            )
        if request.tcp_ports:
            node.used_tcp_ports |= request.tcp_ports
        if request.udp_ports:
            node.used_udp_ports |= request.udp_ports
        group = request.group
        node.groups[group] = node.groups.get(group, 0) + run
        node.pending_tasks_count += run
        node.version += run
        stats = self._groups.get(group)
        if stats is None:
            stats = self._groups[group] = GroupStats()
        sequence = self._sequence
        self._sequence = sequence + run
        if run == 1:
            key = keys[first]
            self._tasks[key] = node.tasks[key] = _make_placed(key, node_id, request, sequence + 1)
            placements.append(_make_placement(first, node_id, key))
        else:  # map and zip keep the per-copy work in C: most of a batch's cost
            taken = keys[first : first + run]
            placed = list(
                map(
                    _make_placed,
                    taken,
                    repeat(node_id),
                    repeat(request),
                    range(sequence + 1, sequence + run + 1),
                )
            )
            self._tasks.update(zip(taken, placed, strict=True))
            node.tasks.update(zip(taken, placed, strict=True))
            placements.extend(
                map(_make_placement, range(first, first + run), repeat(node_id), taken)
            )
        stats.count_tasks(node, run)

    def _unreserve(self, task: PlacedTask) -> None:
        node = self._nodes[task.instance_id]
        self._dirty.add(node.id)
        request = task.request
        if request.cpu or request.memory:
            self._indexes.set_amounts(
                node, node.remaining_cpu + request.cpu, node.remaining_memory + request.memory
            )
        if request.tcp_ports:
            node.used_tcp_ports -= request.tcp_ports
        if request.udp_ports:
            node.used_udp_ports -= request.udp_ports
        group = request.group
        left = node.groups[group] - 1
        if left:
            node.groups[group] = left
        else:
            del node.groups[group]
        del node.tasks[task.key]
        if task.key in self._running:
            node.running_tasks_count -= 1
        else:
            node.pending_tasks_count -= 1
        node.version += 1
        self._groups[group].remove_task(node)
        del self._tasks[task.key]
