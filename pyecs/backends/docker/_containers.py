"""One container on an engine: create, start errors, ports, stop, logs, stats."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Final

import anyio
import anyio.lowlevel
import docker
import docker.errors

from pyecs.abc import ContainerStartError
from pyecs.backends._log_lines import LineSplitter
from pyecs.backends._shared import LABEL_CONTAINER, LABEL_TASK
from pyecs.backends.docker._config import CreateArgs
from pyecs.backends.docker._engine import Engine
from pyecs.backends.docker._watch import Tracked
from pyecs.exceptions import BackendError
from pyecs.models.task import NetworkBinding

__all__ = [
    "adopt",
    "create",
    "find_engine",
    "log_lines",
    "published_ports",
    "start_error",
    "stats_summary",
    "stop",
]

_MIB: Final = 1024 * 1024
#: How long to wait for the exit after SIGKILL before asking the engine directly.
_KILL_GRACE: Final = 10.0
_LOG_CHUNK: Final = 65536


def _explain(exc: docker.errors.APIError) -> str:
    return str(exc.explanation or exc)


def _create(api: docker.APIClient, args: CreateArgs) -> str:
    host_config = api.create_host_config(**args.host)
    networking = None
    if args.aliases:
        endpoint = api.create_endpoint_config(aliases=list(args.aliases))
        # The SDK takes {network: endpoint} here (its type stubs say otherwise).
        networking = api.create_networking_config({args.network: endpoint})  # type: ignore[arg-type]
    created = api.create_container(
        host_config=host_config, networking_config=networking, **args.config
    )
    runtime_id = str(created["Id"])
    try:
        for network, aliases in args.connect:
            api.connect_container_to_network(runtime_id, network, aliases=list(aliases) or None)
    except BaseException:
        with contextlib.suppress(docker.errors.DockerException):
            api.remove_container(runtime_id, v=True, force=True)
        raise
    return runtime_id


async def create(engine: Engine, args: CreateArgs) -> str:
    """Create the container (and connect it to its further networks); return its id.

    Raises:
        ContainerStartError: CannotPullContainerError (image missing) or
            CannotCreateContainerError.
    """
    name = args.config.get("name")
    try:
        return await engine.call(_create, engine.api, args)
    except docker.errors.ImageNotFound as exc:
        raise ContainerStartError(
            "CannotPullContainerError",
            f"image {args.config.get('image')!r} is not on the Docker engine at "
            f"{engine.address}: {_explain(exc)}",
        ) from exc
    except docker.errors.APIError as exc:
        hint = ""
        if exc.status_code == 409:
            hint = (
                "; a container of that name exists (a leftover of an earlier run?): "
                "remove it, or run pyecs.backends.docker.cleanup()"
            )
        raise ContainerStartError(
            "CannotCreateContainerError", f"creating container {name!r}: {_explain(exc)}{hint}"
        ) from exc
    except ContainerStartError:
        raise
    except (docker.errors.DockerException, BackendError, ValueError, TypeError) as exc:
        raise ContainerStartError(
            "CannotCreateContainerError", f"creating container {name!r}: {exc}"
        ) from exc


def start_error(exc: docker.errors.APIError, engine: Engine) -> ContainerStartError:
    """The ECS error for a failed ``docker start``."""
    text = _explain(exc)
    if "already allocated" in text or "address already in use" in text:
        return ContainerStartError(
            "CannotStartContainerError",
            f"a host port is already taken on {engine.address}: port is already allocated "
            f"({text}); free the port, or use a dynamic hostPort (0 or omitted)",
        )
    return ContainerStartError("CannotStartContainerError", text)


def published_ports(info: dict[str, Any], bind_ip: str) -> tuple[NetworkBinding, ...]:
    """The host ports Docker bound for the container, from its ``docker inspect`` (empty
    once it exited)."""
    ports = ((info.get("NetworkSettings") or {}).get("Ports")) or {}
    bindings: list[NetworkBinding] = []
    for key, entries in ports.items():
        port, _, proto = key.partition("/")
        for entry in entries or ():
            host_ip = str(entry.get("HostIp") or "")
            if ":" in host_ip and any(":" not in str(e.get("HostIp")) for e in entries):
                continue  # the IPv6 twin of an IPv4 binding
            bindings.append(
                NetworkBinding(host_ip or bind_ip, int(port), int(entry["HostPort"]), proto)
            )
    return tuple(sorted(bindings, key=lambda b: (b.container_port, b.protocol)))


def container_address(info: dict[str, Any]) -> str | None:
    """The container's IPv4 address on its first Docker network (None on host/none), from
    its ``docker inspect``."""
    networks = ((info.get("NetworkSettings") or {}).get("Networks")) or {}
    for net in networks.values():
        address = (net or {}).get("IPAddress")
        if address:
            return str(address)
    return None


async def find_engine(engines: Sequence[Engine], runtime_id: str) -> Engine | None:
    """The engine that has container ``runtime_id``, if any."""
    for engine in engines:
        try:
            await engine.call(engine.api.inspect_container, runtime_id)
            return engine
        except docker.errors.NotFound:
            continue
    return None


async def adopt(engines: Sequence[Engine], runtime_id: str) -> Tracked | None:
    """A record for a container of these engines that this backend did not create."""
    engine = await find_engine(engines, runtime_id)
    if engine is None:
        return None
    try:
        info = await engine.call(engine.api.inspect_container, runtime_id)
    except docker.errors.NotFound:
        return None
    labels = (info.get("Config") or {}).get("Labels") or {}
    t = Tracked(
        runtime_id,
        engine,
        labels.get(LABEL_TASK, ""),
        labels.get(LABEL_CONTAINER, ""),
        has_health_check=bool((info.get("State") or {}).get("Health")),
    )
    t.started = True
    return t


async def _signal(t: Tracked, signal: str) -> bool:
    """Send ``signal``; False when the container does not run (any more)."""
    try:
        await t.engine.call(t.engine.api.kill, t.runtime_id, signal=signal)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # not running
            return False
        raise BackendError(f"signalling container {t.runtime_id[:12]}: {_explain(exc)}") from exc
    return True


async def stop(t: Tracked, timeout: float, resolve: Callable[[Tracked], Awaitable[None]]) -> None:
    """Stop signal, then SIGKILL after ``timeout`` s; return once the container exited.

    Signals are sent with ``docker kill`` and the grace period is timed here, so that no
    worker thread (nor connection) is held while a container takes its time to stop.
    """
    if t.exit is not None:
        return
    try:
        info = await t.engine.call(t.engine.api.inspect_container, t.runtime_id)
    except docker.errors.NotFound:
        t.set_removed()
        return
    state = info.get("State") or {}
    if not state.get("Running"):
        if state.get("Status") in ("exited", "dead"):
            await resolve(t)
        return
    stop_signal = str((info.get("Config") or {}).get("StopSignal") or "SIGTERM")
    if timeout > 0 and await _signal(t, stop_signal):
        with anyio.move_on_after(timeout):
            await t.exited.wait()
        if t.exit is not None:
            return
    await _signal(t, "SIGKILL")
    with anyio.move_on_after(_KILL_GRACE):
        await t.exited.wait()
    if t.exit is None:
        await resolve(t)


def _all_logs(api: docker.APIClient, runtime_id: str) -> bytes:
    return api.logs(runtime_id, stdout=True, stderr=True, stream=False)


def _next_chunk(stream: Iterator[bytes]) -> bytes | None:
    return next(stream, None)


async def log_lines(engine: Engine, runtime_id: str, follow: bool) -> AsyncIterator[str]:
    """Decoded output lines; with ``follow``, until the container exits."""
    if not follow:
        try:
            data = await engine.call(_all_logs, engine.api, runtime_id)
        except docker.errors.NotFound as exc:
            raise BackendError(f"container {runtime_id[:12]} is gone: its logs too") from exc
        splitter = LineSplitter()
        for start in range(0, len(data), _LOG_CHUNK):  # a checkpoint between chunks
            for line in splitter.feed(data[start : start + _LOG_CHUNK]):
                yield line
            await anyio.lowlevel.checkpoint()
        for line in splitter.flush():
            yield line
        return
    async with engine.log_streams:
        api = engine.log_client().api
        try:
            stream = await anyio.to_thread.run_sync(
                functools.partial(api.logs, runtime_id, stream=True, follow=True),
                limiter=engine.log_limiter,
            )
        except docker.errors.NotFound as exc:
            raise BackendError(f"container {runtime_id[:12]} is gone: its logs too") from exc
        try:
            splitter = LineSplitter()  # Docker re-joins its 16 KiB pieces: split again
            while True:
                chunk = await anyio.to_thread.run_sync(
                    _next_chunk, stream, limiter=engine.log_limiter, abandon_on_cancel=True
                )
                if chunk is None:
                    break
                for line in splitter.feed(chunk):
                    yield line
            for line in splitter.flush():
                yield line
        finally:
            stream.close()


def stats_summary(raw: dict[str, Any]) -> dict[str, float]:
    """``cpu_percent``, ``memory_mib`` and ``memory_limit_mib`` from a stats sample."""
    cpu, pre = raw.get("cpu_stats") or {}, raw.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ()) or 1
    )
    memory = raw.get("memory_stats") or {}
    details = memory.get("stats") or {}
    cache = details.get(
        "total_inactive_file", details.get("inactive_file", details.get("cache", 0))
    )
    return {
        "cpu_percent": used / system * cpus * 100.0 if system > 0 and used > 0 else 0.0,
        "memory_mib": max(0, memory.get("usage", 0) - cache) / _MIB,
        "memory_limit_mib": memory.get("limit", 0) / _MIB,
    }
