"""The scheduler's state: instances, what they have left, and the tasks placed on them."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter

from pyecs.exceptions import InvalidParameterError
from pyecs.models._construct import positional_constructor
from pyecs.models.instance import (
    INSTANCE_STATUSES,
    ContainerInstance,
    InstanceSpec,
    container_instance_arn,
)
from pyecs.placement._constraints import DistinctInstance, MemberOf, constraints_from
from pyecs.placement._diagnose import diagnose
from pyecs.placement._index import GroupStats, Indexes
from pyecs.placement._node import InstanceNode
from pyecs.placement._order import Selector, value_counts
from pyecs.placement._protocols import (
    CandidateInstance,
    PlacementConstraint,
    PlacementStrategy,
)
from pyecs.placement._scale_in import choose_victims
from pyecs.placement._strategies import (
    DEFAULT_SERVICE_STRATEGY,
    BinPack,
    Spread,
    strategies_from,
)
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


# The scheduler makes one Placement per placed copy, and a PlacedTask when one is asked for.
_make_placed = positional_constructor(PlacedTask)
_make_placement = positional_constructor(Placement)

# A placed task is kept as two dict entries and no object of its own: the state's
# ``_tasks[key]`` is its instance's node (shared) and the node's ``tasks[key]`` one int,
# its *record*: the sequence number in the high bits, then the id of its request in the
# state's table of requests (shared by every task of an equal request), then whether it
# runs. An object per task (a PlacedTask, a tuple) would be one more object that every
# full pass of the garbage collector walks, which at a million tasks is most of what a
# simulation spends; an int is not tracked. Records sort as their sequence numbers do
# (request ids are reused once free, so 32 bits are far more than enough).
_RUNNING = 1
_REQUEST_SHIFT = 1
_REQUEST_MASK = (1 << 32) - 1
_SEQUENCE_SHIFT = 33
_ONE_SEQUENCE = 1 << _SEQUENCE_SHIFT
#: A record's request id and running bit: what a release needs of it, beyond its key.
_LOW_BITS = _ONE_SEQUENCE - 1
_RECORD = itemgetter(1)
_RECORD_OF_FOUND = itemgetter(2)
_make_result = positional_constructor(PlacementResult)

#: The strategies and constraints that are plain frozen values: an equal one behaves the
#: same (``Random`` is equal to another of its seed, yet draws from its own generator).
_VALUE_TYPES = frozenset({BinPack, Spread, DistinctInstance, MemberOf})


def _same_values(given: object, normalised: tuple[object, ...]) -> bool:
    """Whether ``given`` is a list or tuple of the same values as ``normalised`` (made of
    :data:`_VALUE_TYPES` only), item by item: then it normalises to ``normalised``."""
    if type(given) is not list and type(given) is not tuple:
        return False
    if len(given) != len(normalised):
        return False
    for item, value in zip(given, normalised, strict=True):
        if item is not value and (type(item) is not type(value) or item != value):
            return False
    return True


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
        #: The node of every placed task, by key (its record is in the node's ``tasks``).
        self._tasks: dict[str, InstanceNode] = {}
        self._sequence = 0
        #: The requests of the placed tasks by id (None: a free id), each one's id, and
        #: how many tasks use each; an id is freed with the last task of its request.
        self._requests: list[PlacementRequest | None] = []
        self._request_ids: dict[PlacementRequest, int] = {}
        self._request_uses: list[int] = []
        self._free_request_ids: list[int] = []
        #: The request asked about last and its id: a caller usually passes the same
        #: request object call after call, and an identity check is cheaper than a hash.
        self._last_request: PlacementRequest | None = None
        self._last_request_id = 0
        #: The last chain and constraints normalised that were plain values (see
        #: _VALUE_TYPES), and the selector of the last place() call made of them: a
        #: caller that passes equal ones again (a fresh ``[BinPack("memory")]`` per
        #: call, say) gets the same tuples, and the selector is reused for the same
        #: request; what it works out from them costs more than the copies of a call.
        self._chain: tuple[PlacementStrategy, ...] = ()
        self._rules: tuple[PlacementConstraint, ...] = ()
        self._selector: Selector | None = None
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
        chain = self._chain
        if not _same_values(strategies, chain):
            chain = strategies_from(strategies)
            if _VALUE_TYPES.issuperset(map(type, chain)):
                self._chain = chain
        rules = self._rules
        if not _same_values(constraints, rules):
            rules = constraints_from(constraints)
            if _VALUE_TYPES.issuperset(map(type, rules)):
                self._rules = rules
        keys = self._task_keys(count, task_keys)
        selector = self._selector
        if (
            selector is not None
            and selector.request is request
            and selector.levels is chain
            and selector.rules is rules
        ):
            selector.restart()
        else:
            selector = Selector(self._indexes, self._groups, self, request, chain, rules)
            if chain is self._chain and rules is self._rules:
                self._selector = selector
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
                    return _make_result(tuple(placements), failures)
            run = room(node, count - index)
            self._reserve_copies(node, request, keys, index, run, placements)
            index += run
        return _make_result(tuple(placements), ())

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
        request_id = self._request_id(request, 1)
        self._reserve(
            node, task_key, self._sequence << _SEQUENCE_SHIFT | request_id << _REQUEST_SHIFT
        )

    def release(self, task_key: str) -> bool:
        """Give back what a stopped task held. Returns False for an unknown (or released) key."""
        if task_key not in self._tasks:
            return False
        self._drop_request(self._unreserve(task_key) >> _REQUEST_SHIFT & _REQUEST_MASK)
        return True

    def release_many(self, task_keys: Iterable[str]) -> int:
        """Give back what several stopped tasks held; unknown (or released) keys are skipped.

        The state afterwards is exactly the one :meth:`release` of each key in turn
        leaves (resources, ports, task counts, group statistics, the index order and
        the ties of later placements, the request table), but a release costs a sorted
        index update per partition and field of its instance, and a runtime that stops
        tasks in batches would pay that once per task. Here each key costs only its
        removal from two dicts; each instance touched is then updated once for all its
        tasks in the batch: its amounts in the indexes, its ports, group and task
        counts, its version and its group statistics. The saving grows with the tasks a
        batch holds per instance: a batch whose tasks are each on an instance of their
        own (the copies of a spread service, in placement order) costs what
        :meth:`release` of each does.

        Should the iteration of ``task_keys`` raise, the keys before are released.

        Returns:
            How many tasks were released.

        Raises:
            InvalidParameterError: ``task_keys`` is a single string.
        """
        if isinstance(task_keys, str):
            raise InvalidParameterError(
                f"task_keys must be an iterable of task keys, not the string {task_keys!r}"
            )
        owners = self._tasks
        uses = self._request_uses
        # Per instance touched, the tasks released there by their record's low bits
        # (request id and running bit): all that the update of the instance needs.
        touched: dict[InstanceNode, dict[int, int]] = {}
        # The request ids whose last task went, in the order release() would free them.
        freed: list[int] = []
        released = 0
        try:
            for key in task_keys:
                node = owners.pop(key, None)
                if node is None:
                    continue
                low = node.tasks.pop(key) & _LOW_BITS
                counts = touched.get(node)
                if counts is None:
                    touched[node] = {low: 1}
                else:
                    counts[low] = counts.get(low, 0) + 1
                request_id = low >> _REQUEST_SHIFT
                left = uses[request_id] - 1
                uses[request_id] = left
                if not left:
                    freed.append(request_id)
                released += 1
        finally:
            unreserve_run, unreserve_counts = self._unreserve_run, self._unreserve_counts
            for node, counts in touched.items():
                if len(counts) == 1:  # one request, all pending or all running: most often
                    for low, count in counts.items():
                        unreserve_run(node, low, count)
                else:
                    unreserve_counts(node, counts)
            for request_id in freed:
                self._free_request(request_id)
        return released

    def mark_running(self, task_key: str) -> bool:
        """Count a placed task as RUNNING rather than pending (``runningTasksCount``).

        Returns False for an unknown key or a task already counted as running.
        """
        node = self._tasks.get(task_key)
        if node is None:
            return False
        tasks = node.tasks
        record = tasks[task_key]
        if record & _RUNNING:
            return False
        tasks[task_key] = record | _RUNNING
        self._dirty.add(node.id)
        node.pending_tasks_count -= 1
        node.running_tasks_count += 1
        node.version += 1
        return True

    def task(self, task_key: str) -> PlacedTask | None:
        """The placed task with that key, if it holds resources.

        Made on each call (the state keeps no object per task): equal each time, not the
        same object; its ``request`` is equal to the one placed, and may be another
        object equal to it.
        """
        node = self._tasks.get(task_key)
        if node is None:
            return None
        return self._placed(task_key, node, node.tasks[task_key])

    def tasks_on(self, instance_id: str) -> list[str]:
        """The keys of the tasks placed on an instance, in placement order."""
        return [key for key, _ in sorted(self._node(instance_id).tasks.items(), key=_RECORD)]

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
        nodes = self._nodes
        # The records of the tasks taken away for the computation, to put back as they were.
        taken: dict[str, int] = {}

        def take(task: PlacedTask) -> None:
            taken[task.key] = self._unreserve(task.key)

        def put_back(task: PlacedTask) -> None:
            self._reserve(nodes[task.instance_id], task.key, taken.pop(task.key))

        return choose_victims(pool, count, chain, nodes, self._groups, self, take, put_back)

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
        if len(set(keys)) != count or not self._tasks.keys().isdisjoint(keys):
            raise InvalidParameterError("task keys must be unique and not already placed")
        return keys

    def _placed(self, key: str, node: InstanceNode, record: int) -> PlacedTask:
        """The :class:`PlacedTask` of a task's record (see ``_RUNNING`` and its kin)."""
        request = self._requests[record >> _REQUEST_SHIFT & _REQUEST_MASK]
        assert request is not None  # (a placed task holds its request's id)
        return _make_placed(key, node.id, request, record >> _SEQUENCE_SHIFT)

    def _request_id(self, request: PlacementRequest, uses: int) -> int:
        """The id of ``request`` in the table (given one if it has none), counting
        ``uses`` more tasks of it."""
        if request is self._last_request:
            request_id = self._last_request_id
        else:
            found = self._request_ids.get(request)
            if found is None:
                if self._free_request_ids:
                    found = self._free_request_ids.pop()
                    self._requests[found] = request
                else:
                    found = len(self._requests)
                    self._requests.append(request)
                    self._request_uses.append(0)
                self._request_ids[request] = found
            request_id = found
            self._last_request, self._last_request_id = request, request_id
        self._request_uses[request_id] += uses
        return request_id

    def _drop_request(self, request_id: int) -> None:
        """Count one task of a request less, and free its id after the last one."""
        uses = self._request_uses[request_id] - 1
        self._request_uses[request_id] = uses
        if not uses:
            self._free_request(request_id)

    def _free_request(self, request_id: int) -> None:
        """Free the id of a request that no placed task uses any more."""
        request = self._requests[request_id]
        assert request is not None
        del self._request_ids[request]
        self._requests[request_id] = None
        self._free_request_ids.append(request_id)
        if request is self._last_request:
            self._last_request = None

    def _group_tasks(
        self, group: str, stats: GroupStats, candidates: Collection[str] | None
    ) -> list[PlacedTask]:
        """The tasks of ``group`` (among ``candidates``), in placement order: looked up
        by key when the candidates are fewer, else gathered from the group's instances."""
        ids = {i for i, r in enumerate(self._requests) if r is not None and r.group == group}
        found: list[tuple[str, InstanceNode, int]] = []
        if candidates is not None and len(candidates) <= stats.total:
            owners = self._tasks
            for key in dict.fromkeys(candidates):
                node = owners.get(key)
                if node is not None:
                    record = node.tasks[key]
                    if record >> _REQUEST_SHIFT & _REQUEST_MASK in ids:
                        found.append((key, node, record))
        else:
            nodes = self._nodes
            for node_id in stats.hosts:
                node = nodes[node_id]
                for key, record in node.tasks.items():
                    if record >> _REQUEST_SHIFT & _REQUEST_MASK in ids and (
                        candidates is None or key in candidates
                    ):
                        found.append((key, node, record))
        found.sort(key=_RECORD_OF_FOUND)
        return [self._placed(key, node, record) for key, node, record in found]

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

    def _reserve(self, node: InstanceNode, key: str, record: int) -> None:
        """Reserve a task on ``node`` from its record (its request id already counted)."""
        self._dirty.add(node.id)
        request = self._requests[record >> _REQUEST_SHIFT & _REQUEST_MASK]
        assert request is not None
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
        node.tasks[key] = record
        if record & _RUNNING:
            node.running_tasks_count += 1
        else:
            node.pending_tasks_count += 1
        node.version += 1
        stats = self._groups.get(group)
        if stats is None:
            stats = self._groups[group] = GroupStats()
        stats.count_tasks(node, 1)
        self._tasks[key] = node

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
        record = (sequence + 1) << _SEQUENCE_SHIFT | self._request_id(
            request, run
        ) << _REQUEST_SHIFT
        if run == 1:
            key = keys[first]
            self._tasks[key] = node
            node.tasks[key] = record
            placements.append(_make_placement(first, node_id, key))
        else:  # map and zip keep the per-copy work in C: most of a batch's cost
            taken = keys[first : first + run]
            self._tasks.update(zip(taken, repeat(node, run), strict=True))
            records = range(record, record + run * _ONE_SEQUENCE, _ONE_SEQUENCE)
            node.tasks.update(zip(taken, records, strict=True))
            placements.extend(
                map(_make_placement, range(first, first + run), repeat(node_id), taken)
            )
        stats.count_tasks(node, run)

    def _unreserve(self, key: str) -> int:
        """Give back what a placed task holds and forget it; its record is returned (the
        caller drops its request's use, or reserves it again as it was)."""
        node = self._tasks.pop(key)
        record = node.tasks.pop(key)
        self._unreserve_run(node, record & _LOW_BITS, 1)
        return record

    def _unreserve_run(self, node: InstanceNode, low: int, count: int) -> None:
        """:meth:`_unreserve_counts` of ``{low: count}``, without the sums over requests."""
        request = self._requests[low >> _REQUEST_SHIFT]
        assert request is not None
        self._dirty.add(node.id)
        if request.cpu or request.memory:
            self._indexes.set_amounts(
                node,
                node.remaining_cpu + count * request.cpu,
                node.remaining_memory + count * request.memory,
            )
        if request.tcp_ports:
            node.used_tcp_ports -= request.tcp_ports
        if request.udp_ports:
            node.used_udp_ports -= request.udp_ports
        group = request.group
        left = node.groups[group] - count
        if left:
            node.groups[group] = left
        else:
            del node.groups[group]
        if low & _RUNNING:
            node.running_tasks_count -= count
        else:
            node.pending_tasks_count -= count
        node.version += count
        self._groups[group].remove_tasks(node, count)

    def _unreserve_counts(self, node: InstanceNode, counts: dict[int, int]) -> None:
        """Give back on ``node`` what tasks already taken out of ``node.tasks`` and the
        state's ``_tasks`` held, ``counts`` of them per record low bits (request id and
        running bit): what :meth:`_unreserve` of each would leave, with one update of
        the indexes and of each group's statistics. The request ids keep their uses."""
        requests = self._requests
        cpu = memory = running = total = 0
        tcp_ports: frozenset[int] = frozenset()
        udp_ports: frozenset[int] = frozenset()
        groups: dict[str, int] = {}
        for low, count in counts.items():
            request = requests[low >> _REQUEST_SHIFT]
            assert request is not None
            cpu += request.cpu * count
            memory += request.memory * count
            if request.tcp_ports:
                tcp_ports |= request.tcp_ports
            if request.udp_ports:
                udp_ports |= request.udp_ports
            group = request.group
            groups[group] = groups.get(group, 0) + count
            if low & _RUNNING:
                running += count
            total += count
        self._dirty.add(node.id)
        if cpu or memory:
            self._indexes.set_amounts(
                node, node.remaining_cpu + cpu, node.remaining_memory + memory
            )
        # (Taking a union away is taking each set away in turn, in any order.)
        if tcp_ports:
            node.used_tcp_ports -= tcp_ports
        if udp_ports:
            node.used_udp_ports -= udp_ports
        held, stats = node.groups, self._groups
        for group, count in groups.items():
            left = held[group] - count
            if left:
                held[group] = left
            else:
                del held[group]
            stats[group].remove_tasks(node, count)
        node.running_tasks_count -= running
        node.pending_tasks_count -= total - running
        node.version += total
