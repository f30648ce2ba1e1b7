"""Task ids: 32 random hex digits, never repeated, and read afresh in a forked child."""

from __future__ import annotations

import re

import pytest

from pyecs.runtime import _tasks
from pyecs.runtime._tasks import _TaskIds


def test_ids_are_32_hex_digits_and_unique_across_refills() -> None:
    ids = _TaskIds()
    taken = [i for count in (1, 10, 255, 1000, 3, 256, 7) for i in ids.take(count)]
    assert len(taken) == 1532
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in taken)
    assert len(set(taken)) == len(taken)


def test_a_forked_child_does_not_reuse_the_parents_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _TaskIds()
    reads: list[int] = []
    real = _tasks.os.urandom

    def urandom(n: int) -> bytes:
        reads.append(n)
        return real(n)

    monkeypatch.setattr(_tasks.os, "urandom", urandom)
    parent = ids.take(2)
    assert len(reads) == 1  # 256 ids read at once: the next takes need no read
    ids.take(2)
    assert len(reads) == 1
    pid = _tasks.os.getpid()
    monkeypatch.setattr(_tasks.os, "getpid", lambda: pid + 1)  # as in a forked child
    child = ids.take(2)
    assert len(reads) == 2
    assert not set(child) & set(parent)
