"""CPU time and memory of process groups, read from ``/proc`` in one pass.

A container of the process backend is a process group (its leader's pid is the group
id). One scan of ``/proc/<pid>/stat`` per metrics period serves every container: the
group's CPU time is the sum of its members' user and system time, including the time of
children they already reaped (``cutime``/``cstime``), so it only grows; its memory is
the sum of the members' resident set sizes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pyecs.abc import ContainerUsage

__all__ = ["group_usage"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_MIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) / 1048576


def group_usage(pgids: Iterable[int], proc: str = "/proc") -> Mapping[int, ContainerUsage]:
    """Usage of each process group in ``pgids`` that still has a member.

    One pass over ``/proc``: about a millisecond per hundred processes.
    """
    wanted = set(pgids)
    ticks: dict[int, int] = {}
    pages: dict[int, int] = {}
    if not wanted:
        return {}
    try:
        entries = os.listdir(proc)
    except OSError:
        return {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # gone meanwhile
        # The command may contain spaces and parentheses: the fields follow the last ")".
        fields = raw[raw.rfind(b")") + 2 :].split()
        if len(fields) < 22:
            continue
        pgrp = int(fields[2])
        if pgrp not in wanted:
            continue
        # Fields 14-17 of stat(5) (utime, stime, cutime, cstime), 24 (rss in pages).
        ticks[pgrp] = ticks.get(pgrp, 0) + sum(int(v) for v in fields[11:15])
        pages[pgrp] = pages.get(pgrp, 0) + int(fields[21])
    return {g: ContainerUsage(ticks[g] / _TICKS, pages.get(g, 0) * _PAGE_MIB) for g in ticks}
