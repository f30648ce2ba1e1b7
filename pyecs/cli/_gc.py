"""``pyecs gc``: remove what runs of pyecs left behind when they died.

- **Docker**: containers, networks and task volumes labelled by pyecs whose owner process
  is gone (:func:`pyecs.backends.docker.cleanup`); with ``all_owners`` also those of live
  processes (a cluster kept with ``--pyecs-keep`` by a pytest that still runs).
- **Process backend**: its children die with their parent (a watchdog sees to it), so
  normally nothing is left. Should the watchdog itself have been killed, the processes
  whose environment carries the ``PYECS_OWNER=<pid>-<token>`` marker of a dead owner are
  killed here, and the log directories of dead owners are deleted.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

import attrs

from pyecs._pids import pid_alive
from pyecs.backends.process import dead_run_dirs

__all__ = ["GcResult", "collect_garbage", "process_leftovers"]

_MARKER = re.compile(rb"(?:^|\x00)PYECS_OWNER=(\d+)-[0-9a-f]+(?:\x00|$)")


@attrs.frozen
class GcResult:
    """What a collection removed, and what it could not look at."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    processes: tuple[int, ...] = ()
    directories: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing was removed."""
        return not (
            self.containers or self.networks or self.volumes or self.processes or self.directories
        )

    def lines(self) -> list[str]:
        """A human summary, one line per kind."""
        out = []
        for label, items in (
            ("containers", self.containers),
            ("networks", self.networks),
            ("volumes", self.volumes),
            ("processes", tuple(str(p) for p in self.processes)),
            ("log directories", self.directories),
        ):
            if items:
                shown = ", ".join(items[:10]) + (", ..." if len(items) > 10 else "")
                out.append(f"removed {len(items)} {label}: {shown}")
        out.extend(f"skipped: {s}" for s in self.skipped)
        return out


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


async def collect_garbage(
    *, docker: bool = True, processes: bool = True, all_owners: bool = False
) -> GcResult:
    """Remove leftovers of dead pyecs runs (see the module docstring).

    Args:
        docker: Look at the environment's Docker engine (skipped when none answers).
        processes: Look for the process backend's leftovers.
        all_owners: Docker only: also remove what live processes own.
    """
    result = GcResult()
    if processes:
        killed, dirs = process_leftovers()
        result = attrs.evolve(result, processes=killed, directories=dirs)
    if docker:
        from pyecs.testing._backends import docker_unavailable

        why_not = docker_unavailable()
        if why_not is not None:
            return attrs.evolve(result, skipped=(f"Docker: no engine answered ({why_not})",))
        from pyecs.backends.docker import cleanup

        removed = await cleanup(all_owners=all_owners)
        result = attrs.evolve(
            result,
            containers=removed.containers,
            networks=removed.networks,
            volumes=removed.volumes,
        )
    return result
