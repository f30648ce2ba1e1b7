"""The service scheduler's decisions, as a pure function of a frozen snapshot.

:func:`make_plan` reads a :class:`~pyecs.models.snapshot.ServiceSnapshot` (tasks,
deployments, instances, times, feature verdicts) and says what to stop, what to start and
what to report; :class:`~pyecs.service._service.Service` carries it out. Nothing here holds
or reads a live object, so the ECS deployment rules are tested on values alone. The rules
are ECS's: rolling deployments keep at most floor(desired * maximum% / 100) tasks RUNNING
or PENDING and at least ceil(desired * minimum% / 100) healthy.
"""

from __future__ import annotations

import math

import attrs

from pyecs.models.service import deployment_bounds
from pyecs.models.snapshot import ServiceSnapshot
from pyecs.models.task import Task

__all__ = ["Plan", "make_plan", "scale_in_need"]

#: How soon a service that is still converging looks again when nothing wakes it.
RECHECK = 5.0


@attrs.define
class Plan:
    """What one reconcile pass does.

    Attributes:
        unhealthy: Tasks to stop for failed container health checks.
        stop: ``(task ARN, stoppedReason)`` to stop (old deployments, scale-in).
        start: ``(extra placement constraints, count)`` to launch for the PRIMARY deployment.
        stuck: The deployment bounds leave no move (ECS's "unable to stop or start" event).
        drop_deployments: Deployments without tasks left.
        completed: The PRIMARY deployment has all its tasks, healthy.
        steady: Completed, and no other deployment is left.
        next_check: Reconcile again no later than this (event-loop seconds), or None.
    """

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


def _live(snap: ServiceSnapshot) -> list[Task]:
    """Tasks the service still wants (desired RUNNING), minus those failing health checks."""
    return [t for t in snap.tasks if t.desired_status == "RUNNING" and not _unhealthy_now(snap, t)]


def _unhealthy_now(snap: ServiceSnapshot, task: Task) -> bool:
    ran = snap.running_for(task)
    return (
        task.health_status == "UNHEALTHY"
        and ran is not None
        and ran >= snap.health_check_grace_period
    )


def _current(snap: ServiceSnapshot, tasks: list[Task]) -> list[Task]:
    """The PRIMARY deployment's tasks that stay where they are (not on a DRAINING or
    unknown instance). A rollback adopts the tasks of the deployment it returns to."""
    draining = {ci.id for ci in snap.instances if ci.status != "ACTIVE"}
    known = {ci.id for ci in snap.instances}
    mine = {snap.primary.id, snap.primary.rollback_of}
    # A task without an instance waits in PROVISIONING for its provider's capacity.
    return [
        t
        for t in tasks
        if t.started_by in mine
        and t.container_instance_id not in draining
        and (t.container_instance_id in known or t.container_instance_id == "")
    ]


def scale_in_need(snap: ServiceSnapshot) -> tuple[frozenset[str], int]:
    """Which healthy tasks of the current deployment scale-in chooses from, and how many.

    The service asks placement for the order (``PlacementState.victims``) only when the
    count is positive, and puts it in the snapshot's ``scale_in_order``.
    """
    if snap.status != "ACTIVE":
        return frozenset(), 0
    current = _current(snap, _live(snap))
    excess = len(current) - snap.desired_count
    if excess <= 0:
        return frozenset(), 0
    unhealthy = [t for t in current if not snap.is_healthy(t)][:excess]
    healthy = frozenset(t.arn for t in current) - {t.arn for t in unhealthy}
    return healthy, excess - len(unhealthy)


def make_plan(snap: ServiceSnapshot) -> Plan:
    """Decide one reconcile pass from ``snap`` alone."""
    plan = Plan()
    tasks = [t for t in snap.tasks if t.desired_status == "RUNNING"]

    # Health: replace UNHEALTHY tasks once the grace period is over.
    for t in tasks:
        ran = snap.running_for(t)
        if t.health_status == "UNHEALTHY" and ran is not None:
            if ran >= snap.health_check_grace_period:
                plan.unhealthy.append(t.arn)
            else:
                plan.check_at(snap.now + snap.health_check_grace_period - ran)
    tasks = _live(snap)

    if snap.status == "DRAINING":
        plan.stop = [(t.arn, "Service is being deleted") for t in tasks]
        return plan

    primary = snap.primary
    daemon = snap.scheduling_strategy == "DAEMON"
    desired = snap.desired_count
    lower, upper = deployment_bounds(desired, snap.deployment_configuration)

    current = _current(snap, tasks)
    current_arns = {t.arn for t in current}  # membership by ARN: O(1), not Task.__eq__
    others = [t for t in tasks if t.arn not in current_arns]
    healthy = [t for t in tasks if snap.is_healthy(t)]
    for t in tasks:  # wake up when a task without health checks turns healthy by time
        ran = snap.running_for(t)
        if ran is not None and not snap.has_health_check(t) and ran < snap.healthy_delay:
            plan.check_at(snap.now + snap.healthy_delay - ran)

    reason = f"Scaling activity initiated by (deployment {primary.id})"
    # Old or displaced tasks that aren't healthy don't hold up the minimum: stop them.
    for t in others:
        if not snap.is_healthy(t):
            plan.stop.append((t.arn, reason))
    # Healthy old tasks go as long as the healthy count stays at or above the lower bound.
    can_stop = len(healthy) - lower
    old_healthy = [t for t in others if snap.is_healthy(t)]
    for t in old_healthy[: max(0, can_stop)]:
        plan.stop.append((t.arn, reason))

    # Scale-in of the current deployment: unhealthy tasks first, then by strategy.
    excess = len(current) - desired
    if excess > 0:
        chosen = [t.arn for t in current if not snap.is_healthy(t)][:excess]
        candidates, by_strategy = scale_in_need(snap)
        ordered = [a for a in snap.scale_in_order if a in candidates]
        chosen += ordered[:by_strategy]
        plan.stop.extend((arn, reason) for arn in chosen)

    # Start what the current deployment lacks, within the upper bound.
    stopping = {arn for arn, _ in plan.stop}
    active = len([t for t in tasks if t.arn not in stopping])
    can_launch = primary.rollout_state != "FAILED" and snap.status == "ACTIVE"
    throttled = snap.now < snap.next_launch_at
    if throttled:
        plan.check_at(snap.next_launch_at)
    want = max(0, desired - len(current))
    room = upper - active
    # Replacements the restart backoff holds back wait their turn; the others start now.
    holds = [t for t in snap.backoff_holds if t > snap.now]
    if holds:
        plan.check_at(min(holds))
    if daemon:
        have = {t.container_instance_id for t in current}
        missing = [ci for ci in snap.daemon_instances if ci.id not in have]
        n = min(len(missing), max(0, room)) - len(holds)
        if can_launch and not throttled:
            for ci in missing[: max(0, n)]:
                expr = {"type": "memberOf", "expression": f"ec2InstanceId == {ci.ec2_instance_id}"}
                plan.start.append(([expr], 1))
    elif want > 0 and room > 0 and can_launch and not throttled:
        n = min(want, room) - len(holds)
        if n > 0:
            plan.start.append(([], n))

    in_deployment = bool(others) or want > 0
    if in_deployment and not plan.stop and not plan.start and can_launch and not throttled:
        # Nothing can move: the bounds leave no room (ECS's rounding examples).
        # Only when nothing is in flight: pending or not-yet-healthy tasks may still free
        # room by becoming healthy.
        settled = all(snap.is_healthy(t) for t in tasks)
        plan.stuck = room <= 0 and can_stop <= 0 and bool(others) and settled

    # Deployments without tasks are done with.
    live = {t.started_by for t in tasks if t.arn not in stopping and t.arn not in current_arns}
    plan.drop_deployments = {d.id for d in snap.deployments[1:] if d.id not in live}
    finished = (
        not others
        and len(current) == desired
        and not plan.stop
        and all(snap.is_healthy(t) for t in current)
    )
    plan.completed = finished
    plan.steady = finished and len(snap.deployments) - len(plan.drop_deployments) == 1
    if plan.next_check is None and (want > 0 or others) and not finished:
        plan.check_at(snap.now + RECHECK)
    if plan.next_check is not None and math.isinf(plan.next_check):
        plan.next_check = None
    return plan
