"""A second Docker engine on this machine, for multi-engine tests: start it, stop it.

The second ``dockerd`` gets everything of its own: ``--data-root``, ``--exec-root``,
``--pidfile``, a socket (``unix:///run/pyecs-test-docker2.sock``) and a bridge (``pyecs1``,
10.199.1.1/24) created before it starts. Never ``--bridge none``: that has been seen to
remove the first engine's ``docker0`` (docs: /work/shared/DESIGN.md). It also runs with
``--iptables=false``: a bridge driver that manages iptables flushes the shared ``DOCKER``
chains when it starts, which would take the first engine's port rules away. Published ports
still work through docker-proxy, the userland proxy, which both engines use for 127.0.0.1.

:class:`SecondEngine` is a context manager; leaving it always stops the daemon (SIGTERM,
then SIGKILL), unmounts what it left mounted, and removes the bridge and the directories.
A file lock serializes two test runs on one machine; what a crashed earlier run left (a
daemon, mounts, the bridge) is removed before starting.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import docker
import docker.errors
import requests

__all__ = ["SOCKET_URL", "SecondEngine", "SecondEngineError", "unavailable"]

SOCKET: Final = Path("/run/pyecs-test-docker2.sock")
SOCKET_URL: Final = f"unix://{SOCKET}"
PIDFILE: Final = Path("/run/pyecs-test-docker2.pid")
LOCKFILE: Final = Path("/run/pyecs-test-docker2.lock")
EXEC_ROOT: Final = Path("/run/pyecs-test-docker2")
#: On the same file system as /var/lib/docker, which is known to carry overlay2.
DATA_ROOT: Final = Path("/var/lib/pyecs-test-docker2")
LOG: Final = Path("/var/log/pyecs-test-docker2.log")
BRIDGE: Final = "pyecs1"
BRIDGE_ADDRESS: Final = "10.199.1.1/24"
#: User-defined networks of the second engine come from here (the first engine uses
#: 172.17-31.x and 192.168.x): two engines never pick the same subnet.
ADDRESS_POOL: Final = "base=10.199.128.0/17,size=24"
#: The address the second engine publishes ports on by default (``--ip``).
DEFAULT_BIND_IP: Final = "127.0.0.2"


class SecondEngineError(RuntimeError):
    """The second engine could not be started (the message has the end of its log)."""


def unavailable() -> str | None:
    """Why a second engine cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "a second dockerd (and its bridge) needs root"
    for program in ("ip", "dockerd"):
        if shutil.which(program) is None:
            return f"no {program!r} on PATH (Debian: apt-get install -y iproute2 docker.io)"
    return None


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if check and done.returncode != 0:
        raise SecondEngineError(
            f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done


def _bridge_exists() -> bool:
    return _run("ip", "link", "show", BRIDGE, check=False).returncode == 0


def _mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below ``roots``, deepest first (``/proc/self/mountinfo``)."""
    found: list[str] = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    prefixes = [str(r) for r in roots]
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].encode().decode("unicode_escape")  # \040 for a space...
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _dockerd_of_pidfile() -> int | None:
    """The pid in our pid file, if it is a live dockerd serving our socket."""
    try:
        pid = int(PIDFILE.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if cmdline and cmdline[0].endswith(b"dockerd") and str(SOCKET).encode() in b" ".join(cmdline):
        return pid
    return None


def _parents() -> dict[int, int]:
    """Every process's parent pid (``/proc/<pid>/stat``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def _processes_of_exec_root() -> list[int]:
    """A crashed run's containerd and shims (their command line names our exec root) and
    every process below them (the containers), children first."""
    marker = str(EXEC_ROOT).encode()
    roots = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            roots.append(int(entry.name))
    parents = _parents()
    found: list[int] = []
    frontier = roots
    while frontier:
        found = frontier + found
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
    return list(dict.fromkeys(found))


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        time.sleep(0.1)
    return False


def _dockerd_major() -> int | None:
    """The major version of the ``dockerd`` on PATH (``Docker version 20.10.24+dfsg1...``)."""
    out = _run("dockerd", "--version", check=False).stdout
    match = re.search(r"version (\d+)\.", out)
    return int(match.group(1)) if match else None


def _config() -> dict[str, str]:
    """The second daemon's ``--config-file`` contents.

    Before Docker 23 the engine ID (``docker info`` ID) comes from the trust key, by
    default /etc/docker/key.json: shared, it would give both engines one ID, and pyecs
    refuses two URLs of one engine. So the second engine gets a key of its own. (Docker 23
    and later keep an ID per data root, and reject the setting.)
    """
    major = _dockerd_major()
    if major is not None and major < 23:
        return {"deprecated-key-path": str(DATA_ROOT / "key.json")}
    return {}


class SecondEngine:
    """A second dockerd with its own bridge, socket and directories.

    Args:
        start_timeout: Seconds to wait for the engine to answer (a fresh machine that has
            just started its first engine can be slow).
    """

    def __init__(self, start_timeout: float = 120.0) -> None:
        self.url = SOCKET_URL
        self.start_timeout = start_timeout
        self.client: docker.DockerClient | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> SecondEngine:
        self._acquire_lock()
        try:
            self._remove_leftovers()
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start -------------------------------------------------------------------------------

    def _acquire_lock(self, timeout: float = 600.0) -> None:
        """Wait for another test run's second engine to be gone (one at a time)."""
        lock = LOCKFILE.open("a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    raise SecondEngineError(
                        f"another test run holds {LOCKFILE} (its second engine) for over "
                        f"{timeout:.0f} s; wait for it, or end it"
                    ) from None
                time.sleep(0.5)
        self._lock = lock

    def _start(self) -> None:
        _run("ip", "link", "add", "name", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        DATA_ROOT.mkdir(parents=True)
        EXEC_ROOT.mkdir(parents=True)
        config = DATA_ROOT.parent / f"{DATA_ROOT.name}.json"
        # A config of its own: not /etc/docker/daemon.json, whatever that holds.
        config.write_text(json.dumps(_config()))
        LOG.parent.mkdir(parents=True, exist_ok=True)
        self._log = LOG.open("wb")
        argv = [
            "dockerd",
            "--host",
            self.url,
            "--config-file",
            str(config),
            "--data-root",
            str(DATA_ROOT),
            "--exec-root",
            str(EXEC_ROOT),
            "--pidfile",
            str(PIDFILE),
            "--bridge",
            BRIDGE,
            "--ip",
            DEFAULT_BIND_IP,
            "--iptables=false",
            "--ip-masq=false",
            "--default-address-pool",
            ADDRESS_POOL,
            # Only used if a system containerd serves /run/containerd: keep apart from the
            # first engine's "moby" namespace there.
            "--containerd-namespace",
            "pyecs-test-docker2",
            "--containerd-plugins-namespace",
            "pyecs-test-docker2-plugins",
        ]
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SecondEngineError(
                    f"the second dockerd exited with {self._process.returncode}; "
                    f"end of {LOG}:\n{_tail(LOG)}"
                )
            if SOCKET.exists():
                client = docker.DockerClient(base_url=self.url, timeout=30)
                try:
                    client.ping()
                    client.info()
                    self.client = client
                    return
                except (docker.errors.DockerException, requests.RequestException, OSError) as e:
                    last = e
                    client.close()
            time.sleep(0.25)
        raise SecondEngineError(
            f"the second dockerd did not answer at {self.url} within {self.start_timeout:.0f} s "
            f"({last}); end of {LOG}:\n{_tail(LOG)}"
        )

    # -- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the daemon and remove its bridge and directories (idempotent)."""
        try:
            if self.client is not None:
                with contextlib.suppress(Exception):
                    self.client.close()
                self.client = None
            if self._process is not None and self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=30)
            self._process = None
            if self._log is not None:
                self._log.close()
                self._log = None
            self._remove_leftovers()
        finally:
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None

    def _remove_leftovers(self) -> None:
        """Remove whatever a second engine (this one, or a crashed run's) left behind."""
        pid = _dockerd_of_pidfile()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 30):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        for pid in _processes_of_exec_root():  # only when dockerd itself was killed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
        for point in _mounts_under(EXEC_ROOT, DATA_ROOT):
            _run("umount", "-l", point, check=False)
        for directory in (EXEC_ROOT, DATA_ROOT):
            shutil.rmtree(directory, ignore_errors=True)
        for path in (SOCKET, PIDFILE, DATA_ROOT.parent / f"{DATA_ROOT.name}.json"):
            path.unlink(missing_ok=True)
        if _bridge_exists():
            _run("ip", "link", "delete", BRIDGE, check=False)
