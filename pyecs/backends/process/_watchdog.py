"""The process backend's watchdog: what our containers started dies when we die.

One small helper process per open backend. Its stdin is a pipe whose only write end we
hold: when this Python process exits, *however* it exits (SIGKILL included), the kernel
closes that end and the watchdog reads end of file. It also has a parent-death signal
(SIGTERM) as a second trigger. Then it SIGKILLs:

1. every process group listed in the backend's *groups file* (``+<pgid>`` / ``-<pgid>``
   lines, appended as containers start and end: an append to a file costs microseconds
   and wakes no one, unlike a message to the watchdog);
2. every process whose ``/proc/<pid>/environ`` holds the owner marker
   (``PYECS_OWNER=<token>``, set in every container's environment and inherited by what it
   starts). This finds programs that left their group (``setsid``, daemons) and a child
   spawned an instant before we died, before it could be listed. The scan repeats a few
   times, to catch processes forked meanwhile and children still between fork and exec.

Last, it removes the backend's temporary directory (the groups file's) with the logs.
The backend's ``aclose`` closes the pipe too, so the same sweep removes daemons the
containers left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio

from pyecs.backends.process._spawn import Child, SpawnSpec

__all__ = ["Watchdog"]

log = logging.getLogger("pyecs.backends.process")

# Rewrite the groups file with only the live groups past this many lines.
_COMPACT_AFTER = 10_000

_SCRIPT = """\\
import os, shutil, signal, sys, time
marker, groups_file = sys.argv[1].encode(), sys.argv[2]
def marked():
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if name.isdigit():
            try:
                with open("/proc/" + name + "/environ", "rb") as f:
                    if marker in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found
def kill_all(*_):
    groups = set()
    try:
        with open(groups_file, "rb") as f:
            for line in f:
                if line[:1] == b"+":
                    groups.add(int(line[1:]))
                elif line[:1] == b"-":
                    groups.discard(int(line[1:]))
    except (OSError, ValueError):
        pass
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass
    for round in range(10):
        pids = marked()
        if not pids and round >= 3:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    shutil.rmtree(os.path.dirname(groups_file), ignore_errors=True)
    os._exit(0)
signal.signal(signal.SIGTERM, kill_all)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked since the spawn
while sys.stdin.buffer.read(4096):
    pass
kill_all()
"""


class Watchdog:
    """The helper process, and the groups file it reads when we die."""

    def __init__(self, child: Child, pipe: int, groups_file: Path) -> None:
        self._child = child
        self._pipe: int | None = pipe
        self._groups_file = groups_file
        self._file = os.open(groups_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._groups: set[int] = set()
        self._lines = 0

    @classmethod
    def start(cls, marker: str, groups_file: Path, python: str = sys.executable) -> Watchdog | None:
        """Start the watchdog; None (and a warning) when it cannot be started.

        Args:
            marker: The ``NAME=value`` environment entry that marks our processes.
            groups_file: Where the process groups in use are listed.
            python: The interpreter that runs the watchdog.
        """
        groups_file.touch(mode=0o600)
        read_end, write_end = os.pipe()  # both ends are non-inheritable (PEP 446)
        argv = (python, "-I", "-S", "-c", _SCRIPT, marker, str(groups_file))
        try:
            child = Child.spawn(
                SpawnSpec(argv=argv, env={}, cwd=os.sep),
                stdin=read_end,
                death_signal=signal.SIGTERM,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(write_end)
            log.warning(
                "pyecs process backend: no watchdog (%s); what containers start themselves "
                "may outlive a killed Python",
                exc,
            )
            return None
        finally:
            os.close(read_end)
        return cls(child, write_end, groups_file)

    @property
    def alive(self) -> bool:
        """False once the watchdog is gone (then children get a parent-death signal)."""
        return self._pipe is not None and not self._child.has_exited()

    def _append(self, line: bytes) -> None:
        try:
            os.write(self._file, line)
            self._lines += 1
            if self._lines > _COMPACT_AFTER:
                tmp = self._groups_file.with_suffix(".new")
                tmp.write_bytes(b"".join(b"+%d\n" % g for g in self._groups))
                os.replace(tmp, self._groups_file)  # the watchdog reads the old or the new
                new = os.open(self._groups_file, os.O_WRONLY | os.O_APPEND)
                os.close(self._file)
                self._file = new
                self._lines = len(self._groups)
        except OSError as exc:  # the directory is gone (the watchdog was told to sweep)
            log.warning("pyecs process backend: cannot update the watchdog's list: %s", exc)

    def register(self, pgid: int) -> None:
        """Kill group ``pgid`` if we die before :meth:`forget`."""
        self._groups.add(pgid)
        self._append(b"+%d\n" % pgid)

    def forget(self, pgid: int) -> None:
        """Group ``pgid`` ended (call before its leader is reaped)."""
        self._groups.discard(pgid)
        self._append(b"-%d\n" % pgid)

    async def aclose(self) -> None:
        """Let the watchdog sweep (daemons the containers left behind) and exit; reap it."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(5):
                await self._child.wait_exit()
            if not self._child.exit_seen:
                self._child.kill_group(signal.SIGKILL)
                await self._child.wait_exit()
            self._child.reap()
        os.close(self._file)
