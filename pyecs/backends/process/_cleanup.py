"""What a process backend of a dead Python process may have left, and removing it.

Its children die with their parent (a watchdog sees to it), so normally nothing is left.
Should the watchdog itself have been killed, the processes whose environment carries the
``PYECS_OWNER=<pid>-<token>`` marker of a dead owner are killed here, and the log
directories of dead owners are deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

from pyecs._pids import pid_alive
from pyecs.backends.process._backend import dead_run_dirs

__all__ = ["process_leftovers"]

_MARKER = re.compile(rb"(?:^|\x00)PYECS_OWNER=(\d+)-[0-9a-f]+(?:\x00|$)")


def _ancestors() -> set[int]:
    pids = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        pids.add(pid)
    return pids


def process_leftovers(kill: bool = True) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Kill processes marked by dead owners and delete dead owners' log directories.

    Args:
        kill: False only finds them.

    Returns:
        The pids killed and the directories removed.
    """
    killed: list[int] = []
    spare = _ancestors()
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) in spare:
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            match = _MARKER.search(environ)
            if match is None or pid_alive(int(match.group(1))):
                continue
            if kill:
                with contextlib.suppress(OSError):
                    os.kill(int(entry.name), signal.SIGKILL)
            killed.append(int(entry.name))
    removed: list[str] = []
    for path in dead_run_dirs():
        if kill:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return tuple(killed), tuple(removed)
