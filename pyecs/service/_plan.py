"""The service scheduler's decisions, as a pure function of the service's state.

:func:`make_plan` looks at the tasks, deployments and instances and says what to stop,
what to start and what to report; :class:`~pyecs.service._service.Service` carries it out. The
rules are ECS's: rolling deployments keep at most floor(desired * maximum% / 100) tasks
RUNNING or PENDING and at least ceil(desired * minimum% / 100) healthy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from pyecs.models.instance import ContainerInstance
from pyecs.models.service import deployment_bounds
from pyecs.models.task import Task

if TYPE_CHECKING:
    from pyecs.service._service import Service

__all__ = ["Plan", "ServiceView", "make_plan"]


@attrs.define
class Plan:
    """What one reconcile pass does."""

    unhealthy: list[str] = attrs.field(factory=list)
    stop: list[tuple[str, str]] = attrs.field(factory=list)
    start: list[tuple[list[object], int]] = attrs.field(factory=list)
    stuck: bool = False
    drop_deployments: set[str] = attrs.field(factory=set)
    completed: bool = False
    steady: bool = False
    next_check: float | None = None

    def check_at(self, when: float) -> None:
        """Reconcile again no later than ``when``."""
        self.next_check = when if self.next_check is None else min(self.next_check, when)


@attrs.define
class ServiceView:
    """The service's state as the planner needs it."""

    service: Service
    now: float
    instances: list[ContainerInstance]

    @property
    def default_strategy(self) -> list[object]:
        """ECS's default for services: spread over zones, then over instances."""
        from pyecs.placement import DEFAULT_SERVICE_STRATEGY

        return list(DEFAULT_SERVICE_STRATEGY)

    @property
    def daemon_instances(self) -> list[ContainerInstance]:
        """ACTIVE, connected instances that meet the service's memberOf constraints."""
        from pyecs.placement.query import parse

        expressions = []
        for c in self.service.placement_constraints:
            expr = c.get("expression") if isinstance(c, dict) else getattr(c, "expression", None)
            if expr:
                expressions.append(parse(str(expr)))
        for pc in self.service.task_definition.placement_constraints or ():
            if pc.expression:
                expressions.append(parse(pc.expression))
        return [
            ci
            for ci in self.instances
            if ci.status == "ACTIVE"
            and ci.agent_connected
            and all(e.evaluate(ci) for e in expressions)
        ]

    def has_health_check(self, task: Task) -> bool:
        """Whether any essential container of the task has a health check."""
        return any(c.essential and c.has_health_check for c in task.containers)

    def running_for(self, task: Task) -> float | None:
        """Seconds since the service saw the task RUNNING."""
        since = self.service._running_since.get(task.arn)
        return None if since is None else self.now - since

    def is_healthy(self, task: Task) -> bool:
        """ECS: RUNNING and HEALTHY, or RUNNING for ``healthy_delay`` without health checks
        (or, sooner, seen answering on its port: ``Service._confirm_serving``)."""
        if task.last_status != "RUNNING":
            return False
        if self.has_health_check(task):
            return task.health_status == "HEALTHY"
        ran = self.running_for(task)
        if ran is None:
            return False
        return ran >= self.service.healthy_delay or task.arn in self.service._serving


def make_plan(view: ServiceView) -> Plan:
    """Decide one reconcile pass."""
    svc = view.service
    plan = Plan()
    tasks = [t for t in svc.tasks if t.desired_status == "RUNNING"]
    draining_ids = {ci.id for ci in view.instances if ci.status != "ACTIVE"}
    known_ids = {ci.id for ci in view.instances}

    # Health: replace UNHEALTHY tasks once the grace period is over.
    for t in tasks:
        ran = view.running_for(t)
        if t.health_status == "UNHEALTHY" and ran is not None:
            if ran >= svc.health_check_grace_period:
                plan.unhealthy.append(t.arn)
            else:
                plan.check_at(view.now + svc.health_check_grace_period - ran)
    unhealthy = set(plan.unhealthy)
    tasks = [t for t in tasks if t.arn not in unhealthy]

    if svc.status == "DRAINING":
        plan.stop = [(t.arn, "Service is being deleted") for t in tasks]
        return plan

    primary = svc._deployments[0]
    daemon = svc.scheduling_strategy == "DAEMON"
    desired = svc.desired_count
    lower, upper = deployment_bounds(desired, svc.deployment_configuration)

    def movable(t: Task) -> bool:
        return t.container_instance_id in draining_ids or t.container_instance_id not in known_ids

    # A rollback adopts the tasks of the deployment it returns to: same revision.
    mine = {primary.id, primary.rollback_of}
    current = [t for t in tasks if t.started_by in mine and not movable(t)]
    current_arns = {t.arn for t in current}  # membership by ARN: O(1), not Task.__eq__
    others = [t for t in tasks if t.arn not in current_arns]
    healthy = [t for t in tasks if view.is_healthy(t)]
    for t in tasks:  # wake up when a task without health checks turns healthy by time
        ran = view.running_for(t)
        if ran is not None and not view.has_health_check(t) and ran < svc.healthy_delay:
            plan.check_at(view.now + svc.healthy_delay - ran)

    reason = f"Scaling activity initiated by (deployment {primary.id})"
    # Old or displaced tasks that aren't healthy don't hold up the minimum: stop them.
    for t in others:
        if not view.is_healthy(t):
            plan.stop.append((t.arn, reason))
    # Healthy old tasks go as long as the healthy count stays at or above the lower bound.
    can_stop = len(healthy) - lower
    old_healthy = [t for t in others if view.is_healthy(t)]
    for t in old_healthy[: max(0, can_stop)]:
        plan.stop.append((t.arn, reason))

    # Scale-in of the current deployment: unhealthy tasks first, then by strategy.
    excess = len(current) - desired
    if excess > 0:
        not_ok = [t for t in current if not view.is_healthy(t)][:excess]
        chosen = [t.arn for t in not_ok]
        if len(chosen) < excess:
            rest = current_arns - set(chosen)
            chosen += svc._cluster._placement.victims(
                f"service:{svc.name}",
                excess - len(chosen),
                svc.placement_strategy or None,
                candidates=rest,
            )
        plan.stop.extend((arn, reason) for arn in chosen)

    # Start what the current deployment lacks, within the upper bound.
    stopping = {arn for arn, _ in plan.stop}
    active = len([t for t in tasks if t.arn not in stopping])
    can_launch = primary.rollout_state != "FAILED" and svc.status == "ACTIVE"
    throttled = view.now < svc._next_launch_at
    if throttled:
        plan.check_at(svc._next_launch_at)
    want = max(0, desired - len(current))
    room = upper - active
    if daemon:
        have = {t.container_instance_id for t in current}
        missing = [ci for ci in view.daemon_instances if ci.id not in have]
        n = min(len(missing), max(0, room))
        if can_launch and not throttled:
            for ci in missing[:n]:
                expr = {"type": "memberOf", "expression": f"ec2InstanceId == {ci.ec2_instance_id}"}
                plan.start.append(([expr], 1))
    elif want > 0 and room > 0 and can_launch and not throttled:
        plan.start.append(([], min(want, room)))

    in_deployment = bool(others) or want > 0
    if in_deployment and not plan.stop and not plan.start and can_launch and not throttled:
        # Nothing can move: the bounds leave no room (ECS's rounding examples).
        # Only when nothing is in flight: pending or not-yet-healthy tasks may still free
        # room by becoming healthy.
        settled = all(view.is_healthy(t) for t in tasks)
        plan.stuck = room <= 0 and can_stop <= 0 and bool(others) and settled

    # Deployments without tasks are done with.
    live = {t.started_by for t in tasks if t.arn not in stopping and t.arn not in current_arns}
    plan.drop_deployments = {d.id for d in svc._deployments[1:] if d.id not in live}
    finished = (
        not others
        and len(current) == desired
        and not plan.stop
        and all(view.is_healthy(t) for t in current)
    )
    plan.completed = finished
    plan.steady = finished and len(svc._deployments) - len(plan.drop_deployments) == 1
    if plan.next_check is None and (want > 0 or others) and not finished:
        plan.check_at(view.now + 5.0)
    if plan.next_check is not None and math.isinf(plan.next_check):
        plan.next_check = None
    return plan
