"""Container supervision: Docker events as hints, a reconcile timer as the truth.

One reader per engine follows ``docker events`` (filtered to this backend's label) in a
worker thread and hands each event to the event loop. ``die`` triggers an inspect that
records the exit code and ``OOMKilled``; ``health_status`` updates the health; ``destroy``
marks the container gone. Every few seconds the reconcile timer lists the containers by
label and resolves those whose exit or health change was missed, so a dropped event costs
seconds, never correctness. Nothing polls a single container.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import anyio
import anyio.abc
import anyio.from_thread
import docker
import docker.errors
from docker.types import CancellableStream

from pyecs.abc import ContainerExit
from pyecs.backends._shared import LABEL_BACKEND, LABEL_CLUSTER
from pyecs.backends.docker._config import OOM_REASON
from pyecs.backends.docker._engine import Engine
from pyecs.models.task import HealthStatus, NetworkBinding

__all__ = ["Tracked", "Watcher", "exit_from_state"]

log = logging.getLogger("pyecs.backends.docker")

GONE_REASON: Final = "DockerContainerGone: the container was removed before it exited"
_HEALTH: Final[Mapping[str, HealthStatus]] = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}


def exit_from_state(state: Mapping[str, Any], oom_event: bool = False) -> ContainerExit:
    """A :class:`ContainerExit` from ``docker inspect``'s ``State``."""
    code = state.get("ExitCode")
    exit_code = int(code) if code is not None else None
    if state.get("OOMKilled") or (oom_event and exit_code == 137):
        return ContainerExit(exit_code, OOM_REASON, oom_killed=True)
    return ContainerExit(exit_code, state.get("Error") or None)


def _events(
    api: docker.APIClient, since: int | None, filters: dict[str, Any]
) -> CancellableStream[dict[str, Any]]:
    return api.events(since=since, filters=filters, decode=True)


class Tracked:
    """What the backend knows of one container it created."""

    def __init__(
        self,
        runtime_id: str,
        engine: Engine,
        task_arn: str,
        name: str,
        *,
        has_health_check: bool,
        host_bindings: Sequence[NetworkBinding] = (),
        reads_ports: bool = True,
        reads_address: bool = True,
    ) -> None:
        self.runtime_id = runtime_id
        self.engine = engine
        self.task_arn = task_arn
        self.name = name
        self.has_health_check = has_health_check
        self.host_bindings = tuple(host_bindings)
        #: ``start_container`` reads back the published ports / the container's address.
        self.reads_ports = reads_ports
        self.reads_address = reads_address
        self.started = False
        #: Started by this backend, which followed its events since its create (else
        #: adopted: its exit may have been missed, and is asked for).
        self.watched = False
        #: Set once the look for other tasks of a container created alone is done (see
        #: ``ClusterNetworks.created_alone``); None for the others.
        self.network_look: anyio.Event | None = None
        self.removed = False
        #: Its removal was asked for (it may be gone before ``removed`` is set).
        self.removing = False
        self.oom_event = False
        self.resolving = False
        self.exit: ContainerExit | None = None
        self.exited = anyio.Event()
        self.health: HealthStatus | None = None
        self.changed = anyio.Event()

    def _bump(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    def set_health(self, status: HealthStatus | None) -> None:
        """Record a health status (None, Docker's ``starting``, changes nothing)."""
        if status is not None and status != self.health:
            self.health = status
            self._bump()

    def set_exit(self, result: ContainerExit) -> None:
        """Record the exit (the first one counts) and wake the waiters."""
        if self.exit is None:
            self.exit = result
            self.exited.set()
            self._bump()

    def set_removed(self) -> None:
        """The container is gone: end waits and health streams."""
        self.removed = True
        self.set_exit(ContainerExit(None, GONE_REASON))
        self._bump()


class Watcher:
    """Exit and health state of the containers of one backend, kept current.

    Args:
        token: The backend's ``pyecs.backend`` label value (the event and list filter).
        reconcile_interval: Seconds between reconcile passes.
    """

    def __init__(self, token: str, reconcile_interval: float) -> None:
        self.token = token
        #: The label filter of events and listings: the backend's own containers, or,
        #: once it knows its cluster (:meth:`follow_cluster`), every container of the
        #: cluster (adopted ones carry an earlier backend's token).
        self.label = f"{LABEL_BACKEND}={token}"
        self.reconcile_interval = reconcile_interval
        self.tracked: dict[str, Tracked] = {}
        self._streams: dict[int, CancellableStream[dict[str, Any]]] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._closing = False

    @property
    def _filters(self) -> dict[str, Any]:
        return {"label": [self.label], "type": ["container"]}

    def follow_cluster(self, cluster: str) -> None:
        """Watch every container labelled with ``cluster`` (before :meth:`subscribe`)."""
        self.label = f"{LABEL_CLUSTER}={cluster}"

    async def subscribe(self, engine: Engine, since: int | None = None) -> None:
        """Open the engine's event stream (returns once the engine accepted it)."""
        stream = await anyio.to_thread.run_sync(
            functools.partial(_events, engine.api, since, self._filters),
            limiter=engine.events_limiter,
        )
        self._streams[engine.index] = stream

    def start(self, tg: anyio.abc.TaskGroup, engines: Sequence[Engine]) -> None:
        """Start the readers (after :meth:`subscribe`) and the reconcile timer in ``tg``."""
        self._tg = tg
        self._closing = False
        for engine in engines:
            tg.start_soon(self._read_events, engine)
        tg.start_soon(self._reconcile_loop, list(engines))

    def close_streams(self) -> None:
        """Close the event streams: their reading threads end."""
        self._closing = True
        for stream in self._streams.values():
            try:
                stream.close()
            except Exception:  # pragma: no cover - the stream may be half-open already
                log.debug("closing an event stream failed", exc_info=True)
        self._streams.clear()

    # -- events ------------------------------------------------------------------------------

    async def _read_events(self, engine: Engine) -> None:
        since: int | None = None
        while not self._closing:
            stream = self._streams.get(engine.index)
            if stream is None:
                try:
                    await self.subscribe(engine, since)
                except Exception as exc:
                    log.warning("docker events from %s: %s; retrying", engine.address, exc)
                    await anyio.sleep(1)
                continue
            last = await anyio.to_thread.run_sync(
                self._pump, engine, stream, limiter=engine.events_limiter, abandon_on_cancel=True
            )
            self._streams.pop(engine.index, None)
            if self._closing:
                return
            log.warning("docker events from %s ended; reconnecting", engine.address)
            since = last
            await anyio.sleep(1)

    def _pump(self, engine: Engine, stream: CancellableStream[dict[str, Any]]) -> int | None:
        """Read events in a worker thread; return the time of the last one."""
        last: int | None = None
        try:
            for event in stream:
                last = event.get("time", last)
                anyio.from_thread.run_sync(self._on_event, event)
        except Exception:  # closed, or the engine went away: the caller decides
            log.debug("event stream of %s stopped", engine.address, exc_info=True)
        return last

    def _on_event(self, event: Mapping[str, Any]) -> None:
        actor = event.get("Actor") or {}
        tracked = self.tracked.get(str(event.get("id") or actor.get("ID") or ""))
        if tracked is None:
            return
        action = str(event.get("Action") or event.get("status") or "")
        if action == "oom":
            tracked.oom_event = True
        elif action == "die":
            self._spawn_resolve(tracked)
        elif action.startswith("health_status"):
            tracked.set_health(_HEALTH.get(action.partition(":")[2].strip()))
        elif action == "destroy":
            tracked.set_removed()

    def _spawn_resolve(self, tracked: Tracked) -> None:
        if self._tg is not None and tracked.exit is None and not tracked.resolving:
            self._tg.start_soon(self.resolve, tracked)

    # -- the truth ---------------------------------------------------------------------------

    async def resolve(self, tracked: Tracked) -> None:
        """Inspect the container: record its exit if it exited, and its health. Never raises
        for engine errors (the next reconcile pass tries again)."""
        if tracked.exit is not None or tracked.resolving:
            return
        tracked.resolving = True
        try:
            info = await tracked.engine.call(
                tracked.engine.api.inspect_container, tracked.runtime_id
            )
        except docker.errors.NotFound:
            tracked.set_removed()
            return
        except Exception as exc:
            log.warning("inspecting container %s: %s", tracked.runtime_id[:12], exc)
            return
        finally:
            tracked.resolving = False
        state = info.get("State") or {}
        if tracked.has_health_check:
            tracked.set_health(_HEALTH.get(str((state.get("Health") or {}).get("Status"))))
        if state.get("Status") in ("exited", "dead"):
            tracked.set_exit(exit_from_state(state, tracked.oom_event))

    async def _reconcile_loop(self, engines: list[Engine]) -> None:
        while True:
            await anyio.sleep(self.reconcile_interval)
            for engine in engines:
                try:
                    await self.reconcile(engine)
                except Exception as exc:
                    log.warning("reconciling containers on %s: %s", engine.address, exc)

    async def reconcile(self, engine: Engine) -> None:
        """List this backend's containers on ``engine``; resolve what the events missed."""
        watched = [
            t for t in self.tracked.values() if t.engine is engine and t.started and t.exit is None
        ]
        if not watched:
            return
        listing = await engine.call(engine.api.containers, all=True, filters={"label": self.label})
        by_id = {item["Id"]: item for item in listing}
        for t in watched:
            item = by_id.get(t.runtime_id)
            if item is None or item.get("State") in ("exited", "dead"):
                self._spawn_resolve(t)
            elif t.has_health_check:
                status = str(item.get("Status") or "")
                t.set_health(
                    "UNHEALTHY"
                    if "(unhealthy)" in status
                    else "HEALTHY"
                    if "(healthy)" in status
                    else None
                )

    # -- health ------------------------------------------------------------------------------

    async def health(self, tracked: Tracked) -> AsyncIterator[HealthStatus]:
        """Yield HEALTHY/UNHEALTHY on each change, until the container exits or goes."""
        if not tracked.has_health_check:
            return
        last: HealthStatus | None = None
        while True:
            changed = tracked.changed
            if tracked.health is not None and tracked.health != last:
                last = tracked.health
                yield last
                continue
            if tracked.exit is not None or tracked.removed:
                return
            await changed.wait()
