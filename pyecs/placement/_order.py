"""Choosing the instance for one copy: fit → constraints → the strategy chain → select.

The chain defines a total order on instances: by the first strategy's key, ties by the
next one's, the remaining ties by instance id. The selector walks instances lazily in that
order and takes the first that fits and meets every constraint, so it touches only the
instances that rank ahead of the winner (and those it rules out on the way):

- ``binpack`` walks a sorted ``(remaining, id)`` list from the requested amount upwards;
- ``spread`` over an attribute ranks the attribute's values by the group's task counts and
  walks the best value's instances (several tied values are merged in order);
- ``spread`` over instances walks the instances without a task of the group first, then
  the few that have some, by count;
- ``random`` samples, then shuffles lazily.

A *scope* is either an indexed set of instances (attribute names and their values, the
root scope ``((), ())`` holding every placeable instance) or a plain list of instances. A
user's strategy, or a built-in one over a plain list, sorts the scope's fitting instances
with the whole remaining chain: a scan, which is fine for them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Container, Iterable, Iterator
from operator import itemgetter
from typing import TypeAlias

from pyecs.placement._constraints import DistinctInstance, MemberOf
from pyecs.placement._index import GroupStats, Indexes, Values, amount
from pyecs.placement._node import InstanceNode
from pyecs.placement._protocols import PlacementConstraint, PlacementStrategy, PlacementView
from pyecs.placement._sorted import Entry
from pyecs.placement._strategies import BinPack, Random, Spread
from pyecs.placement._types import PlacementRequest

__all__ = ["ROOT", "Selector", "value_counts"]

Indexed: TypeAlias = tuple[tuple[str, ...], Values]
Scope: TypeAlias = Indexed | list[InstanceNode]
Ids: TypeAlias = Container[str]
Levels = tuple[PlacementStrategy, ...]
KeyFn = Callable[[InstanceNode], object]
ROOT: Scope = ((), ())
_FIRST = itemgetter(0)
_NONE: frozenset[str] = frozenset()
_SAMPLES = 8


def _node_id(node: InstanceNode) -> str:
    return node.id


def value_counts(
    groups: dict[str, GroupStats], nodes: dict[str, InstanceNode], group: str, attribute: str
) -> dict[str | None, int]:
    """Tasks of ``group`` per value of ``attribute``, tracked from the first request on."""
    stats = groups.get(group)
    if stats is None:
        stats = groups[group] = GroupStats()
    counts = stats.by_attr.get(attribute)
    if counts is None:
        counts = stats.by_attr[attribute] = {}
        for node_id, count in stats.hosts.items():
            value = nodes[node_id].attributes.get(attribute)
            counts[value] = counts.get(value, 0) + count
    return counts


class Selector:
    """Picks instances for copies of one request, one copy at a time.

    Build it for a ``place`` call (or :meth:`restart` one of an earlier call of the same
    values); between copies the caller reserves the chosen instance, and the indexes and
    counts the selector reads move with it.
    """

    def __init__(
        self,
        indexes: Indexes,
        groups: dict[str, GroupStats],
        view: PlacementView,
        request: PlacementRequest,
        strategies: Levels,
        constraints: tuple[PlacementConstraint, ...],
    ) -> None:
        self.indexes = indexes
        self.nodes = indexes.nodes
        self.groups = groups
        self.view = view
        self.request = request
        self.levels = strategies
        self._random_keys: dict[tuple[int, str], float] = {}
        stats = groups.get(request.group)
        if stats is None:
            stats = groups[request.group] = GroupStats()
        #: The instances with a task of the group (live: it follows each placement).
        self._stats, self._hosts = stats, stats.hosts
        self._key_fns = {id(level): self._key_fn(level) for level in strategies}
        self.sticky = self.by_room = False  # see plan_runs()
        self._planned = False
        #: The constraints (the state reuses a selector for the same request, chain and these).
        self.rules = constraints
        if not constraints:  # the common case: nothing to work out
            self._exclude: Ids = _NONE
            self._resume: dict[tuple[Scope, int], Entry] | None = {}
            self.checks: list[tuple[PlacementConstraint, Callable[[InstanceNode], bool]]] = []
            self._checks: list[Callable[[InstanceNode], bool]] = []
            return
        distinct = any(isinstance(c, DistinctInstance) for c in constraints)
        self._exclude = self._hosts if distinct else _NONE
        #: Where each id-order walk may resume, per scope and exclusion set: the entries
        #: below were skipped for want of room or as excluded, which stays so while
        #: copies of one request are placed (room only shrinks, exclusions only grow).
        #: Only with built-in constraints: a user's may change its mind about any node.
        builtin = all(isinstance(c, DistinctInstance | MemberOf) for c in constraints)
        self._resume = {} if builtin else None
        ranked = sorted(constraints, key=_constraint_cost)
        #: Each constraint with its check, cheapest first.
        self.checks = [(c, self._check_fn(c)) for c in ranked]
        self._checks = [check for _, check in self.checks]

    def restart(self) -> None:
        """Make ready for the copies of another ``place`` call with the same request, chain
        and constraints, all built-in values (a user's object may keep state of its own).

        What a selector works out from them holds as long as they do; only where walks
        may resume is true for one call alone (releases in between make room).
        """
        if self._resume:
            self._resume.clear()

    # -- fitting -------------------------------------------------------------------------

    def _check_fn(self, constraint: PlacementConstraint) -> Callable[[InstanceNode], bool]:
        group, request, view = self.request.group, self.request, self.view
        if isinstance(constraint, DistinctInstance):
            return lambda node: group not in node.groups
        if isinstance(constraint, MemberOf):
            parsed, reads_tasks = constraint.parsed, constraint.reads_tasks

            def member(node: InstanceNode) -> bool:
                stamp = node.version if reads_tasks else node.attr_version
                hit = node.memo.get(constraint)
                if hit is not None and hit[0] == stamp:
                    return hit[1]
                result = parsed.evaluate(node)
                node.memo[constraint] = (stamp, result)
                return result

            return member
        return lambda node: constraint.allows(node, request, view)

    def fits(self, node: InstanceNode) -> bool:
        """Whether a copy may go to the (placeable) ``node``: resources, then constraints."""
        request = self.request
        if node.remaining_cpu < request.cpu or node.remaining_memory < request.memory:
            return False
        if request.tcp_ports and not request.tcp_ports.isdisjoint(node.used_tcp_ports):
            return False
        if request.udp_ports and not request.udp_ports.isdisjoint(node.used_udp_ports):
            return False
        checks = self._checks
        return not checks or all(check(node) for check in checks)

    def plan_runs(self) -> None:
        """Work out :attr:`sticky` and :attr:`by_room` (for calls of several copies)."""
        if self._planned:
            return
        self._planned = True
        builtin = self._resume is not None
        strategies, constraints, request = self.levels, self.rules, self.request
        first = strategies[0] if strategies else None
        #: Whether the instance a copy went to is still the best for the next copy as long
        #: as it fits: the chain is empty (id order) or starts with binpack on a resource
        #: the request takes. Placing there only lowers its key (or keeps it lowest in id
        #: order) and changes no other instance, and the built-in constraints read only
        #: the instance itself; so every instance that ranked ahead still cannot take a
        #: copy and every other still ranks behind. No random level or user's strategy
        #: (the walk draws numbers or calls them, which must happen as it would) and no
        #: user's constraint (it may read anything).
        self.sticky = (
            builtin
            and all(isinstance(level, BinPack | Spread) for level in strategies)
            and (first is None or (isinstance(first, BinPack) and _takes(request, first.field)))
        )
        #: Whether, on top, only cpu and memory decide how many more copies fit there: no
        #: host port (a second copy would clash) and no constraint that reads tasks.
        self.by_room = (
            self.sticky
            and not request.tcp_ports
            and not request.udp_ports
            and all(isinstance(c, MemberOf) and not c.reads_tasks for c in constraints)
        )

    def room(self, node: InstanceNode, most: int) -> int:
        """How many copies in a row, up to ``most``, go to ``node``, the instance just
        selected: all that its cpu and memory hold when :attr:`by_room`, else one."""
        if not self.by_room:
            return 1
        request = self.request
        if request.cpu:
            most = min(most, node.remaining_cpu // request.cpu)
        if request.memory:
            most = min(most, node.remaining_memory // request.memory)
        return most

    def spread_picker(self) -> Callable[[], InstanceNode | None] | None:
        """For ``spread(instanceId)`` alone or after one ``spread`` over an attribute (the
        ECS default for services), a cheaper :meth:`select` while every copy goes to an
        instance without a task of the group; None for other chains.

        Each attribute value keeps one id-order walk of its instances without a task of
        the group, open for the whole call, and its next instance that fits. Between
        copies only the instance just chosen changes (it joins the hosts and so leaves
        the walks), and the built-in constraints read only the instance itself: a new
        walk from the last pick finds the same next instance. Among the values with the
        fewest tasks, the least id of their next instances wins, as the merge of their
        walks in :meth:`select` ranks it. The picker returns None, after which the caller
        must :meth:`select` for every later copy, once such a value has no instance left
        without a task (the walks would go on to instances with some).
        """
        levels = self.levels
        if self._resume is None or not 1 <= len(levels) <= 2:
            return None
        if not all(isinstance(level, Spread) for level in levels):
            return None
        names = [level.attribute for level in levels if isinstance(level, Spread)]
        if names[-1] is not None or (len(names) == 2 and names[0] is None):
            return None
        counts: dict[str | None, int] = {}
        scopes: dict[str | None, Indexed] = {None: ((), ())}
        if len(names) == 2:
            name = names[0]
            assert name is not None
            present = self.indexes.partition((name,)).children.get((), set())
            scopes = {value: ((name,), (value,)) for value in present}
            counts = value_counts(self.groups, self.nodes, self.request.group, name)
        hosts, fits = self._hosts, self.fits
        streams = {
            value: (n for n in self._walk(scope, "id", 0, hosts, resume=True) if fits(n))
            for value, scope in scopes.items()
        }
        heads: dict[str | None, InstanceNode | None] = {}

        def pick() -> InstanceNode | None:
            if not scopes:
                return None
            low = min(counts.get(value, 0) for value in scopes)
            best: InstanceNode | None = None
            where: str | None = None
            for value in scopes:
                if counts.get(value, 0) != low:
                    continue
                if value in heads:
                    node = heads[value]
                else:
                    node = heads[value] = next(streams[value], None)
                if node is None:
                    return None
                if best is None or node.id < best.id:
                    best, where = node, value
            del heads[where]
            return best

        return pick

    def select(self) -> InstanceNode | None:
        """The best instance for the next copy, or None when no instance may take it."""
        self._random_keys.clear()
        fits = self.fits
        for node in self._order(self.levels, ROOT, False, self._exclude):
            if fits(node):
                return node
        return None

    # -- keys ----------------------------------------------------------------------------

    def _key_fn(self, level: PlacementStrategy) -> KeyFn:
        group = self.request.group
        if isinstance(level, BinPack):
            field = level.field
            return lambda node: amount(node, field)
        if isinstance(level, Spread):
            name = level.attribute
            if name is None:
                return lambda node: node.groups.get(group, 0)
            counts = value_counts(self.groups, self.nodes, group, name)
            return lambda node: counts.get(node.attributes.get(name), 0)
        if isinstance(level, Random):
            rng, memo, tag = level.rng, self._random_keys, id(level)

            def random_key(node: InstanceNode) -> float:
                key = memo.get((tag, node.id))
                if key is None:
                    key = memo[(tag, node.id)] = rng.random()
                return key

            return random_key
        request, view = self.request, self.view
        return lambda node: level.placement_key(node, request, view)

    def _sort_key(self, levels: Levels) -> Callable[[InstanceNode], tuple[object, ...]]:
        fns = [self._key_fns[id(level)] for level in levels]
        if len(fns) == 1:
            first = fns[0]
            return lambda node: (first(node), node.id)
        if len(fns) == 2:
            first, second = fns
            return lambda node: (first(node), second(node), node.id)
        return lambda node: (*(fn(node) for fn in fns), node.id)

    # -- walking -------------------------------------------------------------------------

    def _scope_nodes(self, scope: Scope) -> list[InstanceNode]:
        if isinstance(scope, list):
            return scope
        bucket = self.indexes.bucket(*scope)
        nodes = self.nodes
        return [nodes[i] for i in bucket.ids] if bucket is not None else []

    def _walk(
        self, scope: Indexed, field: str, low: int, exclude: Ids, *, resume: bool = False
    ) -> Iterator[InstanceNode]:
        """The scope's instances with room, from ``low`` of ``field`` up (id order for
        ``id``), skipping ``exclude``.

        ``resume`` (id order only) starts where the previous such walk of this selector
        found its first instance: for the copies of one request, each walk would skip the
        same instances again (the hosts of a spread, say), the more the more copies.
        """
        bucket = self.indexes.bucket(*scope)
        if bucket is None:
            return iter(())
        entries = self.indexes.field_entries(bucket, field)
        request = self.request
        start: Entry = (low, "")
        mark: Callable[[Entry], None] | None = None
        cursors = self._resume
        if resume and field == "id" and cursors is not None:
            key = (scope, id(exclude))
            start = max(start, cursors.get(key, start))

            def mark(entry: Entry) -> None:
                cursors[key] = entry

        return entries.walk(start, request.cpu, request.memory, self.nodes, exclude, mark)

    def _generic(
        self, levels: Levels, nodes: Iterable[InstanceNode], exclude: Ids
    ) -> Iterator[InstanceNode]:
        fits = self.fits
        ranked = [node for node in nodes if node.id not in exclude and fits(node)]
        ranked.sort(key=self._sort_key(levels) if levels else _node_id)
        return iter(ranked)

    def _order(
        self, levels: Levels, scope: Scope, keyed: bool, exclude: Ids
    ) -> Iterator[InstanceNode]:
        """The instances of ``scope`` in chain order; some that cannot fit may be left out,
        and those in ``exclude`` are.

        ``keyed`` asks for the exact order of the chain's keys even where the chain leaves
        a choice (``random`` then shuffles by its memoized keys rather than by sampling),
        for merging several streams.
        """
        if not levels:
            if isinstance(scope, list):
                return self._generic((), scope, exclude)
            return self._walk(scope, "id", 0, exclude, resume=True)
        level, rest = levels[0], levels[1:]
        if isinstance(level, Random) and not keyed:
            return self._shuffled(level, scope, exclude)
        if isinstance(scope, list) or not isinstance(level, BinPack | Spread):
            return self._generic(levels, self._scope_nodes(scope), exclude)
        if isinstance(level, BinPack):
            return self._binpack(level, rest, scope, exclude)
        if level.attribute is None:
            return self._spread_instances(rest, scope, keyed, exclude)
        return self._spread_values(level.attribute, rest, scope, keyed, exclude)

    def _binpack(
        self, level: BinPack, rest: Levels, scope: Indexed, exclude: Ids
    ) -> Iterator[InstanceNode]:
        field = level.field
        need = self.request.cpu if field == "cpu" else self.request.memory
        walk = self._walk(scope, field, need, exclude)
        if not rest:
            yield from walk
            return
        run: list[InstanceNode] = []
        run_value = -1
        for node in walk:
            value = amount(node, field)
            if value != run_value:
                if run:
                    yield from self._generic(rest, run, exclude)
                run, run_value = [], value
            run.append(node)
        if run:
            yield from self._generic(rest, run, exclude)

    def _in_scope(self, node: InstanceNode, scope: Indexed) -> bool:
        attrs, values = scope
        if not node.buckets:  # not placeable
            return False
        get = node.attributes.get
        return all(get(name) == value for name, value in zip(attrs, values, strict=True))

    def _spread_instances(
        self, rest: Levels, scope: Indexed, keyed: bool, exclude: Ids
    ) -> Iterator[InstanceNode]:
        stats, hosts, nodes = self._stats, self._hosts, self.nodes
        bucket = self.indexes.bucket(*scope)
        if bucket is None:
            return
        if not hosts or stats.hosts_in(bucket, nodes) < len(bucket.ids):
            yield from self._order(rest, scope, keyed, hosts)  # those without a task first
        if not hosts or exclude is hosts:  # distinctInstance: the others are out anyway
            return
        tiers = stats.count_tiers()
        for count in sorted(tiers):
            members = (node for node in map(nodes.__getitem__, tiers[count]) if node.buckets)
            if scope[0]:
                members = (node for node in members if self._in_scope(node, scope))
            if rest:
                yield from self._generic(rest, members, exclude)
            else:
                yield from members

    def _spread_values(
        self, name: str, rest: Levels, scope: Indexed, keyed: bool, exclude: Ids
    ) -> Iterator[InstanceNode]:
        attrs, values = scope
        sub_attrs = (*attrs, name)
        present = self.indexes.partition(sub_attrs).children.get(values)
        if not present:
            return
        counts = value_counts(self.groups, self.nodes, self.request.group, name)
        tiers: dict[int, list[str | None]] = {}
        for value in sorted(present, key=_value_order):
            tiers.setdefault(counts.get(value, 0), []).append(value)
        for count in sorted(tiers):
            tied = tiers[count]
            if len(tied) == 1:
                yield from self._order(rest, (sub_attrs, (*values, tied[0])), keyed, exclude)
            elif rest and not isinstance(rest[0], BinPack | Spread):
                union: list[InstanceNode] = []
                for value in tied:
                    union.extend(self._scope_nodes((sub_attrs, (*values, value))))
                yield from self._order(rest, union, keyed, exclude)
            else:
                sort_key = self._sort_key(rest)
                streams = [
                    ((sort_key(node), node) for node in self._order(rest, sub, True, exclude))
                    for sub in ((sub_attrs, (*values, value)) for value in tied)
                ]
                for _, node in heapq.merge(*streams, key=_FIRST):
                    yield node

    def _shuffled(self, level: Random, scope: Scope, exclude: Ids) -> Iterator[InstanceNode]:
        """A uniformly random order: a few samples first (usually enough), then a shuffle
        of the instances with room."""
        rng = level.rng
        if not isinstance(scope, list):
            bucket = self.indexes.bucket(*scope)
            if bucket is None:
                return
            ids, nodes = bucket.ids, self.nodes
            for _ in range(min(_SAMPLES, len(ids))):
                node = nodes[ids[rng.randrange(len(ids))]]
                if node.id not in exclude:
                    yield node
            scope = list(self._walk(scope, "id", 0, exclude))
        pool = [node for node in scope if node.id not in exclude]
        size = len(pool)
        for i in range(size):
            j = rng.randrange(i, size)
            pool[i], pool[j] = pool[j], pool[i]
            yield pool[i]


def _value_order(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


def _takes(request: PlacementRequest, field: str) -> bool:
    return bool(request.cpu if field == "cpu" else request.memory)


def _constraint_cost(constraint: PlacementConstraint) -> int:
    if isinstance(constraint, DistinctInstance):
        return 0
    return 1 if isinstance(constraint, MemberOf) else 2
