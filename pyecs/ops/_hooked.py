"""Backends with the hooks the front ends need: :class:`HookedBackend` and :func:`make_backend`.

:class:`HookedBackend` wraps any backend and delegates every call through the public
:class:`~pyecs.abc.Backend` API. It adds what the CLI and the pytest plugin need:

- it keeps the last lines of a container's output when the cluster removes it (a task that
  crashed during a test has its containers removed at once; its logs would be gone when
  the test report is written);
- it awaits a hook before each removal (the CLI's log readers finish there);
- it can *detach*: stop supervising and leave the containers running (``--pyecs-keep``),
  on a backend whose containers outlive this process
  (:attr:`~pyecs.abc.BackendCapabilities.containers_outlive_process`).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol, runtime_checkable

import anyio

from pyecs.abc import (
    AdoptedTask,
    Backend,
    ClusterContext,
    ContainerExit,
    ContainerLaunch,
    ContainerUsage,
    StartedContainer,
    TaskLaunch,
)
from pyecs.backends._names import backend_from_name
from pyecs.exceptions import InvalidParameterError
from pyecs.models.instance import InstanceSpec
from pyecs.models.security_group import SecurityPolicy
from pyecs.models.task import HealthStatus

__all__ = ["HookedBackend", "LeavesRunning", "make_backend"]

#: Output lines kept per removed container, and how many removed containers are kept.
_TAIL: Final = 200
_KEPT_CONTAINERS: Final = 500
#: How long a removal waits for the hook, and for the output of the container to be read.
_HOOK_WAIT: Final = 10.0
_TAIL_WAIT: Final = 5.0


@runtime_checkable
class LeavesRunning(Protocol):
    """A backend that can leave its containers running when it closes
    (:meth:`pyecs.backends.DockerBackend.leave_running`)."""

    def leave_running(self) -> None:
        """Make ``aclose()`` remove nothing."""


def make_backend(name: str, **options: Any) -> HookedBackend:
    """A new backend of that kind (through the registry), wrapped in :class:`HookedBackend`.

    Args:
        name: ``docker``, ``process`` or ``simulated`` (the names of
            :data:`pyecs.backends.BACKEND_NAMES`).
        **options: Passed to the backend's constructor.

    Raises:
        InvalidParameterError: for an unknown name.
    """
    return HookedBackend(backend_from_name(name, **options))


class HookedBackend(Backend):
    """Any backend, plus the hooks of the CLI and the pytest plugin.

    Every :class:`~pyecs.abc.Backend` call goes to the wrapped backend (:attr:`wrapped`);
    ``name`` and ``capabilities`` are its. Other public attributes of the wrapped backend
    (``ProcessBackend.pid``, ``DockerBackend.docker_client``,
    ``SimulatedBackend.set_behavior``...) are forwarded too. Call its methods from the
    cluster's event loop only.

    Args:
        backend: The backend to wrap.
        capture_lines: Output lines to keep of each removed container (0: none).
    """

    def __init__(self, backend: Backend, *, capture_lines: int = _TAIL) -> None:
        if not isinstance(backend, Backend):
            raise InvalidParameterError(
                f"HookedBackend wraps a pyecs.abc.Backend, not {type(backend).__name__}"
            )
        # Backend declares these as class variables; a wrapper reports its backend's.
        vars(self).update(name=backend.name, capabilities=backend.capabilities)
        self._backend = backend
        self._capture_lines = capture_lines
        self._removed_logs: collections.OrderedDict[str, list[str]] = collections.OrderedDict()
        self._before_remove: Callable[[str], Awaitable[None]] | None = None
        self._detached = False
        self._detach_event: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"<HookedBackend {self._backend!r}>"

    def __getattr__(self, name: str) -> Any:
        """Forward a public attribute the wrapped backend has beyond the Backend API."""
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(self._backend, name)

    # -- the hooks -------------------------------------------------------------------------

    @property
    def wrapped(self) -> Backend:
        """The backend this one delegates to."""
        return self._backend

    @property
    def removed_logs(self) -> Mapping[str, list[str]]:
        """The last lines of removed containers, by runtime id (the latest 500 containers)."""
        return self._removed_logs

    def set_before_remove(self, hook: Callable[[str], Awaitable[None]] | None) -> None:
        """Await ``hook(runtime_id)`` before a container is removed (at most 10 s)."""
        self._before_remove = hook

    @property
    def can_keep(self) -> bool:
        """Whether :meth:`detach` leaves containers running after this process: the wrapped
        backend's containers outlive the process, and it can leave them on close."""
        return self.capabilities.containers_outlive_process and isinstance(
            self._backend, LeavesRunning
        )

    @property
    def detached(self) -> bool:
        """True once :meth:`detach` was called."""
        return self._detached

    def detach(self) -> None:
        """Stop supervising: from now on stops, removals and task teardowns do nothing.

        The cluster then believes its tasks stopped, while their containers keep running.
        Only a backend that :attr:`can_keep` keeps them after this process; the others'
        containers end with the process whatever happens (or when the backend closes).
        """
        self._detached = True
        if self._detach_event is not None:
            self._detach_event.set()
        if self.can_keep:
            backend = self._backend
            assert isinstance(backend, LeavesRunning)
            backend.leave_running()

    # -- Backend -----------------------------------------------------------------------------

    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        """The wrapped backend's ``open`` (and its capabilities as they are once open)."""
        specs = await self._backend.open(context)
        self.capabilities = self._backend.capabilities
        return specs

    async def apply_security_groups(self, policy: SecurityPolicy) -> None:
        """The wrapped backend's ``apply_security_groups``."""
        await self._backend.apply_security_groups(policy)

    async def aclose(self) -> None:
        """The wrapped backend's ``aclose``."""
        await self._backend.aclose()

    async def setup_task(self, task: TaskLaunch) -> None:
        """The wrapped backend's ``setup_task``."""
        await self._backend.setup_task(task)

    async def adopt_task(self, task: TaskLaunch) -> AdoptedTask | None:
        """The wrapped backend's ``adopt_task``."""
        return await self._backend.adopt_task(task)

    async def teardown_task(self, task: TaskLaunch) -> None:
        """The wrapped backend's ``teardown_task``, unless detached."""
        if not self._detached:
            await self._backend.teardown_task(task)

    async def create_container(self, container: ContainerLaunch) -> str:
        """The wrapped backend's ``create_container``."""
        return await self._backend.create_container(container)

    async def start_container(self, runtime_id: str) -> StartedContainer:
        """The wrapped backend's ``start_container``."""
        return await self._backend.start_container(runtime_id)

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """The wrapped backend's ``wait_container``, which ends at once on :meth:`detach`."""
        if self._detached:
            return _kept()
        if self._detach_event is None:
            self._detach_event = anyio.Event()
        detach = self._detach_event
        result: list[ContainerExit] = []
        async with anyio.create_task_group() as tg:

            async def exit_() -> None:
                result.append(await self._backend.wait_container(runtime_id))
                tg.cancel_scope.cancel()

            async def detached() -> None:
                await detach.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(exit_)
            tg.start_soon(detached)
        return result[0] if result else _kept()

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """The wrapped backend's ``stop_container``, unless detached."""
        if not self._detached:
            await self._backend.stop_container(runtime_id, timeout)

    async def remove_container(self, runtime_id: str) -> None:
        """Run the hook, keep the container's last output lines, then remove it (unless
        detached)."""
        if self._detached:
            return
        if self._before_remove is not None:
            with anyio.move_on_after(_HOOK_WAIT):
                await self._before_remove(runtime_id)
        if self._capture_lines and self.capabilities.logs:
            tail = await self._tail(runtime_id, self._capture_lines)
            if tail is not None:
                self._removed_logs[runtime_id] = tail
                while len(self._removed_logs) > _KEPT_CONTAINERS:
                    self._removed_logs.popitem(last=False)
        await self._backend.remove_container(runtime_id)

    def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        """The wrapped backend's ``health``."""
        return self._backend.health(runtime_id)

    def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        """The wrapped backend's ``logs``."""
        return self._backend.logs(runtime_id, follow=follow)

    async def stats(self, runtime_id: str) -> dict[str, float]:
        """The wrapped backend's ``stats``."""
        return await self._backend.stats(runtime_id)

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        """The wrapped backend's ``usage``."""
        return await self._backend.usage(runtime_ids)

    async def _tail(self, runtime_id: str, lines: int) -> list[str] | None:
        out: collections.deque[str] = collections.deque(maxlen=lines)
        with anyio.move_on_after(_TAIL_WAIT):
            try:
                async for line in self.logs(runtime_id):
                    out.append(line)
            except Exception:
                return list(out) or None
        return list(out)


def _kept() -> ContainerExit:
    return ContainerExit(None, "kept running for debugging (--pyecs-keep)")
