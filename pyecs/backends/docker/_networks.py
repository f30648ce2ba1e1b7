"""The cluster network ``pyecs-<cluster>`` on each engine: made when it buys something."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Mapping
from typing import Any

import anyio
import docker
import docker.errors
import requests

from pyecs.abc import ContainerStartError
from pyecs.backends._shared import LABEL_CLUSTER, LABEL_DNS, LABEL_SCOPE, LABEL_TASK
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


class ClusterNetworks:
    """The cluster network ``pyecs-<cluster>`` on each engine, as one backend uses it.

    Made on an engine only once the cluster has a second bridge or awsvpc task there: a
    task alone needs no name service, and on Docker's default bridge it starts faster
    (Docker sets up its DNS resolver in every container of a user-defined network) with
    no network to make and remove. When a second task comes, the network is made and
    every container already there is connected to it with its aliases (kept in the
    ``pyecs.cluster-aliases`` label, so any process can); Docker then points the
    connected container's resolver at the network's DNS. Another open ``Cluster`` of the
    name (in this process or another) shares the network: a backend whose task was
    alone looks, once that container exists, for other tasks' containers and for the
    network, and joins (making it if need be). Labelled like the other resources
    (cluster, owner). Every ``Cluster`` of the name owns it while open: :meth:`release`
    removes it once no container uses it.

    Docker does not keep network names unique when two creates race, so creation is
    serialized within the process, and of several networks of the name (two processes
    raced) every user picks the same one, referring to it by id.
    """

    def __init__(self, cluster: str, labels: Mapping[str, str]) -> None:
        self.cluster = cluster
        self.name = cluster_network_name(cluster)
        self.labels = {**labels, LABEL_CLUSTER: cluster, LABEL_SCOPE: "cluster"}
        self._ids: dict[str, str] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._alone: dict[str, set[str]] = {}  # per engine: tasks set up without it

    def known(self, engine: Engine) -> str | None:
        """The network's id on ``engine`` if this backend uses it already."""
        return self._ids.get(engine.instance_id)

    async def join(self, engine: Engine, task_arn: str) -> str | None:
        """The network a new bridge or awsvpc task joins; None while the task is alone.

        Raises:
            ContainerStartError: as :meth:`ensure`.
        """
        key = engine.instance_id
        alone = self._alone.setdefault(key, set())  # also marks the engine as one we used
        async with self._lock(key):
            known = self._ids.get(key)
            if known is not None:
                return known
            if not alone - {task_arn}:
                # Alone in this backend. Other backends' tasks (this process or another)
                # are looked for once the container exists: see created_alone.
                alone.add(task_arn)
                return None
            return await self._make(engine)

    async def created_alone(self, engine: Engine, task_arn: str) -> None:
        """After a container of a task that was alone is created: if another task is
        there (of another backend or process too: it came meanwhile, or was there
        before), make or find the network and connect everything, this container
        included. Looking only after the create closes the race of two first tasks: of
        two such looks, the later one sees the other's container.

        Raises:
            ContainerStartError: as :meth:`ensure`.
        """
        key = engine.instance_id
        async with self._lock(key):
            if self._ids.get(key) is None:
                if not await self._others_here(engine, task_arn):
                    return
                await self._make(engine)
            else:
                await self._connect_all(engine, self._ids[key])

    def forget(self, engine: Engine, task_arn: str) -> None:
        """The task is gone (it no longer counts as a task on the engine)."""
        self._alone.get(engine.instance_id, set()).discard(task_arn)

    async def ensure(self, engine: Engine, *, check: bool = False) -> str:
        """The network's id, once it exists on ``engine``.

        Args:
            check: Make sure that the network known from before still exists (another
                open ``Cluster`` of the name removes it when it closes while this one has
                no container on the engine); find or make it again if not.

        Raises:
            ContainerStartError: CannotCreateContainerError (no address pool left, or a
                network of that name that another cluster or someone else made).
        """
        key = engine.instance_id
        async with self._lock(key):
            known = self._ids.get(key)
            if known is not None and check:
                try:
                    await engine.call(engine.api.inspect_network, known)
                except docker.errors.NotFound:
                    log.debug("network %s is gone from %s", self.name, engine.address)
                    known = None
            if known is None:
                self._ids.pop(key, None)
                known = await self._make(engine)
            return known

    def _lock(self, key: str) -> anyio.Lock:
        return self._locks.setdefault(key, anyio.Lock())

    async def _others_here(self, engine: Engine, task_arn: str) -> bool:
        """Whether a network of the name, or another task's container that belongs on
        it, exists on ``engine``."""
        return await engine.call(_others_here, engine.api, self.name, self.cluster, task_arn)

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
        return frozenset(self._ids) | frozenset(self._alone)

    async def release(self, engine: Engine) -> None:
        """Remove the network from ``engine`` unless a container uses it.

        The worker thread is abandoned on cancellation, so a caller's timeout bounds it.
        """
        self._ids.pop(engine.instance_id, None)
        self._alone.pop(engine.instance_id, None)
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


def _others_here(api: docker.APIClient, name: str, cluster: str, task_arn: str) -> bool:
    """A network called ``name`` exists, or a container of another task of ``cluster``
    that belongs on it (blocking)."""
    if _named(api, name):
        return True  # ours is used; someone else's is refused by _ensure with a way out
    return any((c.get("Labels") or {}).get(LABEL_TASK) != task_arn for c in _waiting(api, cluster))


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
