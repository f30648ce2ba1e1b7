"""Docker engines as container instances: connecting, describing, labelling the owner.

One :class:`DockerEngine` (a URL and how to describe it) becomes one connected
:class:`Engine` (clients, limiters, the engine's ``docker info``) and one
:class:`~pyecs.models.instance.InstanceSpec`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import functools
import hashlib
import os
import socket
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, TypeVar

import anyio
import attrs
import docker
import docker.errors
import requests

from pyecs.abc import ContainerStartError
from pyecs.backends._shared import LABEL_OWNER, LABEL_OWNER_STARTED
from pyecs.exceptions import BackendError
from pyecs.models.instance import InstanceSpec

__all__ = [
    "DEFAULT_SOCKET",
    "LABEL_OWNER",
    "LABEL_OWNER_STARTED",
    "DockerEngine",
    "Engine",
    "EngineLike",
    "PendingPull",
    "as_engines",
    "check_distinct",
    "connect",
    "owner_labels",
    "process_started",
]

T = TypeVar("T")

DEFAULT_SOCKET: Final = "unix:///var/run/docker.sock"

_ARCHITECTURES: Final = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "arm64",
    "arm64": "arm64",
}


def _attributes(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(value))


@attrs.frozen
class DockerEngine:
    """One Docker engine to run tasks on: one container instance of the cluster.

    Attributes:
        url: ``unix:///var/run/docker.sock``, ``tcp://host:2375``, ``ssh://user@host`` (runs
            the ``ssh`` program); None for the environment (``DOCKER_HOST``, else the
            default socket).
        cpu: CPU units to offer; default the engine's CPUs x 1,024.
        memory: MiB to offer; default the engine's total memory.
        availability_zone: The ``ecs.availability-zone`` attribute; default ``local-1a``
            for the first engine, ``local-1b`` for the second...
        attributes: Extra instance attributes (they win over the built-in ones).
        bind_ip: The host address published ports bind to, and that tasks report in
            their network bindings. Use the engine's address for a remote engine.
    """

    url: str | None = None
    cpu: int | None = None
    memory: int | None = None
    availability_zone: str | None = None
    attributes: Mapping[str, str | None] = attrs.field(
        factory=dict, converter=_attributes, hash=False
    )
    bind_ip: str = "127.0.0.1"

    @property
    def address(self) -> str:
        """The address this engine is reached at, for messages."""
        if self.url is not None:
            return self.url
        return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


EngineLike = str | DockerEngine | None


def as_engines(engines: Iterable[EngineLike] | None) -> list[DockerEngine]:
    """Normalize the ``engines`` argument: strings are URLs, None is the environment."""
    if engines is None:
        return [DockerEngine()]
    out = [e if isinstance(e, DockerEngine) else DockerEngine(url=e) for e in engines]
    if not out:
        raise BackendError("engines is empty: pass at least one engine URL, or leave it out")
    return out


class PendingPull:
    """An image pull in progress that other tasks wait for."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.finished = False
        self.error: ContainerStartError | None = None


class Engine:
    """A connected engine: its clients, limiters, ``docker info`` and instance spec.

    Every blocking SDK call goes through :meth:`call`, in a worker thread limited by
    ``limiter``: at most ``pool_size - 1`` at once, since the event stream holds one
    connection of the client's pool. Followed log streams use a client of their own.
    """

    def __init__(
        self, spec: DockerEngine, index: int, client: docker.DockerClient, pool_size: int
    ) -> None:
        self.spec = spec
        self.index = index
        self.client = client
        self.api = client.api
        self.pool_size = pool_size
        self.limiter = anyio.CapacityLimiter(max(1, pool_size - 1))
        self.events_limiter = anyio.CapacityLimiter(1)
        self.pulls = anyio.Semaphore(max(1, pool_size // 4))
        self.pulls_in_flight: dict[str, PendingPull] = {}
        #: Images seen on the engine (inspected or pulled) by this backend: the pull
        #: policies ``if-not-present`` and ``never`` ask no more for them (a create that
        #: finds one gone forgets it and asks again).
        self.images_present: set[str] = set()
        self.info: dict[str, Any] = client.info()
        self.log_drivers: frozenset[str] = frozenset(self.info.get("Plugins", {}).get("Log") or ())
        self._log_client: docker.DockerClient | None = None
        self._side_client: docker.DockerClient | None = None
        self.side_limiter = anyio.CapacityLimiter(1)
        self.log_streams = anyio.Semaphore(pool_size)
        self.log_limiter = anyio.CapacityLimiter(pool_size)

    @property
    def free_connections(self) -> int:
        """Connections of the pool a single call may use at once (the event stream holds
        one)."""
        return self.pool_size - 1

    @property
    def address(self) -> str:
        """Where the engine was reached."""
        return self.spec.address

    @property
    def engine_id(self) -> str:
        """The engine's identity: its ID and data root (``docker info``).

        The ID alone is not enough: before Docker 23 it comes from ``/etc/docker/key.json``,
        so every daemon of one host reports the same ID. Two URLs of one engine still
        share both values; two daemons never share a data root.
        """
        engine = str(self.info.get("ID") or self.address)
        root = self.info.get("DockerRootDir")
        return f"{engine}:{root}" if root else engine

    @property
    def instance_id(self) -> str:
        """A stable container instance id derived from the engine ID: ``i-`` + 17 hex."""
        return "i-" + hashlib.sha256(self.engine_id.encode()).hexdigest()[:17]

    def instance_spec(self) -> InstanceSpec:
        """The container instance this engine is."""
        info = self.info
        arch = str(info.get("Architecture") or "x86_64")
        zone = self.spec.availability_zone or f"local-1{string.ascii_lowercase[self.index % 26]}"
        attributes: dict[str, str | None] = {
            "ecs.os-type": str(info.get("OSType") or "linux"),
            "ecs.os-family": "LINUX" if info.get("OSType", "linux") == "linux" else "WINDOWS",
            "ecs.cpu-architecture": _ARCHITECTURES.get(arch, arch),
            "ecs.instance-type": "docker",
            "ecs.availability-zone": zone,
            "pyecs.docker-host": self.address,
            "pyecs.docker-version": str(info.get("ServerVersion") or ""),
        }
        attributes.update(self.spec.attributes)
        cpu = self.spec.cpu if self.spec.cpu is not None else int(info.get("NCPU") or 1) * 1024
        memory = self.spec.memory
        if memory is None:
            memory = int(info.get("MemTotal") or 0) // (1024 * 1024)
        return InstanceSpec(cpu=cpu, memory=memory, attributes=attributes, id=self.instance_id)

    def log_client(self) -> docker.DockerClient:
        """The client followed log streams use (connected on first use)."""
        if self._log_client is None:
            self._log_client = _client(self.spec, self.pool_size)
        return self._log_client

    async def side_call(self, fn: Callable[[docker.APIClient], T]) -> T:
        """Run ``fn(api)`` (short reads) on a connection of its own, one at a time, so
        that it never waits behind the creates and starts queued in :attr:`limiter` (nor
        holds back one of them: with N containers to start, a read taking a slot delays
        the last start by a whole start).

        Raises:
            BackendError: as :meth:`call`.
        """
        if self._side_client is None:
            self._side_client = _client(self.spec, 1, version=str(self.api.api_version))
        api = self._side_client.api
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(fn, api), limiter=self.side_limiter
            )
        except docker.errors.DockerException:
            raise
        except (requests.RequestException, OSError) as exc:
            raise BackendError(
                f"lost the Docker engine at {self.address} ({exc}); is dockerd running?"
            ) from exc

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in a worker thread, within the engine's limiter.

        Raises:
            BackendError: the connection to the engine failed (the engine's own errors,
                ``docker.errors.APIError`` and kin, pass through for the caller to map).
        """
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(fn, *args, **kwargs), limiter=self.limiter
            )
        except docker.errors.DockerException:
            raise  # the engine answered (APIError derives from requests' HTTPError)
        except (requests.RequestException, OSError) as exc:
            raise BackendError(
                f"lost the Docker engine at {self.address} ({exc}); is dockerd running?"
            ) from exc

    def close(self) -> None:
        """Close the clients' connection pools."""
        for client in (self.client, self._log_client, self._side_client):
            if client is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    client.close()


def check_distinct(engines: Sequence[Engine]) -> None:
    """Refuse two URLs of the same engine: it would count as two instances.

    Raises:
        BackendError: naming both addresses.
    """
    seen: dict[str, Engine] = {}
    for engine in engines:
        other = seen.setdefault(engine.engine_id, engine)
        if other is not engine:
            raise BackendError(
                f"engines {other.address} and {engine.address} are the same Docker engine "
                f"(ID {engine.engine_id}); list each engine once"
            )


#: The API version each engine address agreed on, so that later connections of the
#: process skip the ``/version`` round trip (about 6 ms of every cluster's open()).
#: An engine that no longer speaks it (upgraded or replaced meanwhile) answers HTTP 400;
#: then connect() forgets it and agrees on a version again.
_API_VERSIONS: dict[tuple[str | None, ...], str] = {}


def _address_key(spec: DockerEngine) -> tuple[str | None, ...]:
    if spec.url is not None:
        return (spec.url,)
    env = os.environ
    return (None, env.get("DOCKER_HOST"), env.get("DOCKER_TLS_VERIFY"), env.get("DOCKER_CERT_PATH"))


def _client(
    spec: DockerEngine, pool_size: int, timeout: int = 120, version: str | None = None
) -> docker.DockerClient:
    """A client of the engine; ``version`` None: ask the engine (``/version``)."""
    if spec.url is None:
        return docker.DockerClient.from_env(
            version=version or "auto", max_pool_size=pool_size, timeout=timeout
        )
    return docker.DockerClient(
        base_url=spec.url,
        version=version or "auto",
        max_pool_size=pool_size,
        timeout=timeout,
        use_ssh_client=spec.url.startswith("ssh://"),
    )


def connect(
    spec: DockerEngine, index: int, pool_size: int, alongside: Callable[[docker.APIClient], T]
) -> tuple[Engine, T]:
    """Connect to one engine, and run ``alongside(api)`` in a second thread while the
    engine answers ``docker info`` (blocking: run it in a worker thread).

    Raises:
        BackendError: naming the address tried and how to start or point to an engine.
    """
    key = _address_key(spec)
    known = _API_VERSIONS.get(key)
    try:
        client = _client(spec, pool_size, version=known)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise _unreachable(spec, exc) from exc
    try:
        with concurrent.futures.ThreadPoolExecutor(1, "pyecs-connect") as pool:
            also = pool.submit(alongside, client.api)
            try:
                engine = Engine(spec, index, client, pool_size)
            except docker.errors.APIError as exc:
                concurrent.futures.wait([also])
                if known is not None and exc.status_code == 400:
                    _API_VERSIONS.pop(key, None)  # it speaks another API version now
                    client.close()
                    return connect(spec, index, pool_size, alongside)
                raise _unreachable(spec, exc) from exc
            except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                concurrent.futures.wait([also])
                raise _unreachable(spec, exc) from exc
            result = also.result()
    except BaseException:
        client.close()
        raise
    _API_VERSIONS[key] = str(client.api.api_version)
    return engine, result


def _unreachable(spec: DockerEngine, exc: BaseException) -> BackendError:
    return BackendError(
        f"cannot reach the Docker engine at {spec.address} ({exc}); start dockerd "
        "(scripts/docker-up.sh, or `systemctl start docker`), or set DOCKER_HOST / pass "
        "DockerBackend(engines=[...]) to point to a running engine"
    )


# -- the owner of what pyecs creates --------------------------------------------------------


def process_started(pid: int) -> datetime.datetime | None:
    """When process ``pid`` started (Linux ``/proc``), or None when unknown or gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[19])  # field 22 of proc(5): starttime, in clock ticks after boot
    seconds = boot + ticks / os.sysconf("SC_CLK_TCK")
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


@functools.cache
def _owner(pid: int) -> tuple[str, str]:
    started = process_started(pid) or datetime.datetime.now(datetime.UTC)
    return f"{socket.gethostname()}:{pid}", started.isoformat(timespec="seconds")


def owner_labels() -> dict[str, str]:
    """``pyecs.owner`` (``hostname:pid``) and ``pyecs.owner-started`` of this process."""
    owner, started = _owner(os.getpid())
    return {LABEL_OWNER: owner, LABEL_OWNER_STARTED: started}
