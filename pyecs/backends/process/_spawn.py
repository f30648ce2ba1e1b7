"""Spawning, watching and reaping the process backend's children.

Every child runs in a session and process group of its own (``start_new_session``), so that
a stop signal reaches the whole "container" (a shell and what it started) and a Ctrl-C in
the terminal does not. Nothing a container starts may outlive the Python process that
supervises it, even when that process is SIGKILLed and runs no cleanup at all: the
backend's :class:`~pyecs.backends.process._watchdog.Watchdog` sees to that. Children that
need setup between ``fork`` and ``exec`` (ulimits, another user) get it in a
``preexec_fn``, and there they also ask for ``PR_SET_PDEATHSIG`` = SIGKILL (so does every
child while no watchdog runs). The setting belongs to the *thread* that forked the child,
so such children are always spawned on the event loop's thread, never in a worker thread
(anyio's idle workers exit, and would take the children with them). Other children skip
the ``preexec_fn``: it makes ``subprocess`` use ``fork`` instead of the ``vfork`` fast
path, about 5x slower from a large process. They spawn on the event loop's thread too when
they start alone, and in worker threads when several start at once (the backend decides).

Exits are awaited without polling and without a thread where the kernel offers a pidfd
(Linux 5.3+): the pidfd becomes readable when the child exits. Elsewhere a worker thread
waits with ``waitid(..., WNOWAIT)``. Either way the child is only *observed* to have exited,
not reaped, so that its process group can still be killed safely (the zombie leader keeps
the group id from being reused) before :meth:`Child.reap` collects the exit status.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

import anyio
import anyio.to_thread
import attrs

__all__ = ["Child", "SpawnSpec", "argv0_error", "docker_exit_code", "kill_group"]

_PR_SET_PDEATHSIG = 1
_HAS_PIDFD = sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - libc without prctl
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, in the parent: the child between fork and exec only calls it.
_PRCTL = _load_prctl()


@attrs.frozen
class SpawnSpec:
    """How to start one program.

    Attributes:
        argv: The program and its arguments (the program is looked up in ``env["PATH"]``).
        env: The complete environment.
        cwd: The working directory.
        rlimits: ``(resource, soft, hard)`` limits set in the child before ``exec``.
        uid: Switch to this user before ``exec`` (needs root); None keeps the current one.
        gid: Switch to this group before ``exec``.
        groups: The supplementary groups to set with the user.
    """

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    rlimits: tuple[tuple[int, int, int], ...] = ()
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None

    @property
    def needs_setup(self) -> bool:
        """Whether something must happen between ``fork`` and ``exec``."""
        return bool(self.rlimits) or self.uid is not None or self.gid is not None


def _child_setup(
    parent_pid: int,
    rlimits: tuple[tuple[int, int, int], ...],
    uid: int | None,
    gid: int | None,
    groups: tuple[int, ...] | None,
    death_signal: int,
) -> None:  # pragma: no cover - runs in the child, between fork and exec
    # Limits first, while still privileged (raising a hard limit needs root).
    for res, soft, hard in rlimits:
        resource.setrlimit(res, (soft, hard))
    if groups is not None:
        os.setgroups(list(groups))
    if gid is not None:
        os.setgid(gid)  # as root: real, effective and saved ids
    if uid is not None:
        os.setuid(uid)
    # After the user switch: changing the effective uid clears the parent-death signal.
    if _PRCTL is not None:
        if death_signal != signal.SIGKILL:
            # A signal the program handles (the watchdog's SIGTERM) stays blocked until the
            # program has installed its handler and unblocks it: a parent that dies while
            # the new interpreter still boots must not kill it before it can act.
            signal.pthread_sigmask(signal.SIG_BLOCK, {death_signal})
        _PRCTL(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent_pid and death_signal == signal.SIGKILL:
            os.kill(os.getpid(), signal.SIGKILL)  # the parent died before prctl took effect


class Child:
    """One spawned process and the group it leads."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid
        self._pidfd: int | None = None
        if _HAS_PIDFD:
            with contextlib.suppress(OSError):  # ENOSYS in some sandboxes: use a thread
                self._pidfd = os.pidfd_open(popen.pid)
        self.returncode: int | None = None
        #: The exit was observed (the process may still await :meth:`reap`).
        self.exit_seen = False

    @classmethod
    def spawn(
        cls,
        spec: SpawnSpec,
        *,
        stdin: int = subprocess.DEVNULL,
        output: int = subprocess.DEVNULL,
        death_signal: int | None = None,
    ) -> Child:
        """Start ``spec`` in a new session (its own process group); blocking, but short.

        Args:
            spec: What to run.
            stdin: The child's stdin.
            output: Where its stdout and stderr go.
            death_signal: The parent-death signal to ask for; None asks for SIGKILL only
                when the spec needs a ``preexec_fn`` anyway (ulimits, a user switch).

        Raises:
            OSError: the program or the working directory cannot be found or executed.
            subprocess.SubprocessError: a limit or the user could not be applied.
        """
        setup: Callable[[], None] | None = None
        if death_signal is not None or spec.needs_setup:
            setup = functools.partial(
                _child_setup,
                os.getpid(),
                spec.rlimits,
                spec.uid,
                spec.gid,
                spec.groups,
                signal.SIGKILL if death_signal is None else death_signal,
            )
        popen = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=stdin,
            stdout=output,
            stderr=output,
            start_new_session=True,
            preexec_fn=setup,
            close_fds=True,
        )
        return cls(popen)

    @property
    def exited(self) -> bool:
        """True once reaped."""
        return self.returncode is not None

    async def wait_exit(self) -> None:
        """Return once the process has exited (it is not reaped: see :meth:`reap`)."""
        if self.exit_seen or self.returncode is not None:
            return
        if self._pidfd is not None:
            await anyio.wait_readable(self._pidfd)
        else:
            # One thread per waiting child: a limiter would delay the exits it queues.
            await anyio.to_thread.run_sync(
                _wait_no_reap, self.pid, abandon_on_cancel=True, limiter=_unlimited()
            )
        self.exit_seen = True

    def has_exited(self) -> bool:
        """Whether the process has exited (checked now, without reaping it)."""
        if self.exit_seen or self.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:  # pragma: no cover - reaped behind our back
            return True

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process of the group; a no-op once the leader has been reaped."""
        if self.returncode is None:
            kill_group(self.pid, sig)

    def reap(self) -> int:
        """Collect the exit status (blocks until the exit; call after :meth:`wait_exit`)."""
        if self.returncode is None:
            self.returncode = self.popen.wait()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return self.returncode


def _unlimited() -> anyio.CapacityLimiter:
    return anyio.CapacityLimiter(1)  # a limiter of its own for every wait


def _wait_no_reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def kill_group(pgid: int, sig: int) -> None:
    """``killpg``, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def docker_exit_code(returncode: int) -> int:
    """The exit code Docker would report: killed by signal N is 128 + N (SIGKILL: 137)."""
    return 128 - returncode if returncode < 0 else returncode


def argv0_error(argv: Sequence[str], exc: OSError) -> str:
    """Docker's wording for a program that cannot be executed."""
    prog = argv[0] if argv else ""
    if isinstance(exc, FileNotFoundError):
        where = "" if os.sep in prog else " in $PATH"
        return (
            f'exec: "{prog}": executable file not found{where}; use an absolute path, '
            'or set PATH in "environment"'
        )
    if isinstance(exc, PermissionError):
        return f'exec: "{prog}": permission denied; make it executable (chmod +x)'
    return f'exec: "{prog}": {exc.strerror or exc}'
