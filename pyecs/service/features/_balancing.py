"""Load balancing as a service feature: the glue between the scheduler and the targets.

Registration follows ECS: a task becomes a target once it is RUNNING (and, when its
essential containers have health checks, HEALTHY); it counts as healthy for the service
scheduler only once every target group says ``healthy``; it is deregistered and drained
in DEACTIVATING (the task runner's ``on_deactivate`` hook), before its containers stop.
A task whose target turns ``unhealthy`` is replaced once the service's health check
grace period is over.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping, Sequence

import anyio

from pyecs.abc import FeatureContext, FeatureStop, FeatureVerdicts, ServiceFeature
from pyecs.exceptions import InvalidParameterError
from pyecs.lb._balancer import ServiceLoadBalancer, target_group_arn
from pyecs.lb._config import LoadBalancer, load_balancer_from
from pyecs.models.snapshot import ServiceSnapshot
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition

__all__ = ["LoadBalancing", "check_container_port", "check_load_balancers"]

#: Task states after which a target is gone for good.
_GONE = ("STOPPING", "DEPROVISIONING", "STOPPED")


def check_load_balancers(
    values: Sequence[object] | None, td: TaskDefinition, service: str
) -> list[LoadBalancer]:
    """Validate ``load_balancers`` against the task definition (ECS checks the same).

    Raises:
        InvalidParameterError: a malformed entry, or a container or port the task
            definition does not have.
    """
    if values is None:
        return []
    if isinstance(values, str | Mapping) or not isinstance(values, Sequence):
        raise InvalidParameterError("load_balancers must be a list of pyecs.LoadBalancer or dicts")
    out = [load_balancer_from(v, f"load_balancers[{i}]") for i, v in enumerate(values)]
    if len(out) > 5:
        raise InvalidParameterError(f"a service takes at most 5 load balancers, got {len(out)}")
    names = [lb.target_group_name or f"{service[:26]}-{lb.container_port}" for lb in out]
    if len(set(names)) != len(names):
        raise InvalidParameterError(
            "two load balancers of one service need different target_group_name values"
        )
    for lb in out:
        check_container_port(lb, td)
    return out


def check_container_port(lb: LoadBalancer, td: TaskDefinition) -> None:
    """The container exists and maps ``container_port`` (tcp).

    Raises:
        InvalidParameterError: saying which containers and ports there are.
    """
    containers = {str(c.name): c for c in td.containers}
    c = containers.get(lb.container_name)
    if c is None:
        raise InvalidParameterError(
            f"load balancer containerName {lb.container_name!r} is not a container of "
            f"{td.family}:{td.revision} (containers: {', '.join(containers)})"
        )
    ports = [
        int(pm.container_port)
        for pm in c.port_mappings or ()
        if pm.container_port and pm.effective_protocol == "tcp"
    ]
    if lb.container_port not in ports:
        raise InvalidParameterError(
            f"load balancer containerPort {lb.container_port} is not in the portMappings of "
            f"container {lb.container_name!r} in {td.family}:{td.revision} (tcp ports: "
            f"{ports or 'none'}); add it to portMappings"
        )


class LoadBalancing(ServiceFeature):
    """The load balancers of one service, attached through the service-feature seam."""

    def __init__(self, configs: Sequence[LoadBalancer]) -> None:
        self.configs = list(configs)
        self.balancers: list[ServiceLoadBalancer] = []
        self._draining: list[str] = []
        self._groups: dict[str, tuple[str, ...]] = {}  # task ARN -> its security groups

    def bind(self, context: FeatureContext) -> None:
        """Create a balancer per configuration, named after the service."""
        super().bind(context)
        for cfg in self.configs:
            name = cfg.target_group_name or f"{context.service_name[:26]}-{cfg.container_port}"
            self.balancers.append(
                ServiceLoadBalancer(
                    cfg,
                    service_name=context.service_name,
                    target_group_name=name,
                    target_group_arn=target_group_arn(
                        context.region, context.account, name, context.service_arn
                    ),
                    on_change=context.wake,
                )
            )
            self.balancers[-1].admits = functools.partial(self._admits, cfg)

    def _admits(self, cfg: LoadBalancer, task_arn: str) -> bool:
        """Whether the task's security groups admit this balancer now (read at every
        health check and connection, so a rule change takes effect within an interval)."""
        groups = self._groups.get(task_arn, ())
        if not groups:  # a task in no group is not filtered: no policy to build
            return True
        source = (cfg.security_group,) if cfg.security_group else ()
        return self._context.security_policy().admits(
            groups, source_groups=source, port=cfg.container_port
        )

    def check_task_definition(self, task_definition: TaskDefinition) -> None:
        """Each balancer's container and port exist in the definition (ECS checks too)."""
        for cfg in self.configs:
            check_container_port(cfg, task_definition)

    @property
    def _context(self) -> FeatureContext:
        assert self.context is not None, "bind() first"
        return self.context

    # -- life cycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Every listener bound and serving inside; all closed on the way out."""
        async with contextlib.AsyncExitStack() as stack:
            for lb in self.balancers:
                await stack.enter_async_context(lb.listening())
            async with anyio.create_task_group() as tg:
                for lb in self.balancers:
                    tg.start_soon(lb.serve)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()

    # -- targets ---------------------------------------------------------------------------

    def task_changed(self, task: Task) -> None:
        """Register a task that is ready, forget one that is gone (every snapshot)."""
        if task.last_status in _GONE:
            self._groups.pop(task.arn, None)
            for lb in self.balancers:
                lb.remove(task.arn)
            return
        if task.network_interface is not None:
            self._groups[task.arn] = task.network_interface.security_groups
        ready = (
            task.last_status == "RUNNING"
            and task.desired_status == "RUNNING"
            and (
                not any(c.essential and c.has_health_check for c in task.containers)
                or task.health_status == "HEALTHY"
            )
        )
        if not ready:
            return
        for lb in self.balancers:
            if lb.is_registered(task.arn):
                continue
            try:
                address = task.endpoint(lb.config.container_name, lb.config.container_port)
            except KeyError:
                continue  # no such binding (yet): the next snapshot may have it
            lb.register(task.arn, task.id, address)
            self._context.wake()

    def allows_healthy(self, task: Task) -> bool:
        """ECS: a service task is healthy only once every target group says ``healthy``."""
        return all(lb.state_of(task.arn) == "healthy" for lb in self.balancers)

    def vouches_healthy(self, task: Task) -> bool:
        """Every target group passed the task's health check: with no container health
        check, ECS counts it healthy now, without waiting 40 s after RUNNING."""
        return bool(self.balancers) and self.allows_healthy(task)

    def stopping(self, task_arns: Sequence[str]) -> None:
        """The scheduler is stopping these tasks: deregister them now (events follow)."""
        for arn in task_arns:
            if any([lb.deregister(arn) for lb in self.balancers]):  # every one, no shortcut
                self._draining.append(arn)

    async def deactivate(self, task: Task) -> None:
        """The task is DEACTIVATING: deregister it everywhere and drain its connections.

        When the cluster is closing, connections are not waited for.
        """
        mine = [lb for lb in self.balancers if lb.is_registered(task.arn)]
        if not mine:
            return
        self.stopping([task.arn])
        delay = None if self._context.cluster_open() else 0.0
        async with anyio.create_task_group() as tg:
            for lb in mine:
                tg.start_soon(functools.partial(lb.drain, task.arn, delay=delay))

    # -- the scheduler's side --------------------------------------------------------------

    def messages(self) -> list[str]:
        """Service event messages since the last call: draining, then per target group."""
        out = []
        if self._draining:
            out.append(
                f"(service {self._context.service_name}) has begun draining connections on "
                f"{len(self._draining)} tasks."
            )
            self._draining = []
        for lb in self.balancers:
            out.extend(lb.take_messages())
        return out

    def verdicts(self, snapshot: ServiceSnapshot) -> FeatureVerdicts:
        """Replace tasks whose targets are unhealthy past the grace period."""
        grace = snapshot.health_check_grace_period
        recheck: float | None = None
        stops = []
        for task in snapshot.tasks:
            if task.desired_status != "RUNNING":
                continue
            failing = next(
                (lb for lb in self.balancers if lb.state_of(task.arn) == "unhealthy"), None
            )
            ran = snapshot.running_for(task)
            if failing is None or ran is None:
                continue
            if ran < grace:
                at = snapshot.now + grace - ran
                recheck = at if recheck is None else min(recheck, at)
                continue
            target = next(t for t in failing.targets() if t.task_arn == task.arn)
            port = target.address.rpartition(":")[2]
            tg = failing.target_group_arn
            reason = target.reason or "Health checks failed"
            stops.append(
                FeatureStop(
                    task.arn,
                    f"Task failed ELB health checks in (target-group {tg})",
                    f"(service {snapshot.name}) (task {task.id}) (port {port}) is unhealthy in "
                    f"(target-group {tg}) due to (reason {reason}).",
                )
            )
        return FeatureVerdicts(tuple(stops), recheck)
