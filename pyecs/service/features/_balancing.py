"""What a service does with its load balancers: the glue between scheduler and targets.

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
from typing import TYPE_CHECKING

import anyio
import attrs

from pyecs.exceptions import InvalidParameterError
from pyecs.lb._balancer import ServiceLoadBalancer, target_group_arn
from pyecs.lb._config import LoadBalancer, load_balancer_from
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.service._plan import ServiceView

if TYPE_CHECKING:
    from pyecs.service._service import Service

__all__ = ["BalancedView", "ServiceBalancing", "check_load_balancers"]

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


class ServiceBalancing:
    """The load balancers of one service (possibly none) and the scheduler's view of them."""

    def __init__(self, service: Service, configs: Sequence[LoadBalancer]) -> None:
        self._service = service
        arns = service._cluster._arns
        self.balancers = []
        for cfg in configs:
            name = cfg.target_group_name or f"{service.name[:26]}-{cfg.container_port}"
            self.balancers.append(
                ServiceLoadBalancer(
                    cfg,
                    service_name=service.name,
                    target_group_name=name,
                    target_group_arn=target_group_arn(arns.region, arns.account, name, service.arn),
                    on_change=self._changed,
                )
            )
        self._draining: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.balancers)

    def _changed(self) -> None:
        self._service.wake()
        self._service._notify()

    # -- life cycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """Every listener bound inside; all closed on the way out."""
        async with contextlib.AsyncExitStack() as stack:
            for lb in self.balancers:
                await stack.enter_async_context(lb.listening())
            yield

    async def serve(self) -> None:
        """Run every load balancer (until cancelled)."""
        if not self.balancers:
            return
        async with anyio.create_task_group() as tg:
            for lb in self.balancers:
                tg.start_soon(lb.serve)

    # -- targets ---------------------------------------------------------------------------

    def observe(self, task: Task) -> None:
        """Register a task that is ready, forget one that is gone (every snapshot)."""
        if not self.balancers:
            return
        if task.last_status in _GONE:
            for lb in self.balancers:
                lb.remove(task.arn)
            return
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
            self._changed()

    def all_healthy(self, task_arn: str) -> bool:
        """Whether every target group has the task as a ``healthy`` target."""
        return all(lb.state_of(task_arn) == "healthy" for lb in self.balancers)

    def begin_draining(self, task_arns: Sequence[str]) -> None:
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
        self.begin_draining([task.arn])
        delay = None if self._service._cluster.is_open else 0.0
        async with anyio.create_task_group() as tg:
            for lb in mine:
                tg.start_soon(functools.partial(lb.drain, task.arn, delay=delay))

    # -- the scheduler's side --------------------------------------------------------------

    def take_messages(self) -> list[str]:
        """Service event messages since the last call: draining, then per target group."""
        out = []
        if self._draining:
            out.append(
                f"(service {self._service.name}) has begun draining connections on "
                f"{len(self._draining)} tasks."
            )
            self._draining = []
        for lb in self.balancers:
            out.extend(lb.take_messages())
        return out

    def replace_failed(self, view: ServiceView) -> float | None:
        """Stop tasks whose targets are unhealthy past the grace period.

        Returns:
            When to look again (a task still in its grace period), or None.
        """
        svc = self._service
        grace = svc.health_check_grace_period
        recheck: float | None = None
        for task in svc.tasks:
            if task.desired_status != "RUNNING":
                continue
            failing = next(
                (lb for lb in self.balancers if lb.state_of(task.arn) == "unhealthy"), None
            )
            ran = view.running_for(task)
            if failing is None or ran is None:
                continue
            if ran < grace:
                at = view.now + grace - ran
                recheck = at if recheck is None else min(recheck, at)
                continue
            target = next(t for t in failing.targets() if t.task_arn == task.arn)
            port = target.address.rpartition(":")[2]
            tg = failing.target_group_arn
            svc._event(
                f"(service {svc.name}) (task {task.id}) (port {port}) is unhealthy in "
                f"(target-group {tg}) due to (reason {target.reason or 'Health checks failed'})."
            )
            svc._cluster._tasks.stop(
                task.arn,
                "ServiceSchedulerInitiated",
                f"Task failed ELB health checks in (target-group {tg})",
            )
            svc._event(f"(service {svc.name}) has stopped 1 running tasks: (task {task.id}).")
            self.begin_draining([task.arn])
        return recheck


@attrs.define
class BalancedView(ServiceView):
    """The scheduler's view of a service with load balancers: healthy needs the targets."""

    balancing: ServiceBalancing | None = None

    def is_healthy(self, task: Task) -> bool:
        """ECS: RUNNING, healthy containers, and a ``healthy`` target in every group."""
        if not ServiceView.is_healthy(self, task):
            return False
        return self.balancing is None or self.balancing.all_healthy(task.arn)
