"""Finding and removing what pyecs left on Docker engines, by label.

Every container, network and task-scoped volume pyecs creates carries ``pyecs.cluster``
and ``pyecs.owner`` (``hostname:pid``) with ``pyecs.owner-started``. A leftover is one whose
owner process is gone: a dead pid on this host, or a live pid that started at another time
(the pid was reused). Resources of owners on other hosts are never judged dead.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import functools
import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import anyio
import attrs
import docker
import docker.errors
import requests

from pyecs._pids import pid_alive
from pyecs.backends._shared import LABEL_CLUSTER, LABEL_OWNER, LABEL_OWNER_STARTED, LABEL_SCOPE
from pyecs.backends.docker._engine import (
    EngineLike,
    _client,
    _unreachable,
    as_engines,
    process_started,
)

__all__ = [
    "ADOPTIONS_DIR",
    "CleanupResult",
    "cleanup",
    "forget_adoption",
    "owner_is_gone",
    "record_adoption",
    "sweep",
]

log = logging.getLogger("pyecs.backends.docker")

#: How far a recorded owner start time may be from the pid's actual one (the label has
#: whole seconds, and the kernel's boot time can move by a second between reads).
_START_TOLERANCE = 3.0


@attrs.frozen
class CleanupResult:
    """What a cleanup removed: names of containers, networks and volumes."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()

    def __add__(self, other: CleanupResult) -> CleanupResult:
        return CleanupResult(
            self.containers + other.containers,
            self.networks + other.networks,
            self.volumes + other.volumes,
        )

    @property
    def empty(self) -> bool:
        """True when nothing was removed."""
        return not (self.containers or self.networks or self.volumes)


#: Where a process that adopted the containers of a dead owner says so, one file per dead
#: owner (labels cannot change): every process's leftover sweep (``pyecs gc``, a pytest
#: run, another cluster's open) reads it, and keeps what a live process adopted.
ADOPTIONS_DIR: Final = Path(tempfile.gettempdir()) / "pyecs-adoptions"


def _adoption_file(owner: str) -> Path:
    return ADOPTIONS_DIR / re.sub(r"[^A-Za-z0-9_.-]", "_", owner)


def record_adoption(owner: str, adopter: Mapping[str, str]) -> Path:
    """Say that ``adopter`` (its owner labels) took over what dead ``owner`` left."""
    ADOPTIONS_DIR.mkdir(mode=0o1777, exist_ok=True)
    path = _adoption_file(owner)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(dict(adopter)))
    tmp.replace(path)
    return path


def forget_adoption(path: Path, adopter: Mapping[str, str]) -> None:
    """Remove an adoption record, if it is still ``adopter``'s."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()) == dict(adopter):
            path.unlink()


def owner_is_gone(labels: Mapping[str, str]) -> bool:
    """True when the resource's owner was a process of this host that no longer runs, and
    no live process adopted what it left (:func:`record_adoption`)."""
    if not _owner_dead(labels):
        return False
    owner = labels.get(LABEL_OWNER, "")
    try:
        adopter = json.loads(_adoption_file(owner).read_text())
    except (OSError, ValueError):
        return True
    return not isinstance(adopter, dict) or _owner_dead(adopter)


def _owner_dead(labels: Mapping[str, str]) -> bool:
    owner = labels.get(LABEL_OWNER)
    if not owner:
        return False
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if not pid_alive(pid):
        return True
    recorded = labels.get(LABEL_OWNER_STARTED)
    actual = process_started(pid)
    if not recorded or actual is None:
        return False
    try:
        when = datetime.datetime.fromisoformat(recorded)
    except ValueError:
        return False
    return abs((actual - when).total_seconds()) > _START_TOLERANCE


def _name(item: Mapping[str, Any]) -> str:
    names = item.get("Names") or []
    if names:
        return str(names[0]).lstrip("/")
    return str(item.get("Name") or item.get("Id") or "?")


def _remove(kind: str, name: str, remove: Callable[[], None], removed: list[str]) -> None:
    try:
        remove()
        removed.append(name)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:  # in use, a removal in progress...: skip it
        log.warning("cannot remove %s %s: %s", kind, name, exc.explanation or exc)


def sweep(
    api: docker.APIClient,
    label_filters: list[str],
    select: Callable[[Mapping[str, str]], bool],
    *,
    free_connections: int = 1,
) -> CleanupResult:
    """Remove containers, then networks, then non-shared volumes matching the filters.

    Blocking; run it in a worker thread. What vanishes meanwhile, or cannot be removed
    (a network that containers still use...), is skipped.

    Args:
        free_connections: How many connections of the client's pool the sweep may use at
            once: with 3 or more it lists the three kinds together (a round trip instead
            of three).
    """
    filters = {"label": label_filters}
    if free_connections >= 3:  # removal still goes in order below
        with concurrent.futures.ThreadPoolExecutor(2, "pyecs-sweep") as pool:
            listed_networks = pool.submit(api.networks, filters=filters)
            listed_volumes = pool.submit(api.volumes, filters=filters)
            listed_containers = api.containers(all=True, filters=filters)
            found_networks, found_volumes = listed_networks.result(), listed_volumes.result()
    else:
        listed_containers = api.containers(all=True, filters=filters)
        found_networks = api.networks(filters=filters)
        found_volumes = api.volumes(filters=filters)
    containers: list[str] = []
    for item in listed_containers:
        if select(item.get("Labels") or {}):
            remove = functools.partial(api.remove_container, item["Id"], v=True, force=True)
            _remove("container", _name(item), remove, containers)
    networks: list[str] = []
    for item in found_networks:
        if select(item.get("Labels") or {}):
            if api.containers(all=True, filters={"network": [item["Id"]]}):
                # Still used (the cluster network, by another open Cluster of the name):
                # Docker would remove it even under containers that are created, not started.
                log.debug("keeping network %s: containers use it", _name(item))
                continue
            remove = functools.partial(api.remove_network, item["Id"])
            _remove("network", _name(item), remove, networks)
    volumes: list[str] = []
    for item in (found_volumes or {}).get("Volumes") or []:
        labels = item.get("Labels") or {}
        if labels.get(LABEL_SCOPE) != "shared" and select(labels):
            remove = functools.partial(api.remove_volume, item["Name"], force=True)
            _remove("volume", _name(item), remove, volumes)
    return CleanupResult(tuple(containers), tuple(networks), tuple(volumes))


def cluster_filter(cluster: str | None) -> list[str]:
    """The label filter for one cluster's resources (or every cluster's)."""
    return [LABEL_CLUSTER if cluster is None else f"{LABEL_CLUSTER}={cluster}"]


def _cleanup_engine(engine: EngineLike, cluster: str | None, all_owners: bool) -> CleanupResult:
    spec = as_engines([engine])[0]
    try:
        client = _client(spec, pool_size=4)  # sweep lists three kinds at once
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise _unreachable(spec, exc) from exc
    select: Callable[[Mapping[str, str]], bool] = (
        (lambda labels: True) if all_owners else owner_is_gone
    )
    try:
        return sweep(client.api, cluster_filter(cluster), select, free_connections=4)
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise _unreachable(spec, exc) from exc
    finally:
        client.close()


async def cleanup(
    cluster: str | None = None,
    engines: Iterable[EngineLike] | None = None,
    all_owners: bool = False,
) -> CleanupResult:
    """Remove what earlier pyecs runs left on Docker engines; return what was removed.

    Shared Docker volumes (``scope: shared``) are kept: they outlive tasks on purpose.

    Args:
        cluster: Only this cluster's leftovers; None for every cluster's.
        engines: Engine URLs or :class:`DockerEngine` objects; None for the environment's
            engine (``DOCKER_HOST``, else the default socket).
        all_owners: Also remove what *running* processes (and other hosts) own. Careful:
            that stops clusters that are open right now.

    Raises:
        BackendError: when an engine cannot be reached.
    """
    result = CleanupResult()
    limiter = anyio.CapacityLimiter(1)
    for engine in as_engines(engines):
        result += await anyio.to_thread.run_sync(
            functools.partial(_cleanup_engine, engine, cluster, all_owners), limiter=limiter
        )
    return result
