"""The cluster network ``pyecs-<cluster>`` on each engine: made when it buys something."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import anyio
import docker
import docker.errors
import requests

from pyecs.abc import ContainerStartError
from pyecs.backends._shared import (
    LABEL_CLUSTER,
    LABEL_DNS,
    LABEL_SCOPE,
    LABEL_SERVICE,
    LABEL_TASK,
)
from pyecs.backends.docker._config import cluster_network_name
from pyecs.backends.docker._engine import Engine

__all__ = ["ClusterNetworks", "explain", "network_error"]

log = logging.getLogger("pyecs.backends.docker")


def explain(exc: BaseException) -> str:
    """The engine's explanation of an error, else the error's text."""
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)


def network_error(kind: str, name: str, exc: docker.errors.APIError) -> ContainerStartError:
    """CannotCreateContainerError for a network that cannot be made, with the way out."""
    hint = ""
    if "address pool" in explain(exc):
        hint = (
            "; Docker ran out of address pools for networks: stop other tasks, or give "
            "dockerd a larger --default-address-pool"
        )
    return ContainerStartError(
        "CannotCreateContainerError", f"cannot create the {kind} {name!r}: {explain(exc)}{hint}"
    )


T = TypeVar("T")


class _FreshLook(Generic[T]):
    """Coalesces reads whose answer must be newer than the moment they were asked for:
    :meth:`fresh` returns what a read that started after the call returned, and callers
    that overlap share one read (at most one runs at a time, and one more after it)."""

    def __init__(self, read: Callable[[Engine], Awaitable[T]], engine: Engine) -> None:
        self._read = read
        self._engine = engine
        self._lock = anyio.Lock()
        self._asked = 0  # tickets handed out
        self._answered = 0  # the last ticket handed out before the last read started
        self._answer: T | None = None

    async def fresh(self) -> T:
        """The answer of a read that started after this call."""
        self._asked += 1
        ticket = self._asked
        async with self._lock:
            if self._answered < ticket:
                started = self._asked
                self._answer = await self._read(self._engine)
                self._answered = started
            assert self._answer is not None
            return self._answer


class ClusterNetworks:
    """The cluster network ``pyecs-<cluster>`` on each engine, as one backend uses it.

    A task joins it only when it buys something: when the cluster has on the engine, at
    that moment, a task that others find by name (a service's task, which answers to the
    service name; an awsvpc task, reached by its own address) and another bridge or
    awsvpc task (which may call it). Tasks nobody finds by name, or a task alone, need no
    name service, and on Docker's default bridge they start faster (Docker sets up its
    DNS resolver in every container of a user-defined network) with no network to make
    and remove; this holds also once the network exists (made for a service that is gone
    since). When a task needs the network, every container already there that does not
    have it is connected to it with its aliases (kept in the ``pyecs.cluster-aliases``
    label, so any process can); Docker then points the connected container's resolver at
    the network's DNS. Another open ``Cluster`` of the name (in this process or another)
    shares the network: a backend whose task started without it looks, once that
    container exists, for other tasks' containers that call for it, and joins (making it
    if need be). Labelled like the other resources (cluster, owner). Every ``Cluster`` of
    the name owns it while open: :meth:`release` removes it once no container uses it.

    Docker does not keep network names unique when two creates race, so creation is
    serialized within the process, and of several networks of the name (two processes
    raced) every user picks the same one, referring to it by id.

    Args:
        cluster: The cluster's name.
        labels: The network's labels.
        holds: Whether a container of this backend that exists on the engine is on the
            network (of that id): then another ``Cluster`` of the name does not remove
            it, and no question needs asking before a create.
    """

    def __init__(
        self,
        cluster: str,
        labels: Mapping[str, str],
        holds: Callable[[Engine, str], bool] = lambda engine, network: False,
    ) -> None:
        self.cluster = cluster
        self.name = cluster_network_name(cluster)
        self.labels = {**labels, LABEL_CLUSTER: cluster, LABEL_SCOPE: "cluster"}
        self._holds = holds
        self._ids: dict[str, str] = {}
        self._locks: dict[str, anyio.Lock] = {}
        #: Per engine: this backend's bridge and awsvpc tasks, and whether each is found
        #: by name.
        self._tasks: dict[str, dict[str, bool]] = {}
        #: Per engine: those of them set up without the network and not connected since.
        self._off: dict[str, set[str]] = {}
        self._looks: dict[str, _FreshLook[list[tuple[str, bool]]]] = {}
        #: Per engine: tickets of callers that want the network made sure of, and the
        #: last ticket handed out before the last check (or make) that succeeded.
        self._asked: dict[str, int] = {}
        self._checked: dict[str, int] = {}

    def _needed(self, key: str, task_arn: str) -> bool:
        """Whether the task and another task of this backend on the engine call for the
        network (one of the two is found by name)."""
        tasks = self._tasks.get(key, {})
        named = tasks.get(task_arn, False)
        return any(named or other for arn, other in tasks.items() if arn != task_arn)

    def _ticket(self, key: str) -> int:
        ticket = self._asked[key] = self._asked.get(key, 0) + 1
        return ticket

    def known(self, engine: Engine, task_arn: str) -> str | None:
        """The network's id on ``engine`` if this backend uses it there and the task, set
        up without it, needs it now (a task came since); the task counts as on it."""
        key = engine.instance_id
        known = self._ids.get(key)
        if known is None or not self._needed(key, task_arn):
            return None
        self._off.get(key, set()).discard(task_arn)
        return known

    async def join(
        self, engine: Engine, task_arn: str, *, named: bool, now: bool = False
    ) -> str | None:
        """The network a new bridge or awsvpc task joins; None while it needs none.

        Args:
            named: Other tasks find this one by name or address (a service's task, an
                awsvpc task).
            now: Join whatever the other tasks (a task whose security groups are
                enforced keeps one address there from its start).

        Raises:
            ContainerStartError: as :meth:`ensure`.
        """
        key = engine.instance_id
        ticket = self._ticket(key)
        tasks = self._tasks.setdefault(key, {})
        called = any(n for arn, n in tasks.items() if arn != task_arn)
        tasks[task_arn] = named
        off = self._off.setdefault(key, set())
        if not now and not self._needed(key, task_arn):
            # Nobody in this backend calls for the network now. Other backends' tasks
            # (this process or another) are looked for once the container exists: see
            # created_alone.
            off.add(task_arn)
            return None
        async with self._lock(key):
            known = self._ids.get(key)
            network = await self._current(engine, ticket)
            if network == known and (off - {task_arn} or (named and not called)):
                # Tasks started without it call for it now (of this backend, or of
                # another that found nobody here called by name): connect them.
                await self._connect_all(engine, network)
            off.clear()
            return network

    async def created_alone(self, engine: Engine, task_arn: str, *, named: bool) -> None:
        """After a container of a task set up without the network is created: if another
        task is there (of another backend or process too: it came meanwhile, or was there
        before) and one of the two is found by name, make or find the network and connect
        everything, this container included. Looking only after the create closes the
        race of two first tasks: of two such looks, the later one sees the other's
        container. Looks that overlap share one round trip that started after the
        create.

        Raises:
            ContainerStartError: as :meth:`ensure`.
        """
        key = engine.instance_id
        ticket = self._ticket(key)
        if not self._needed(key, task_arn):
            look = self._looks.setdefault(key, _FreshLook(self._look, engine))
            containers = await look.fresh()
            if not any(arn != task_arn and (named or other) for arn, other in containers):
                return
        async with self._lock(key):
            known = self._ids.get(key)
            network = await self._current(engine, ticket)
            if network == known:  # else it was made just now, and everything connected
                await self._connect_all(engine, network)
        self._off.get(key, set()).discard(task_arn)

    def forget(self, engine: Engine, task_arn: str) -> None:
        """The task is gone (it no longer counts as a task on the engine)."""
        self._tasks.get(engine.instance_id, {}).pop(task_arn, None)
        self._off.get(engine.instance_id, set()).discard(task_arn)

    async def ensure(self, engine: Engine, *, check: bool = False) -> str:
        """The network's id, once it exists on ``engine``.

        Args:
            check: Make sure that the network known from before still exists (another
                open ``Cluster`` of the name removes it when it closes while this one has
                no container on the engine); find or make it again if not. Not asked
                while a container of this backend holds it; callers that overlap share
                one question asked after they called.

        Raises:
            ContainerStartError: CannotCreateContainerError (no address pool left, or a
                network of that name that another cluster or someone else made).
        """
        key = engine.instance_id
        ticket = self._ticket(key)
        async with self._lock(key):
            return await self._current(engine, ticket if check else None)

    def _lock(self, key: str) -> anyio.Lock:
        return self._locks.setdefault(key, anyio.Lock())

    async def _current(self, engine: Engine, ticket: int | None) -> str:
        """The network's id (lock held): the known one, made sure of for callers whose
        ``ticket`` came after the last check (None: not at all), else found or made."""
        key = engine.instance_id
        started = self._asked.get(key, 0)
        known = self._ids.get(key)
        if (
            known is not None
            and ticket is not None
            and self._checked.get(key, 0) < ticket
            and not self._holds(engine, known)
        ):
            try:
                await engine.call(engine.api.inspect_network, known)
                self._checked[key] = started
            except docker.errors.NotFound:
                log.debug("network %s is gone from %s", self.name, engine.address)
                known = None
        if known is None:
            self._ids.pop(key, None)
            known = await self._make(engine)
            self._checked[key] = started
        return known

    async def _look(self, engine: Engine) -> list[tuple[str, bool]]:
        """The tasks of the cluster's containers on ``engine`` that belong on the
        network, with whether each is found by name."""
        return await engine.side_call(functools.partial(_look, cluster=self.cluster))

    async def _make(self, engine: Engine) -> str:
        """Find or create the network, connect the containers waiting for it (lock held)."""
        key = engine.instance_id
        network = self._ids[key] = await engine.call(
            _ensure, engine.api, f"{engine.engine_id}/{self.name}", self.name, self.labels
        )
        await self._connect_all(engine, network)
        return network

    async def _connect_all(self, engine: Engine, network: str) -> None:
        await engine.call(_connect_all, engine.api, network, self.name, self.cluster)

    @property
    def engines(self) -> frozenset[str]:
        """The instance ids of the engines where this backend used the network, or had a
        task that belongs on it (another backend may have connected that task's
        containers to a network it made: whoever closes last removes it)."""
        return frozenset(self._ids) | frozenset(self._tasks)

    async def release(self, engine: Engine) -> None:
        """Remove the network from ``engine`` unless a container uses it.

        The worker thread is abandoned on cancellation, so a caller's timeout bounds it.
        """
        self._ids.pop(engine.instance_id, None)
        self._tasks.pop(engine.instance_id, None)
        self._off.pop(engine.instance_id, None)
        try:
            await anyio.to_thread.run_sync(
                functools.partial(_release, engine.api, self.name, self.cluster),
                limiter=engine.limiter,
                abandon_on_cancel=True,
            )
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            log.warning("removing network %s on %s: %s", self.name, engine.address, exc)


#: Containers that can still use a network (``docker ps`` status filter).
_LIVE = ["created", "running", "restarting", "paused"]


def _waiting(api: docker.APIClient, cluster: str) -> list[dict[str, Any]]:
    """The cluster's live containers that belong on the cluster network."""
    filters = {"label": [f"{LABEL_CLUSTER}={cluster}", LABEL_DNS], "status": _LIVE}
    return list(api.containers(all=True, filters=filters))


def _look(api: docker.APIClient, cluster: str) -> list[tuple[str, bool]]:
    """See ``ClusterNetworks._look`` (blocking)."""
    found = []
    for c in _waiting(api, cluster):
        labels = c.get("Labels") or {}
        named = bool(labels.get(LABEL_DNS)) or LABEL_SERVICE in labels
        found.append((str(labels.get(LABEL_TASK, "")), named))
    return found


def _connect_all(api: docker.APIClient, network: str, name: str, cluster: str) -> None:
    """Connect the cluster's containers that are not on the network yet (blocking)."""
    for c in _waiting(api, cluster):
        if name in ((c.get("NetworkSettings") or {}).get("Networks") or {}):
            continue
        aliases = [a for a in (c.get("Labels") or {}).get(LABEL_DNS, "").split(",") if a]
        try:
            api.connect_container_to_network(c["Id"], network, aliases=aliases or None)
        except docker.errors.NotFound:
            continue  # removed meanwhile
        except docker.errors.APIError as exc:
            if "already exists" in explain(exc):
                continue  # its own backend connected it meanwhile
            log.warning(
                "connecting container %s to network %s: %s", c["Id"][:12], name, explain(exc)
            )


#: Per engine and network name: creating a cluster network is one thread at a time.
_ENSURE_LOCKS: dict[str, threading.Lock] = {}
_ENSURE_LOCKS_LOCK = threading.Lock()


def _named(api: docker.APIClient, name: str) -> list[dict[str, Any]]:
    """The networks called exactly ``name`` (Docker's filter also matches parts of names)."""
    return [n for n in api.networks(filters={"name": [name]}) if n.get("Name") == name]


def _in_use(api: docker.APIClient, network_id: str) -> bool:
    """True when a container, created or running, is on the network."""
    return bool(api.containers(all=True, filters={"network": [network_id]}))


def _ensure(api: docker.APIClient, key: str, name: str, labels: Mapping[str, str]) -> str:
    """Find or create the cluster network; return its id (blocking)."""
    with _ENSURE_LOCKS_LOCK:
        lock = _ENSURE_LOCKS.setdefault(key, threading.Lock())
    with lock:
        found = _named(api, name)
        if not found:
            try:
                api.create_network(name, driver="bridge", labels=dict(labels), check_duplicate=True)
                log.debug("created network %s", name)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another process created it meanwhile
                    raise network_error("cluster network", name, exc) from exc
            found = _named(api, name)
        cluster = labels[LABEL_CLUSTER]
        ours = [n for n in found if (n.get("Labels") or {}).get(LABEL_CLUSTER) == cluster]
        if not ours:
            if not found:
                raise ContainerStartError(
                    "CannotCreateContainerError",
                    f"the cluster network {name!r} was removed while it was being created; "
                    "try again",
                )
            theirs = (found[0].get("Labels") or {}).get(LABEL_CLUSTER)
            whose = f"for cluster {theirs!r}" if theirs else "by something other than pyecs"
            raise ContainerStartError(
                "CannotCreateContainerError",
                f"the Docker network {name!r} was made {whose}, not for cluster {cluster!r}; "
                f"remove it (docker network rm {name}) or use another cluster name",
            )
        if len(ours) == 1:
            return str(ours[0]["Id"])
        # Two processes created it at once: all pick the one in use, else the lowest id.
        ours.sort(key=lambda n: (not _in_use(api, n["Id"]), n["Id"]))
        for extra in ours[1:]:
            if not _in_use(api, extra["Id"]):
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_network(extra["Id"])
        return str(ours[0]["Id"])


def _release(api: docker.APIClient, name: str, cluster: str) -> None:
    """Remove the cluster network unless a container uses it (blocking)."""
    ours = [n for n in _named(api, name) if (n.get("Labels") or {}).get(LABEL_CLUSTER) == cluster]
    if not ours:
        return  # the usual case of a cluster whose tasks were alone: none was made
    if api.containers(all=True, filters={"label": [f"{LABEL_CLUSTER}={cluster}"]}):
        return  # another open Cluster of this name (its task may not have joined yet)
    for network in ours:
        if _in_use(api, network["Id"]):
            continue  # created containers count: Docker would remove it under them
        try:
            api.remove_network(network["Id"])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # joined meanwhile: its last user removes it
            log.debug("keeping network %s: %s", name, explain(exc))
