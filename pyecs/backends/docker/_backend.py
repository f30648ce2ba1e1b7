"""``DockerBackend``: real containers on one or more Docker engines, via the docker SDK.

Each engine is one container instance. The backend maps container definitions onto
Docker create arguments, follows ``docker events`` to learn exits and health at once,
re-lists its containers by label on a timer to correct for dropped events, and labels
everything it creates so that nothing outlives the process that made it unnoticed: the
next ``open()`` of the same cluster, or :func:`cleanup`, removes it. See
docs/docker-backend.md.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Literal, overload

import anyio
import anyio.abc
import attrs
import docker
import docker.errors

from pyecs.abc import (
    AdoptedContainer,
    AdoptedTask,
    Backend,
    BackendCapabilities,
    ClusterContext,
    ContainerExit,
    ContainerLaunch,
    ContainerStartError,
    ContainerUsage,
    StartedContainer,
    TaskLaunch,
)
from pyecs.backends._shared import (
    LABEL_BACKEND,
    LABEL_CLUSTER,
    LABEL_CONTAINER,
    LABEL_OWNER,
    LABEL_TASK,
    resolve_environment,
)
from pyecs.backends.docker._cleanup import (
    CleanupResult,
    cleanup,
    cluster_filter,
    forget_adoption,
    owner_is_gone,
    record_adoption,
    sweep,
)
from pyecs.backends.docker._config import (
    create_args,
    host_bindings,
    joins_cluster_network,
    resource_prefix,
)
from pyecs.backends.docker._containers import (
    adopt,
    container_address,
    create,
    find_engine,
    log_lines,
    published_ports,
    start_error,
    stats_summary,
    stop,
)
from pyecs.backends.docker._engine import (
    DockerEngine,
    Engine,
    EngineLike,
    as_engines,
    check_distinct,
    connect,
    owner_labels,
)
from pyecs.backends.docker._firewall import Firewall, filtering_problem, firewall_leftovers
from pyecs.backends.docker._networks import ClusterNetworks
from pyecs.backends.docker._stats import StatsStreams
from pyecs.backends.docker._task import (
    PullPolicy,
    TaskState,
    ensure_image,
    remove_backend_resources,
    remove_task_resources,
    setup_task_resources,
)
from pyecs.backends.docker._watch import Tracked, Watcher
from pyecs.exceptions import BackendError
from pyecs.models.instance import InstanceSpec
from pyecs.models.security_group import SecurityPolicy
from pyecs.models.task import HealthStatus, NetworkBinding

__all__ = ["CleanupResult", "DockerBackend", "DockerEngine", "PullPolicy", "cleanup"]

log = logging.getLogger("pyecs.backends.docker")


class DockerBackend(Backend):
    """Runs a cluster's containers on Docker engines, one container instance per engine.

    Open and close it from the same task (the cluster does): the backend owns a task group,
    entered in :meth:`open` and exited in :meth:`aclose`, for its event readers and timer.

    Args:
        engines: Engine URLs (``unix://``, ``tcp://``, ``ssh://``) or :class:`DockerEngine`
            objects; None for the environment's engine (``DOCKER_HOST``, else
            ``unix:///var/run/docker.sock``).
        pull: ``if-not-present`` (pull only missing images), ``always``, or ``never``.
        max_pool_size: Connections per engine client; at most this many SDK calls (less
            the event stream's) run at once per engine.
        reconcile_interval: Seconds between re-lists of containers that correct for
            dropped events.
        log_drivers: Log drivers to pass through besides the local ones (json-file, local,
            journald, syslog, none), such as ``{"fluentd"}``; others (``awslogs``...) are
            replaced by the engine's default driver.
        close_timeout: Bound, in seconds, on the last-resort cleanup in :meth:`aclose`.
    """

    #: ``security_groups`` is False here; an open backend says True (its own
    #: ``capabilities``) once it checked that this host filters (see docs/security-groups.md).
    capabilities: BackendCapabilities = BackendCapabilities(
        health_checks=True,
        memory_limit=True,
        images=True,
        logs=True,
        real_processes=True,
        shares_host_network=False,
        containers_outlive_process=True,
        fargate_limits=True,
        task_addresses=True,
    )
    name: ClassVar[str] = "docker"

    def __init__(
        self,
        engines: Iterable[EngineLike] | None = None,
        *,
        pull: PullPolicy = "if-not-present",
        max_pool_size: int = 10,
        reconcile_interval: float = 5.0,
        log_drivers: Iterable[str] = (),
        close_timeout: float = 30.0,
    ) -> None:
        if pull not in ("if-not-present", "always", "never"):
            raise BackendError(f"pull must be 'if-not-present', 'always' or 'never', not {pull!r}")
        if max_pool_size < 2:
            raise BackendError(f"max_pool_size must be at least 2, not {max_pool_size}")
        self.engines: tuple[DockerEngine, ...] = tuple(as_engines(engines))
        self.pull: PullPolicy = pull
        self.max_pool_size = max_pool_size
        self.log_drivers = frozenset(log_drivers)
        self.close_timeout = close_timeout
        #: What :meth:`open` removed: leftovers of dead processes of the same cluster.
        self.removed_leftovers = CleanupResult()
        self._token = uuid.uuid4().hex[:16]
        self._watch = Watcher(self._token, reconcile_interval)
        self._state: Literal["new", "open", "closed"] = "new"
        self._context: ClusterContext | None = None
        self._connected: list[Engine] = []
        self._stats = StatsStreams()
        self._by_instance: dict[str, Engine] = {}
        self._tasks: dict[str, TaskState] = {}
        self._networks: ClusterNetworks | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._joins: set[anyio.Event] = set()
        self._limiter = anyio.CapacityLimiter(1)
        self._leave_running = False
        self._firewall: Firewall | None = None
        #: Why security groups are not enforced (None once open on a host that filters).
        self.security_groups_problem: str | None = "the backend is not open"
        #: The backend token of each adopted task's resources (they keep their labels).
        self._adopted: dict[str, str] = {}
        #: The adoption records this backend wrote (see ``record_adoption``).
        self._adoption_records: set[Path] = set()

    def __repr__(self) -> str:
        urls = ", ".join(e.address for e in self.engines)
        return f"<DockerBackend {self._state} [{urls}]>"

    # -- life cycle -----------------------------------------------------------------------

    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        """Connect to every engine, remove the cluster's leftovers, start supervision.

        Raises:
            BackendError: an engine cannot be reached (naming it and what to do).
        """
        if self._state == "open":
            raise BackendError("this DockerBackend is already open; use one per cluster")
        connected: list[Engine] = []
        keep = context.adopt

        def leftover(labels: Mapping[str, str]) -> bool:
            return owner_is_gone(labels) and labels.get(LABEL_TASK) not in keep

        if keep:  # adopted containers carry the token of the backend that made them
            self._watch.follow_cluster(context.cluster)
        # The cluster's leftovers (of dead owners) go while the engine answers `info`.
        leftovers = functools.partial(
            sweep,
            label_filters=cluster_filter(context.cluster),
            select=leftover,
            free_connections=self.max_pool_size - 1,  # `docker info` uses one meanwhile
        )
        try:
            limiter = anyio.CapacityLimiter(1)
            removed = CleanupResult()
            for index, spec in enumerate(self.engines):
                engine, removed_here = await anyio.to_thread.run_sync(
                    functools.partial(connect, spec, index, self.max_pool_size, leftovers),
                    limiter=limiter,
                )
                connected.append(engine)
                removed += removed_here
            check_distinct(connected)
            for engine in connected:
                await self._watch.subscribe(engine)
        except BaseException:
            self._watch.close_streams()
            for engine in connected:
                engine.close()
            raise
        self.removed_leftovers = removed
        self._context = context
        network_labels = {**context.labels, LABEL_CLUSTER: context.cluster, **owner_labels()}
        self._networks = ClusterNetworks(context.cluster, network_labels, self._holds)
        self._connected = connected
        self._by_instance = {e.instance_id: e for e in connected}
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._watch.start(self._tg, connected)
        self._state = "open"
        await self._open_firewall(context)
        return [e.instance_spec() for e in connected]

    async def _open_firewall(self, context: ClusterContext) -> None:
        """Enforce security groups when this host can filter; say why not otherwise."""
        remote = [e.address for e in self._connected if not e.address.startswith("unix://")]
        problem = await anyio.to_thread.run_sync(filtering_problem)
        if problem is None and remote:
            problem = f"engines {', '.join(remote)} are not on this host (iptables is local)"
        self.security_groups_problem = problem
        if problem is not None:
            log.info("security groups are not enforced: %s", problem)
            return
        await anyio.to_thread.run_sync(
            functools.partial(firewall_leftovers, context.cluster), limiter=self._limiter
        )
        self._firewall = Firewall(context.cluster, self._token, owner_labels())
        self.capabilities = attrs.evolve(type(self).capabilities, security_groups=True)

    async def apply_security_groups(self, policy: SecurityPolicy) -> None:
        """Replace the iptables chain for the new rules (when this host filters)."""
        if self._firewall is not None:
            await self._firewall.set_policy(policy)

    def leave_running(self) -> None:
        """Leave this backend's containers running when it closes (``--pyecs-keep``).

        :meth:`aclose` then removes nothing (no last-resort sweep, no cluster network
        release); it only stops the event readers and closes the connections. What stays
        keeps its labels: ``pyecs gc``, or the next ``open()`` of a cluster of the same
        name once this process is gone, removes it. Stop the cluster's supervision first
        (:class:`pyecs.ops.HookedBackend` does), or closing the cluster stops the tasks.
        """
        self._leave_running = True

    async def aclose(self) -> None:
        """Remove what this backend still has (bounded, shielded), stop the readers."""
        if self._state != "open":
            return
        self._state = "closed"
        try:
            if not self._leave_running:
                await self._remove_everything()
                if self._firewall is not None:
                    await self._firewall.aclose()
            self._watch.close_streams()
            self._stats.close_all()
            for t in self._watch.tracked.values():
                t.set_removed()  # wake whoever still waits: nothing will report any more
        finally:
            tg, self._tg = self._tg, None
            try:
                if tg is not None:
                    tg.cancel_scope.cancel()
                    await tg.__aexit__(None, None, None)
            finally:
                for engine in self._connected:
                    engine.close()
                for path in self._adoption_records:
                    forget_adoption(path, owner_labels())
                self._tasks.clear()
                self._watch.tracked.clear()

    async def _remove_everything(self) -> None:
        """The last-resort sweep of :meth:`aclose`: bounded, shielded."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.close_timeout):
            for joining in list(self._joins):  # it may make the network: then remove it
                await joining.wait()
            tokens = {self._token, *self._adopted.values()}
            for engine in self._connected:
                for token in sorted(tokens):
                    await remove_backend_resources(engine, token)
                if self._networks and engine.instance_id in self._networks.engines:
                    await self._networks.release(engine)

    def docker_client(self, instance_id: str | None = None) -> docker.DockerClient:
        """The SDK client of an engine (the first one by default), for what pyecs lacks."""
        if not self._connected:
            raise BackendError("the DockerBackend is not open")
        if instance_id is None:
            return self._connected[0].client
        return self._engine(instance_id).client

    # -- tasks ------------------------------------------------------------------------------

    async def setup_task(self, task: TaskLaunch) -> None:
        """Pull the images, create the task network (bridge/awsvpc, several containers),
        the cluster network if need be, and the task volumes."""
        if task.task_arn in self._tasks:
            return
        engine = self._engine(task.instance_id)
        ctx = self._require_open()
        labels = {**ctx.labels, **task.labels, **self._reserved(task.task_arn)}
        try:
            plan = await setup_task_resources(
                engine,
                task,
                ctx.cluster,
                labels,
                self.pull,
                self._require_networks(),
                cluster_network_now=self._filters(task),
            )
        except ContainerStartError:
            raise
        except (BackendError, docker.errors.DockerException) as exc:
            raise ContainerStartError("CannotCreateContainerError", str(exc)) from exc
        prefix = resource_prefix(ctx.cluster, task.task_id)
        self._tasks[task.task_arn] = TaskState(engine, plan, prefix)

    async def teardown_task(self, task: TaskLaunch) -> None:
        """Remove the task's containers, network and task volumes (safe after a partial
        setup, and when run twice)."""
        state = self._tasks.pop(task.task_arn, None)
        engine = state.engine if state else self._by_instance.get(task.instance_id)
        if engine is None or self._state != "open":
            return
        self._require_networks().forget(engine, task.task_arn)
        if self._firewall is not None:
            try:
                await self._firewall.forget(task.task_arn)
            except BackendError as exc:
                log.warning("security groups after task %s: %s", task.task_id, exc)
        try:
            token = self._adopted.pop(task.task_arn, self._token)
            await remove_task_resources(engine, task.task_arn, token)
        except (docker.errors.DockerException, BackendError) as exc:
            log.warning("tearing down task %s: %s", task.task_id, exc)
        for rid in [r for r, t in self._watch.tracked.items() if t.task_arn == task.task_arn]:
            del self._watch.tracked[rid]

    async def adopt_task(self, task: TaskLaunch) -> AdoptedTask | None:
        """Find the task's containers by label on the engines and watch them as our own."""
        ctx = self._require_open()
        filters = {"label": [f"{LABEL_CLUSTER}={ctx.cluster}", f"{LABEL_TASK}={task.task_arn}"]}
        for engine in self._connected:
            listing = await engine.call(engine.api.containers, all=True, filters=filters)
            if not listing:
                continue
            containers = []
            for item in listing:
                labels = item.get("Labels") or {}
                t = await adopt(self._connected, str(item["Id"]))
                if t is None or not labels.get(LABEL_CONTAINER):
                    continue
                self._watch.tracked[t.runtime_id] = t
                self._adopted[task.task_arn] = labels.get(LABEL_BACKEND, self._token)
                owner = labels.get(LABEL_OWNER)
                if owner and owner != owner_labels()[LABEL_OWNER]:
                    self._adoption_records.add(record_adoption(owner, owner_labels()))
                running = item.get("State") == "running"
                bindings: tuple[NetworkBinding, ...] = ()
                if running:
                    info = await engine.call(engine.api.inspect_container, t.runtime_id)
                    bindings = published_ports(info, engine.spec.bind_ip)
                containers.append(
                    AdoptedContainer(labels[LABEL_CONTAINER], t.runtime_id, running, bindings)
                )
                await self._watch.resolve(t)  # its exit, or its health, as of now
            if containers:
                return AdoptedTask(engine.instance_id, tuple(containers))
        for engine in self._connected:  # its network or volumes may be left: not adopted
            await engine.call(
                sweep,
                engine.api,
                filters["label"],
                owner_is_gone,
                free_connections=engine.free_connections,
            )
        return None

    # -- containers -------------------------------------------------------------------------

    async def create_container(self, container: ContainerLaunch) -> str:
        """Create a container of a set-up task; return its Docker id."""
        task, c = container.task, container.definition
        if task.task_arn not in self._tasks:
            await self.setup_task(task)
        state = self._tasks[task.task_arn]
        ctx = self._require_open()
        labels = {**(c.docker_labels or {}), **ctx.labels, **task.labels, **container.labels}
        labels.update(self._reserved(task.task_arn), **{LABEL_CONTAINER: container.name})
        await self._check_cluster_network(state, task.task_arn)
        alone = state.plan.cluster_network is None and joins_cluster_network(c, state.plan)
        volumes_from = [
            f"{await state.sibling(str(vf.source_container))}:{'ro' if vf.read_only else 'rw'}"
            for vf in c.volumes_from or ()
        ]
        args = create_args(
            c,
            task.task_definition,
            state.plan,
            name=f"{state.prefix}-{c.name}",
            labels=labels,
            bind_ip=state.engine.spec.bind_ip,
            environment=await resolve_environment(c),
            volumes_from=volumes_from,
            log_drivers_supported=state.engine.log_drivers,
            log_drivers_allowed=self.log_drivers,
            fargate=task.fargate,
        )
        try:
            rid = await create(state.engine, args)
        except ContainerStartError as exc:
            image = str(c.image)
            if not (
                isinstance(exc.__cause__, docker.errors.ImageNotFound)
                and image in state.engine.images_present
            ):
                raise
            # Removed from the engine since it was seen there: as a setup would now.
            state.engine.images_present.discard(image)
            await ensure_image(state.engine, image, self.pull)
            rid = await create(state.engine, args)
        tracked = self._watch.tracked[rid] = Tracked(
            rid,
            state.engine,
            task.task_arn,
            container.name,
            has_health_check=c.has_health_probe,
            host_bindings=host_bindings(c, state.plan, state.engine.spec.bind_ip),
            # Read back at the start only what is there to read: the host ports Docker
            # picked, and an awsvpc task's address (its ENI's).
            reads_ports=bool(args.host.get("port_bindings")),
            reads_address=state.plan.network_mode == "awsvpc",
        )
        if alone:  # another task may be there: then this one is connected (beside the start)
            tracked.network_look = self._join_later(state.engine, task.task_arn, state.plan.named)
        if self._firewall is not None and self._filters(task):
            self._firewall.add(task.task_arn, task.security_groups, state.engine, rid)
        state.add(container.name, rid)
        return rid

    async def start_container(self, runtime_id: str) -> StartedContainer:
        """Start it and read back the host ports Docker bound."""
        t = await self._tracked(runtime_id)
        t.started = True
        try:
            await t.engine.call(t.engine.api.start, runtime_id)
        except docker.errors.APIError as exc:
            raise start_error(exc, t.engine) from exc
        except BackendError as exc:
            raise ContainerStartError("CannotStartContainerError", str(exc)) from exc
        t.watched = True  # tracked since its create: its die event cannot be missed
        if t.network_look is not None:
            await t.network_look.wait()  # RUNNING means: on the cluster network if any
        if self._firewall is not None and self._firewall.has(t.task_arn):
            try:
                await self._firewall.sync(t.task_arn)
            except BackendError as exc:
                raise ContainerStartError(
                    "CannotStartContainerError",
                    f"the task's security groups could not be enforced: {exc}",
                ) from exc
        if not (t.reads_address or (t.reads_ports and not t.host_bindings)):
            return StartedContainer(t.host_bindings)  # nothing to ask the engine
        info = await t.engine.call(t.engine.api.inspect_container, runtime_id)
        address = container_address(info) if t.reads_address else None
        if t.host_bindings or not t.reads_ports:
            return StartedContainer(t.host_bindings, address)
        return StartedContainer(published_ports(info, t.engine.spec.bind_ip), address)

    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """Return once the container exited (woken by its ``die`` event)."""
        t = await self._tracked(runtime_id)
        if t.exit is None and not t.watched:  # adopted: it may have exited already
            await self._watch.resolve(t)
        await t.exited.wait()
        assert t.exit is not None
        return t.exit

    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """Send the stop signal (the image's STOPSIGNAL, else SIGTERM); SIGKILL after
        ``timeout`` seconds; return once it exited."""
        t = await self._tracked(runtime_id, missing_ok=True)
        if t is not None:
            await stop(t, timeout, self._watch.resolve)

    async def remove_container(self, runtime_id: str) -> None:
        """Remove the container and its anonymous volumes. No-op if already gone."""
        t = self._watch.tracked.get(runtime_id)
        if t is not None:
            t.removing = True
        engine = t.engine if t else await find_engine(self._connected, runtime_id)
        if engine is not None:
            try:
                await engine.call(engine.api.remove_container, runtime_id, v=True, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: a removal is already in progress
                    raise BackendError(f"removing container {runtime_id[:12]}: {exc}") from exc
        if t is not None:
            t.set_removed()
        self._stats.close(runtime_id)

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        """Usage from each container's stats stream (opened on first ask, held open).

        A container's first answer comes with the engine's first sample, about a second
        after its stream opens: until then it is left out.
        """
        if self._tg is None:
            return {}
        for rid in runtime_ids:
            t = self._watch.tracked.get(rid)
            if t is not None:
                self._stats.ensure(self._tg, rid, t.engine.address)
        return self._stats.latest(runtime_ids)

    async def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        """Yield HEALTHY/UNHEALTHY on each change of a container with a healthCheck."""
        t = await self._tracked(runtime_id)
        async for status in self._watch.health(t):
            yield status

    async def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        """Yield the container's stdout and stderr lines (also after it exited).

        With ``follow``, keep yielding new lines until the container exits. Use it in
        ``contextlib.aclosing(...)`` when you may stop early, to release the connection.
        """
        t = self._watch.tracked.get(runtime_id)
        engine = t.engine if t else await find_engine(self._connected, runtime_id)
        if engine is None:
            raise BackendError(f"no container {runtime_id[:12]} on the Docker engine(s)")
        async for line in log_lines(engine, runtime_id, follow):
            yield line

    async def stats(self, runtime_id: str) -> dict[str, float]:
        """One sample of the container's usage: ``cpu_percent``, ``memory_mib``,
        ``memory_limit_mib`` (takes about a second: Docker measures CPU over an interval).
        """
        t = await self._tracked(runtime_id)
        raw = await t.engine.call(t.engine.api.stats, runtime_id, stream=False)
        return stats_summary(raw)

    # -- helpers ------------------------------------------------------------------------------

    def _require_open(self) -> ClusterContext:
        if self._state != "open" or self._context is None:
            raise BackendError(
                f"the DockerBackend is {self._state}; it works between open() and aclose()"
            )
        return self._context

    async def _check_cluster_network(self, state: TaskState, task_arn: str) -> None:
        """Point the task's plan to the cluster network as it is now (made again if
        another open Cluster of the name removed it meanwhile): Docker creates, and even
        connects, a container on a missing network without a word, and fails its start."""
        old = state.plan.cluster_network
        networks = self._require_networks()
        if old is None:
            made = networks.known(state.engine, task_arn)  # a task came since the set-up
            if made is not None and state.plan.network_mode in ("bridge", "awsvpc"):
                single = state.plan.task_network is None
                state.plan = attrs.evolve(
                    state.plan,
                    cluster_network=made,
                    docker_network=made if single else state.plan.docker_network,
                )
            return
        new = await networks.ensure(state.engine, check=True)
        if new != old:
            primary = new if state.plan.docker_network == old else state.plan.docker_network
            state.plan = attrs.evolve(state.plan, cluster_network=new, docker_network=primary)

    def _holds(self, engine: Engine, network: str) -> bool:
        """Whether the cluster network (``network``) on ``engine`` stays there for sure:
        another open Cluster of the name removes it only when no container of the cluster
        is on the engine (``_release``), and one of ours is there, created or running."""
        return any(
            t.engine is engine and not (t.removing or t.removed)
            for t in self._watch.tracked.values()
        )

    def _join_later(self, engine: Engine, task_arn: str, named: bool) -> anyio.Event:
        """Run ``ClusterNetworks.created_alone`` beside the container's start; the
        returned event is set when it is done (``start_container`` and :meth:`aclose`
        wait for it). A failure (a network of the name that pyecs did not make...) is
        logged: the task runs on without the network, and the tasks that need it fail
        saying why."""
        assert self._tg is not None
        networks = self._require_networks()
        done = anyio.Event()
        self._joins.add(done)

        async def join() -> None:
            try:
                await networks.created_alone(engine, task_arn, named=named)
            except ContainerStartError as exc:
                log.warning("task %s stays off the cluster network: %s", task_arn, exc)
            except (docker.errors.DockerException, BackendError) as exc:
                log.warning("task %s: joining the cluster network: %s", task_arn, exc)
            finally:
                self._joins.discard(done)
                done.set()

        self._tg.start_soon(join)
        return done

    def _filters(self, task: TaskLaunch) -> bool:
        """Whether this backend filters the task's inbound traffic by its groups."""
        return (
            self._firewall is not None
            and bool(task.security_groups)
            and task.task_definition.effective_network_mode == "awsvpc"
        )

    def _require_networks(self) -> ClusterNetworks:
        self._require_open()
        assert self._networks is not None
        return self._networks

    def _reserved(self, task_arn: str) -> dict[str, str]:
        ctx = self._require_open()
        return {
            LABEL_CLUSTER: ctx.cluster,
            LABEL_TASK: task_arn,
            **owner_labels(),
            LABEL_BACKEND: self._token,
        }

    def _engine(self, instance_id: str) -> Engine:
        self._require_open()
        try:
            return self._by_instance[instance_id]
        except KeyError:
            known = ", ".join(self._by_instance) or "none"
            raise BackendError(
                f"instance {instance_id!r} is not one of this DockerBackend's engines ({known})"
            ) from None

    @overload
    async def _tracked(self, runtime_id: str) -> Tracked: ...
    @overload
    async def _tracked(self, runtime_id: str, missing_ok: Literal[True]) -> Tracked | None: ...
    async def _tracked(self, runtime_id: str, missing_ok: bool = False) -> Tracked | None:
        """The container's record; a container of this backend's engines is adopted."""
        t = self._watch.tracked.get(runtime_id)
        if t is not None:
            return t
        t = await adopt(self._connected, runtime_id)
        if t is None:
            if missing_ok:
                return None
            raise BackendError(
                f"no container {runtime_id[:12]} on the Docker engine(s) of this backend"
            )
        self._watch.tracked[runtime_id] = t
        return t
