"""Indexes over the placeable instances, so that a placement need not look at every one.

A *partition* splits the placeable instances by the values of some attributes (the root
partition by none, so it has one bucket holding every placeable instance). Spread over
``attribute:a`` then ``attribute:b`` uses the partitions ``(a,)`` and ``(a, b)``. Each bucket
keeps its instance ids in order and, once a walk asks for one, a sorted list of
``(remaining amount, id)`` per field (``cpu``, ``memory``, or ``id`` for id order).
Partitions and field lists are made on first use and kept up to date from then on: each
placement changes one instance, so it costs a few sorted-list updates per partition.

Group statistics count each group's tasks per instance and, once a spread asks, per
attribute value.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from pyecs.placement._node import InstanceNode
from pyecs.placement._sorted import SortedEntries

__all__ = ["Bucket", "GroupStats", "Indexes", "Partition", "amount"]

Values = tuple[str | None, ...]


def amount(node: InstanceNode, field: str) -> int:
    """The sort key of ``node`` in the ``field`` list: remaining ``cpu`` or ``memory``, or
    0 for ``id`` (the list in instance id order)."""
    if field == "id":
        return 0
    return node.remaining_cpu if field == "cpu" else node.remaining_memory


class Bucket:
    """The placeable instances of one partition that share the same attribute values."""

    __slots__ = ("by_field", "ids", "partition", "values")

    def __init__(self, partition: Partition, values: Values) -> None:
        self.partition = partition
        self.values = values
        self.ids: list[str] = []
        self.by_field: dict[str, SortedEntries] = {}


class Partition:
    """Placeable instances split by the values of ``attrs``."""

    __slots__ = ("attrs", "buckets", "children")

    def __init__(self, attrs: tuple[str, ...]) -> None:
        self.attrs = attrs
        self.buckets: dict[Values, Bucket] = {}
        #: For each values prefix (all but the last attribute), the last values present.
        self.children: dict[Values, set[str | None]] = {}

    def values_of(self, node: InstanceNode) -> Values:
        """The bucket key of ``node``."""
        get = node.attributes.get
        return tuple(get(name) for name in self.attrs)

    def _bucket(self, values: Values) -> Bucket:
        bucket = self.buckets.get(values)
        if bucket is None:
            bucket = self.buckets[values] = Bucket(self, values)
            if self.attrs:
                self.children.setdefault(values[:-1], set()).add(values[-1])
        return bucket

    def populate(self, nodes: Iterable[InstanceNode]) -> None:
        """Fill a new partition with ``nodes`` (all placeable, none in it yet)."""
        for node in nodes:
            bucket = self._bucket(self.values_of(node))
            bucket.ids.append(node.id)
            node.buckets.append(bucket)
        for bucket in self.buckets.values():
            bucket.ids.sort()

    def add(self, node: InstanceNode) -> None:
        """Put a placeable ``node`` in its bucket."""
        bucket = self._bucket(self.values_of(node))
        insort(bucket.ids, node.id)
        for field, entries in bucket.by_field.items():
            entries.add((amount(node, field), node.id), node.remaining_cpu, node.remaining_memory)
        node.buckets.append(bucket)

    def discard(self, bucket: Bucket, node: InstanceNode) -> None:
        """Take ``node`` out of ``bucket`` (its bucket in this partition)."""
        ids = bucket.ids
        del ids[bisect_left(ids, node.id)]
        for field, entries in bucket.by_field.items():
            entries.remove((amount(node, field), node.id))
        if not ids:
            del self.buckets[bucket.values]
            if self.attrs:
                siblings = self.children[bucket.values[:-1]]
                siblings.discard(bucket.values[-1])
                if not siblings:
                    del self.children[bucket.values[:-1]]


class GroupStats:
    """Where a group's tasks are.

    Attributes:
        total: Tasks of the group placed and not released (the tasks themselves are only
            in the instances' ``tasks``: one entry less per task).
        hosts: Tasks per instance id (instances with none are absent).
        by_attr: For each attribute a spread asked about, tasks per value (None: the
            instance lacks the attribute); values with none may be absent or 0.
        bucket_hosts: For each index bucket a spread over instances asked about, how many
            of its instances hold a task of the group.
        tiers: Once a spread over instances asks, the ids of the instances holding ``n``
            tasks of the group, in id order, for every ``n`` of at least 1.
    """

    __slots__ = ("bucket_hosts", "by_attr", "hosts", "tiers", "total")

    def __init__(self) -> None:
        self.total = 0
        self.hosts: dict[str, int] = {}
        self.by_attr: dict[str, dict[str | None, int]] = {}
        self.bucket_hosts: dict[Bucket, int] = {}
        self.tiers: dict[int, list[str]] | None = None

    def count_tasks(self, node: InstanceNode, count: int) -> None:
        """Count ``count`` tasks placed on ``node``."""
        self.total += count
        before = self.hosts.get(node.id, 0)
        self.hosts[node.id] = before + count
        self._count_values(node, count)
        if not before:
            self.enter_buckets(node)
        if self.tiers is not None:
            self._move(node.id, before, before + count)

    def remove_tasks(self, node: InstanceNode, count: int) -> None:
        """Stop counting ``count`` tasks of ``node`` (it holds at least that many).

        Like :meth:`count_tasks`, one call for several tasks: a batch of releases moves
        the instance between tiers and through the per-value counts once.
        """
        self.total -= count
        before = self.hosts[node.id]
        if before > count:
            self.hosts[node.id] = before - count
        else:
            del self.hosts[node.id]
            self.leave_buckets(node)
        self._count_values(node, -count)
        if self.tiers is not None:
            self._move(node.id, before, before - count)

    def _count_values(self, node: InstanceNode, delta: int) -> None:
        get = node.attributes.get
        for name, counts in self.by_attr.items():
            value = get(name)
            counts[value] = counts.get(value, 0) + delta

    def shift_values(self, node: InstanceNode, sign: int) -> None:
        """Move the node's tasks out of (-1) or into (+1) the per-value counts."""
        self._count_values(node, sign * self.hosts.get(node.id, 0))

    def enter_buckets(self, node: InstanceNode) -> None:
        """``node``, which holds a task of the group, joined its buckets (or got the task)."""
        counts = self.bucket_hosts
        if counts:
            for bucket in node.buckets:
                if bucket in counts:
                    counts[bucket] += 1

    def leave_buckets(self, node: InstanceNode) -> None:
        """``node`` is leaving its buckets (or lost its last task of the group)."""
        counts = self.bucket_hosts
        if counts:
            for bucket in node.buckets:
                if bucket in counts:
                    counts[bucket] -= 1

    def hosts_in(self, bucket: Bucket, nodes: dict[str, InstanceNode]) -> int:
        """How many instances of ``bucket`` hold a task of the group."""
        count = self.bucket_hosts.get(bucket)
        if count is None:
            count = sum(1 for i in self.hosts if bucket in nodes[i].buckets)
            self.bucket_hosts[bucket] = count
        return count

    def count_tiers(self) -> dict[int, list[str]]:
        """The instance ids by task count (``tiers``), made on first use."""
        if self.tiers is None:
            tiers: dict[int, list[str]] = {}
            for node_id, count in self.hosts.items():
                tiers.setdefault(count, []).append(node_id)
            for ids in tiers.values():
                ids.sort()
            self.tiers = tiers
        return self.tiers

    def _move(self, node_id: str, old: int, new: int) -> None:
        tiers = self.tiers
        assert tiers is not None
        if old:
            ids = tiers[old]
            del ids[bisect_left(ids, node_id)]
            if not ids:
                del tiers[old]
        if new:
            insort(tiers.setdefault(new, []), node_id)


class Indexes:
    """Every partition, kept in step with the placeable instances of ``nodes``."""

    __slots__ = ("nodes", "partitions")

    def __init__(self, nodes: dict[str, InstanceNode]) -> None:
        self.nodes = nodes
        root = Partition(())
        root.populate(n for n in nodes.values() if n.placeable)
        self.partitions: dict[tuple[str, ...], Partition] = {(): root}

    def partition(self, attrs: tuple[str, ...]) -> Partition:
        """The partition over ``attrs``, made (from the placeable instances) on first use."""
        found = self.partitions.get(attrs)
        if found is None:
            found = self.partitions[attrs] = Partition(attrs)
            found.populate(n for n in self.nodes.values() if n.placeable)
        return found

    def bucket(self, attrs: tuple[str, ...], values: Values) -> Bucket | None:
        """The bucket of the placeable instances with ``values`` for ``attrs``, if any."""
        return self.partition(attrs).buckets.get(values)

    def field_entries(self, bucket: Bucket, field: str) -> SortedEntries:
        """The ``(remaining field, id)`` list of ``bucket``, made on first use."""
        entries = bucket.by_field.get(field)
        if entries is None:
            nodes = self.nodes
            entries = bucket.by_field[field] = SortedEntries(
                ((amount(n, field), n.id), n.remaining_cpu, n.remaining_memory)
                for n in map(nodes.__getitem__, bucket.ids)
            )
        return entries

    def insert(self, node: InstanceNode) -> None:
        """Index a node that became placeable."""
        for partition in self.partitions.values():
            partition.add(node)

    def delete(self, node: InstanceNode) -> None:
        """Un-index a node that is no longer placeable (or whose attributes change)."""
        for bucket in node.buckets:
            bucket.partition.discard(bucket, node)
        node.buckets.clear()

    def set_amounts(self, node: InstanceNode, cpu: int, memory: int) -> None:
        """Change the remaining cpu and memory of ``node``, keeping the indexes in step."""
        old_cpu, old_memory = node.remaining_cpu, node.remaining_memory
        grew = cpu > old_cpu or memory > old_memory
        node_id = node.id
        for bucket in node.buckets:
            for field, entries in bucket.by_field.items():
                if field == "id":
                    old = new = 0
                else:
                    old, new = (old_cpu, cpu) if field == "cpu" else (old_memory, memory)
                if old != new:
                    entries.remove((old, node_id))
                    entries.add((new, node_id), cpu, memory)
                elif grew:
                    entries.raise_caps((new, node_id), cpu, memory)
        node.remaining_cpu = cpu
        node.remaining_memory = memory
