"""What the containers of a task share on an engine: images, its network, its volumes."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any, Literal

import anyio
import attrs
import docker
import docker.errors
import requests

from pyecs.abc import ContainerStartError, TaskLaunch
from pyecs.backends._shared import (
    LABEL_BACKEND,
    LABEL_CLUSTER,
    LABEL_SCOPE,
    LABEL_SERVICE,
    LABEL_TASK,
)
from pyecs.backends.docker._cleanup import CleanupResult, sweep
from pyecs.backends.docker._config import (
    TaskPlan,
    VolumeSource,
    network_aliases,
    plan_network,
    resource_prefix,
    service_aliases,
)
from pyecs.backends.docker._engine import Engine, PendingPull
from pyecs.backends.docker._networks import ClusterNetworks, explain, network_error
from pyecs.exceptions import BackendError

__all__ = [
    "PullPolicy",
    "TaskState",
    "ensure_image",
    "remove_backend_resources",
    "remove_task_resources",
    "setup_task_resources",
]

log = logging.getLogger("pyecs.backends.docker")

PullPolicy = Literal["if-not-present", "always", "never"]


@attrs.define(eq=False)
class TaskState:
    """A set-up task: its engine, plan, and the containers created so far."""

    engine: Engine
    plan: TaskPlan
    prefix: str
    created: dict[str, str] = attrs.field(factory=dict)
    changed: anyio.Event = attrs.field(factory=anyio.Event)

    def add(self, name: str, runtime_id: str) -> None:
        """Record that container ``name`` was created."""
        self.created[name] = runtime_id
        self.changed.set()
        self.changed = anyio.Event()

    async def sibling(self, name: str, timeout: float = 60.0) -> str:
        """The runtime id of container ``name`` of this task, once it is created.

        Raises:
            ContainerStartError: CannotCreateContainerError when it is not created in time.
        """
        with anyio.move_on_after(timeout):
            while name not in self.created:
                await self.changed.wait()
        if name not in self.created:
            raise ContainerStartError(
                "CannotCreateContainerError",
                f"volumesFrom container {name!r} was not created within {timeout:.0f} s",
            )
        return self.created[name]


def _pull(api: docker.APIClient, image: str) -> None:
    """Pull ``image``, raising on errors the engine reports inside the progress stream."""
    for line in api.pull(image, stream=True, decode=True):
        if isinstance(line, dict) and line.get("error"):
            raise docker.errors.APIError(str(line["error"]), explanation=str(line["error"]))


async def ensure_image(engine: Engine, image: str, policy: PullPolicy) -> None:
    """Make ``image`` present on ``engine`` according to the pull policy.

    Concurrent calls for one image share one pull, and its outcome.

    Raises:
        ContainerStartError: ``CannotPullContainerError`` when the image cannot be had.
    """
    if policy != "always":
        if image in engine.images_present:
            return
        try:
            await engine.call(engine.api.inspect_image, image)
            engine.images_present.add(image)
            return
        except docker.errors.ImageNotFound:
            if policy == "never":
                raise ContainerStartError(
                    "CannotPullContainerError",
                    f"image {image!r} is not on the Docker engine at {engine.address} and "
                    "the pull policy is 'never'; build or load it there first, or use "
                    "DockerBackend(pull='if-not-present')",
                ) from None
    pending = engine.pulls_in_flight.get(image)
    if pending is None:
        pending = engine.pulls_in_flight[image] = PendingPull()
        try:
            pending.error = await _pull_once(engine, image)
            pending.finished = True
            if pending.error is None:
                engine.images_present.add(image)
        finally:
            del engine.pulls_in_flight[image]
            pending.done.set()
    else:
        await pending.done.wait()
        if not pending.finished:  # the pulling task was cancelled: try again
            await ensure_image(engine, image, "always")
            return
    if pending.error is not None:
        raise ContainerStartError(pending.error.code, pending.error.detail)


async def _pull_once(engine: Engine, image: str) -> ContainerStartError | None:
    async with engine.pulls:
        try:
            await engine.call(_pull, engine.api, image)
        except (docker.errors.DockerException, BackendError) as exc:
            return ContainerStartError(
                "CannotPullContainerError",
                f"pulling image {image!r} on the Docker engine at {engine.address} failed: "
                f"{explain(exc)}; check the image name and that the registry is reachable, "
                "or build the image on the engine",
            )
    return None


async def _create_network(engine: Engine, name: str, labels: Mapping[str, str]) -> None:
    try:
        await engine.call(
            engine.api.create_network,
            name,
            driver="bridge",
            labels=dict(labels),
            check_duplicate=True,
        )
    except docker.errors.APIError as exc:
        raise network_error("task network", name, exc) from exc


async def _volumes(
    engine: Engine, task: TaskLaunch, cluster: str, prefix: str, labels: Mapping[str, str]
) -> dict[str, VolumeSource]:
    sources: dict[str, VolumeSource] = {}
    for v in task.task_definition.volumes or ():
        name = str(v.name)
        if v.host is not None and v.host.source_path:
            sources[name] = VolumeSource("bind", v.host.source_path)
            continue
        dvc = v.docker_volume_configuration
        options: dict[str, Any] = {
            "driver": (dvc.driver if dvc else None) or "local",
            "driver_opts": dict(dvc.driver_opts or {}) if dvc else None,
        }
        user_labels = dict(dvc.labels or {}) if dvc else {}
        if dvc is not None and dvc.scope == "shared":
            try:
                await engine.call(engine.api.inspect_volume, name)
            except docker.errors.NotFound:
                if not dvc.autoprovision:
                    raise ContainerStartError(
                        "CannotCreateContainerError",
                        f"shared volume {name!r} does not exist on the Docker engine at "
                        f"{engine.address}; create it (docker volume create {name}) or set "
                        "autoprovision to true",
                    ) from None
                shared = {**user_labels, LABEL_CLUSTER: cluster, LABEL_SCOPE: "shared"}
                await engine.call(engine.api.create_volume, name, labels=shared, **options)
            sources[name] = VolumeSource("volume", name)
            continue
        # Task scope (also host volumes without a path, and cloud-only EFS/FSx volumes):
        # a Docker volume of this task, removed with it.
        volume = f"{prefix}-{name}"
        task_labels = {**user_labels, **labels, LABEL_SCOPE: "task"}
        try:
            await engine.call(engine.api.create_volume, volume, labels=task_labels, **options)
        except docker.errors.APIError as exc:
            raise ContainerStartError(
                "CannotCreateContainerError",
                f"cannot create volume {volume!r} for task volume {name!r}: {explain(exc)}",
            ) from exc
        sources[name] = VolumeSource("volume", volume)
    return sources


async def setup_task_resources(
    engine: Engine,
    task: TaskLaunch,
    cluster: str,
    labels: Mapping[str, str],
    pull: PullPolicy,
    networks: ClusterNetworks,
    *,
    cluster_network_now: bool = False,
) -> TaskPlan:
    """Pull the task's images, create its network and volumes; return the plan.

    bridge and awsvpc tasks also join the cluster network (made once a second task is on
    the engine, or at once with ``cluster_network_now``: a task whose security groups are
    enforced keeps one address there from its start), where the containers of a service
    task answer to the service name.

    Raises:
        ContainerStartError: CannotPullContainerError, CannotCreateContainerError.
    """
    td = task.task_definition
    images = sorted({str(c.image) for c in td.containers})
    failures: list[ContainerStartError] = []

    async def one(image: str) -> None:
        try:
            await ensure_image(engine, image, pull)
        except ContainerStartError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        for image in images:
            tg.start_soon(one, image)
    if failures:
        raise failures[0]
    prefix = resource_prefix(cluster, task.task_id)
    cluster_network = None
    aliases = service_aliases(td, task.labels.get(LABEL_SERVICE))
    mode = td.effective_network_mode
    if mode in ("bridge", "awsvpc"):
        named = bool(aliases) or mode == "awsvpc"
        now = cluster_network_now and mode == "awsvpc"
        cluster_network = await networks.join(engine, task.task_arn, named=named, now=now)
    mode, docker_network, task_network = plan_network(td, prefix, cluster_network)
    if task_network is not None:
        await _create_network(engine, task_network, labels)
    volumes = await _volumes(engine, task, cluster, prefix, labels)
    return TaskPlan(
        mode,
        docker_network,
        task_network,
        network_aliases(td),
        volumes,
        cluster_network,
        aliases,
    )


async def remove_task_resources(engine: Engine, task_arn: str, token: str) -> CleanupResult:
    """Remove every container, network and task volume of the task this backend made."""
    filters = [f"{LABEL_TASK}={task_arn}", f"{LABEL_BACKEND}={token}"]
    return await engine.call(
        sweep, engine.api, filters, _everything, free_connections=engine.free_connections
    )


async def remove_backend_resources(engine: Engine, token: str) -> None:
    """Remove everything of one backend instance (the last resort of ``aclose``).

    The worker thread is abandoned on cancellation, so a caller's timeout bounds it.
    """
    try:
        await anyio.to_thread.run_sync(
            functools.partial(
                sweep,
                engine.api,
                [f"{LABEL_BACKEND}={token}"],
                _everything,
                free_connections=engine.free_connections,
            ),
            limiter=engine.limiter,
            abandon_on_cancel=True,
        )
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        log.warning("removing leftovers on %s: %s", engine.address, exc)


def _everything(labels: Mapping[str, str]) -> bool:
    return True
