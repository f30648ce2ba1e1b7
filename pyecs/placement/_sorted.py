"""A sorted list of ``(key, instance id)`` entries that can skip instances without room.

Entries live in chunks of at most ``2 * _LOAD`` items with a list of each chunk's largest
entry, so finding, adding and removing cost a binary search plus a memmove of one chunk,
whatever the number of instances.

Each chunk also keeps *caps*: bounds on the largest remaining cpu and memory of its
instances. A walk for a task skips whole chunks whose caps are below what the task needs,
so instances that ran out of cpu but still have memory (or the reverse) are not looked at
one by one on every placement. Caps may be too high (removals and placements do not lower
them) but never too low; a walk that reads a whole chunk sets its caps exactly.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Container, Iterable, Iterator, Mapping

from pyecs.placement._node import InstanceNode

__all__ = ["Entry", "SortedEntries"]

Entry = tuple[int, str]
_LOAD = 64


class SortedEntries:
    """Entries in ascending order, with per-chunk resource caps; no duplicates."""

    __slots__ = ("_chunks", "_cpu", "_maxes", "_memory")

    def __init__(self, entries: Iterable[tuple[Entry, int, int]] = ()) -> None:
        """Build from ``(entry, remaining cpu, remaining memory)`` triples."""
        ordered = sorted(entries)
        self._chunks: list[list[Entry]] = []
        self._maxes: list[Entry] = []
        self._cpu: list[int] = []
        self._memory: list[int] = []
        for start in range(0, len(ordered), _LOAD):
            part = ordered[start : start + _LOAD]
            self._chunks.append([entry for entry, _, _ in part])
            self._maxes.append(part[-1][0])
            self._cpu.append(max(cpu for _, cpu, _ in part))
            self._memory.append(max(memory for _, _, memory in part))

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self._chunks)

    def __iter__(self) -> Iterator[Entry]:
        for chunk in self._chunks:
            yield from chunk

    def add(self, entry: Entry, cpu: int, memory: int) -> None:
        """Insert ``entry``, whose instance has ``cpu`` and ``memory`` remaining."""
        maxes, chunks = self._maxes, self._chunks
        if not maxes:
            chunks.append([entry])
            maxes.append(entry)
            self._cpu.append(cpu)
            self._memory.append(memory)
            return
        i = bisect_left(maxes, entry)
        if i == len(maxes):
            i -= 1
            chunk = chunks[i]
            chunk.append(entry)
            maxes[i] = entry
        else:
            chunk = chunks[i]
            insort(chunk, entry)
        if cpu > self._cpu[i]:
            self._cpu[i] = cpu
        if memory > self._memory[i]:
            self._memory[i] = memory
        if len(chunk) > 2 * _LOAD:
            tail = chunk[_LOAD:]
            del chunk[_LOAD:]
            maxes[i] = chunk[-1]
            chunks.insert(i + 1, tail)
            maxes.insert(i + 1, tail[-1])
            self._cpu.insert(i + 1, self._cpu[i])
            self._memory.insert(i + 1, self._memory[i])

    def _find(self, entry: Entry) -> tuple[int, int]:
        i = bisect_left(self._maxes, entry)
        if i < len(self._maxes):
            chunk = self._chunks[i]
            j = bisect_left(chunk, entry)
            if j < len(chunk) and chunk[j] == entry:
                return i, j
        raise KeyError(entry)

    def remove(self, entry: Entry) -> None:
        """Remove ``entry``, which must be present.

        Raises:
            KeyError: ``entry`` is not in the list (an index out of step: a bug).
        """
        i, j = self._find(entry)
        chunk = self._chunks[i]
        del chunk[j]
        if not chunk:
            del self._chunks[i], self._maxes[i], self._cpu[i], self._memory[i]
        elif j == len(chunk):
            self._maxes[i] = chunk[-1]

    def raise_caps(self, entry: Entry, cpu: int, memory: int) -> None:
        """Record that the instance of ``entry`` (present) now has more room."""
        i, _ = self._find(entry)
        if cpu > self._cpu[i]:
            self._cpu[i] = cpu
        if memory > self._memory[i]:
            self._memory[i] = memory

    def walk(
        self,
        low: Entry,
        cpu: int,
        memory: int,
        nodes: Mapping[str, InstanceNode],
        exclude: Container[str],
        mark: Callable[[Entry], None] | None = None,
    ) -> Iterator[InstanceNode]:
        """The instances of the entries at or above ``low``, in order, that have ``cpu`` and
        ``memory`` left and are not in ``exclude``. Do not change the list meanwhile.

        ``mark`` is called with the first entry yielded, before it is: every entry from
        ``low`` up to it was skipped.
        """
        chunks, caps_cpu, caps_memory = self._chunks, self._cpu, self._memory
        i = bisect_left(self._maxes, low)
        start = bisect_left(chunks[i], low) if i < len(chunks) else 0
        while i < len(chunks):
            if caps_cpu[i] >= cpu and caps_memory[i] >= memory:
                chunk = chunks[i]
                top_cpu = top_memory = 0
                for j in range(start, len(chunk)):
                    node = nodes[chunk[j][1]]
                    node_cpu, node_memory = node.remaining_cpu, node.remaining_memory
                    if node_cpu > top_cpu:
                        top_cpu = node_cpu
                    if node_memory > top_memory:
                        top_memory = node_memory
                    if node_cpu >= cpu and node_memory >= memory and node.id not in exclude:
                        if mark is not None:
                            mark(chunk[j])
                            mark = None
                        yield node
                if not start:  # read whole: the caps can be exact
                    caps_cpu[i], caps_memory[i] = top_cpu, top_memory
            i += 1
            start = 0
