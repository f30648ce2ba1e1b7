"""Which target gets the next connection: pure, synchronous, easy to test.

Both algorithms look at the targets that may take traffic, in registration order, and
skip the ones a connection has already failed on.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from typing import Protocol, TypeVar

__all__ = ["Candidate", "LeastOutstanding", "Picker", "RoundRobin", "make_picker"]


class Candidate(Protocol):
    """What a picker needs to know of a target."""

    @property
    def key(self) -> Hashable:
        """Identifies the target (its task ARN)."""
        ...

    @property
    def outstanding(self) -> int:
        """Connections open to it now."""
        ...


T = TypeVar("T", bound=Candidate)


class Picker(Protocol):
    """An algorithm: choose one of ``targets`` not in ``exclude``, or None."""

    def pick(self, targets: Sequence[T], exclude: Collection[Hashable] = ()) -> T | None:
        """The target for the next connection."""
        ...


class RoundRobin:
    """Each target in turn, whatever it is doing.

    "In turn" follows the targets, not list positions: the next pick is the target after
    the one picked last, so targets coming and going never starve one of them.
    """

    def __init__(self) -> None:
        self._last: Hashable | None = None
        self._next = 0

    def pick(self, targets: Sequence[T], exclude: Collection[Hashable] = ()) -> T | None:
        """The next target after the one picked last."""
        n = len(targets)
        start = self._next
        for i, target in enumerate(targets):
            if target.key == self._last:
                start = i + 1
                break
        for i in range(n):
            target = targets[(start + i) % n]
            if target.key not in exclude:
                self._last = target.key
                self._next = (start + i + 1) % n
                return target
        return None


class LeastOutstanding:
    """The target with the fewest open connections; ties go round robin."""

    def __init__(self) -> None:
        self._tie = RoundRobin()

    def pick(self, targets: Sequence[T], exclude: Collection[Hashable] = ()) -> T | None:
        """A least-loaded target."""
        usable = [t for t in targets if t.key not in exclude]
        if not usable:
            return None
        fewest = min(t.outstanding for t in usable)
        return self._tie.pick([t for t in usable if t.outstanding == fewest])


def make_picker(algorithm: str) -> RoundRobin | LeastOutstanding:
    """The picker for ``round_robin`` or ``least_outstanding_requests``."""
    return LeastOutstanding() if algorithm == "least_outstanding_requests" else RoundRobin()
