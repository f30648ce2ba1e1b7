"""Choosing and building backends for tests and the CLI, with two testing hooks.

``auto`` means Docker when an engine answers, else the process backend. The backends
built here are the library's own classes with :class:`HookedBackend` mixed in, so they are
still ``isinstance(b, ProcessBackend)`` and keep every attribute, and they can also

- keep the last lines of a container's output when the cluster removes it (a task that
  crashed during a test has its containers removed at once; its logs would be gone when
  the test report is written), and
- *detach*: stop supervising and leave the containers running (``--pyecs-keep``), so a
  Docker task outlives the test for debugging.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import anyio
import attrs

from pyecs.abc import Backend, ContainerExit, TaskLaunch
from pyecs.backends._names import BACKEND_NAMES, BackendName, backend_class
from pyecs.exceptions import InvalidParameterError

__all__ = [
    "BACKEND_CHOICES",
    "BackendChoice",
    "HookedBackend",
    "docker_unavailable",
    "make_backend",
    "resolve_backend",
]

#: What ``--pyecs-backend``, ``PYECS_BACKEND`` and ``pyecs --backend`` accept.
BACKEND_CHOICES: Final = ("auto", *BACKEND_NAMES)

#: Output lines kept per removed container, and how many removed containers are kept.
_TAIL = 200
_KEPT_CONTAINERS = 500


@attrs.frozen
class BackendChoice:
    """The backend a run uses, and why (``"auto: a Docker engine answered"``)."""

    name: BackendName
    reason: str


def docker_unavailable(timeout: float = 3.0) -> str | None:
    """None when a Docker engine answers (``DOCKER_HOST`` or the default socket), else why not."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        return f"the docker SDK is not installed ({exc})"
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
    except Exception as exc:
        return _first_line(exc)
    try:
        client.ping()
    except Exception as exc:
        return _first_line(exc)
    finally:
        client.close()
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def resolve_backend(wanted: str | None = None, source: str = "asked for") -> BackendChoice:
    """Turn ``auto``/``docker``/``process``/``simulated`` into the backend to use.

    Args:
        wanted: The choice; None reads ``PYECS_BACKEND`` (default ``auto``).
        source: Where ``wanted`` came from, for the reason (``--backend``...).

    Raises:
        InvalidParameterError: for an unknown name.
    """
    if wanted is None:
        wanted = os.environ.get("PYECS_BACKEND") or "auto"
        source = "PYECS_BACKEND" if "PYECS_BACKEND" in os.environ else "default"
    wanted = wanted.strip().lower()
    if wanted not in BACKEND_CHOICES:
        raise InvalidParameterError(
            f"unknown backend {wanted!r}; choose one of {', '.join(BACKEND_CHOICES)}"
        )
    if wanted != "auto":
        return BackendChoice(wanted, source)  # type: ignore[arg-type]
    why_not = docker_unavailable()
    if why_not is None:
        return BackendChoice("docker", "auto: a Docker engine answered")
    return BackendChoice("process", f"auto: no Docker engine answered ({why_not})")


def make_backend(name: str, **options: Any) -> Backend:
    """A new backend of that kind, with the testing hooks of :class:`HookedBackend`.

    Args:
        name: ``docker``, ``process`` or ``simulated`` (the names of
            :data:`pyecs.backends.BACKEND_NAMES`).
        **options: Passed to the backend's constructor.

    Raises:
        InvalidParameterError: for an unknown name.
    """
    base = backend_class(name)
    cls = _HOOKED.get(base)
    if cls is None:
        cls = _HOOKED[base] = type(
            base.__name__,
            (HookedBackend, base),
            {"__module__": __name__, "__qualname__": base.__name__, "__doc__": base.__doc__},
        )
    backend: Backend = cls(**options)
    return backend


_HOOKED: dict[type[Backend], type[Backend]] = {}


@attrs.define
class _HookState:
    removed_logs: collections.OrderedDict[str, list[str]] = attrs.field(
        factory=collections.OrderedDict
    )
    capture_lines: int = _TAIL
    before_remove: Callable[[str], Awaitable[None]] | None = None
    detached: bool = False
    detach_event: anyio.Event | None = None


class HookedBackend(Backend):
    """A mixin over a concrete backend (``type(name, (HookedBackend, ProcessBackend), {})``).

    Call its methods from the cluster's event loop only.
    """

    def _pyecs_hooks(self) -> _HookState:
        state: _HookState | None = self.__dict__.get("_pyecs_hook_state")
        if state is None:
            state = self.__dict__["_pyecs_hook_state"] = _HookState()
        return state

    @property
    def removed_logs(self) -> Mapping[str, list[str]]:
        """The last lines of removed containers, by runtime id (the latest 500 containers)."""
        return self._pyecs_hooks().removed_logs

    def set_before_remove(self, hook: Callable[[str], Awaitable[None]] | None) -> None:
        """Await ``hook(runtime_id)`` before a container is removed (the CLI's log readers
        finish there)."""
        self._pyecs_hooks().before_remove = hook

    @property
    def detached(self) -> bool:
        """True once :meth:`detach` was called."""
        return self._pyecs_hooks().detached

    def detach(self) -> None:
        """Stop supervising: from now on stops, removals and task teardowns do nothing.

        The cluster then believes its tasks stopped, while their containers keep running.
        Only a backend whose containers can outlive this process (Docker) keeps them: the
        process backend's children end with the process whatever happens.
        """
        state = self._pyecs_hooks()
        state.detached = True
        if state.detach_event is not None:
            state.detach_event.set()
        # The last-resort sweep in DockerBackend.aclose() would remove them: skip it.
        if hasattr(self, "close_timeout"):
            setattr(self, "close_timeout", 0.0)  # noqa: B010 - not every backend has it

    async def aclose(self) -> None:
        """The backend's close; a detached Docker backend also ends its event readers
        (the skipped sweep would have been followed by that)."""
        await super().aclose()  # type: ignore[safe-super]
        watch = getattr(self, "_watch", None)
        if self._pyecs_hooks().detached and watch is not None:
            watch.close_streams()

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """The backend's wait, which ends at once when the backend is detached."""
        state = self._pyecs_hooks()
        if state.detached:
            return _kept()
        if state.detach_event is None:
            state.detach_event = anyio.Event()
        detach = state.detach_event
        wait = super().wait_container  # type: ignore[safe-super]
        result: list[ContainerExit] = []
        async with anyio.create_task_group() as tg:

            async def exit_() -> None:
                result.append(await wait(runtime_id))
                tg.cancel_scope.cancel()

            async def detached() -> None:
                await detach.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(exit_)
            tg.start_soon(detached)
        return result[0] if result else _kept()

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """The backend's stop, unless detached."""
        if not self._pyecs_hooks().detached:
            await super().stop_container(runtime_id, timeout)  # type: ignore[safe-super]

    async def remove_container(self, runtime_id: str) -> None:
        """Keep the container's last output lines, run the hook, then remove it."""
        state = self._pyecs_hooks()
        if state.detached:
            return
        if state.before_remove is not None:
            with anyio.move_on_after(10):
                await state.before_remove(runtime_id)
        if state.capture_lines and self.capabilities.logs:
            tail = await self._tail(runtime_id, state.capture_lines)
            if tail is not None:
                state.removed_logs[runtime_id] = tail
                while len(state.removed_logs) > _KEPT_CONTAINERS:
                    state.removed_logs.popitem(last=False)
        await super().remove_container(runtime_id)  # type: ignore[safe-super]

    async def _tail(self, runtime_id: str, lines: int) -> list[str] | None:
        out: collections.deque[str] = collections.deque(maxlen=lines)
        with anyio.move_on_after(5):
            try:
                async for line in self.logs(runtime_id):
                    out.append(line)
            except Exception:
                return list(out) or None
        return list(out)

    async def teardown_task(self, task: TaskLaunch) -> None:
        """The backend's teardown, unless detached."""
        if not self._pyecs_hooks().detached:
            await super().teardown_task(task)


def _kept() -> ContainerExit:
    return ContainerExit(None, "kept running for debugging (--pyecs-keep)")
