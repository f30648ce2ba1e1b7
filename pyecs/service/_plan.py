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
        others: Live tasks that are not the current deployment's where they are (an older
            deployment's, or on a displaced instance): while there are some, a task
            turning healthy can let the deployment move on.
    """

    unhealthy: list[str] = attrs.field(factory=list)
    stop: list[tuple[str, str]] = attrs.field(factory=list)
    start: list[tuple[list[object], int]] = attrs.field(factory=list)
    stuck: bool = False
    drop_deployments: set[str] = attrs.field(factory=set)
    completed: bool = False
    steady: bool = False
    next_check: float | None = None
    others: int = 0

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


def _displaced(snap: ServiceSnapshot) -> frozenset[str]:
    """The instances whose tasks do not stay: not ACTIVE, or not registered any more."""
    if snap.displaced_instances is not None:
        return snap.displaced_instances
    known = {ci.id for ci in snap.instances}
    away = {ci.id for ci in snap.instances if ci.status != "ACTIVE"}
    away.update(
        t.container_instance_id
        for t in snap.tasks
        if t.container_instance_id and t.container_instance_id not in known
    )
    return frozenset(away)


def _current(snap: ServiceSnapshot, tasks: list[Task]) -> list[Task]:
    """The PRIMARY deployment's tasks that stay where they are (not on a DRAINING or
    unknown instance). A rollback adopts the tasks of the deployment it returns to."""
    away = _displaced(snap)
    mine = {snap.primary.id, snap.primary.rollback_of}
    # A task without an instance waits in PROVISIONING for its provider's capacity.
    return [t for t in tasks if t.started_by in mine and t.container_instance_id not in away]


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


def _has_health_check(task: Task) -> bool:
    return any(c.essential and c.has_health_check for c in task.containers)


def make_plan(snap: ServiceSnapshot) -> Plan:
    """Decide one reconcile pass from ``snap`` alone.

    One walk over the tasks works out what each one is (live, current, healthy); the
    rules then count. A service runs this at each pass, over up to thousands of tasks.
    """
    plan = Plan()
    now = snap.now
    grace = snap.health_check_grace_period
    delay = snap.healthy_delay
    since_of = snap.running_since
    held_back = snap.held_back
    serving = snap.serving
    primary = snap.primary
    mine = {primary.id, primary.rollback_of}
    away = _displaced(snap)

    # Health: replace UNHEALTHY tasks once the grace period is over. Every other task the
    # service still wants is live: current (the PRIMARY's, staying where it is) or not.
    tasks: list[Task] = []
    current: list[Task] = []
    current_healthy: list[bool] = []
    others: list[Task] = []
    others_healthy: list[bool] = []
    healthy_count = 0
    turns_healthy: float | None = None  # a task without health checks, healthy by time
    for t in snap.tasks:
        if t.desired_status != "RUNNING":
            continue
        since = since_of.get(t.arn)
        ran = None if since is None else now - since
        if ran is not None and t.health_status == "UNHEALTHY":
            if ran >= grace:
                plan.unhealthy.append(t.arn)
                continue
            plan.check_at(now + grace - ran)
        tasks.append(t)
        checked = _has_health_check(t)
        if ran is not None and not checked and ran < delay:
            at = now + delay - ran
            turns_healthy = at if turns_healthy is None else min(turns_healthy, at)
        if t.last_status != "RUNNING" or t.arn in held_back:
            healthy = False
        elif checked:
            healthy = t.health_status == "HEALTHY"
        else:
            healthy = ran is not None and (ran >= delay or t.arn in serving)
        healthy_count += healthy
        if t.started_by in mine and t.container_instance_id not in away:
            current.append(t)
            current_healthy.append(healthy)
        else:
            others.append(t)
            others_healthy.append(healthy)
    plan.others = len(others)

    if snap.status == "DRAINING":
        plan.stop = [(t.arn, "Service is being deleted") for t in tasks]
        return plan

    daemon = snap.scheduling_strategy == "DAEMON"
    desired = snap.desired_count
    lower, upper = deployment_bounds(desired, snap.deployment_configuration)
    if turns_healthy is not None:  # wake up when a task turns healthy by time
        plan.check_at(turns_healthy)

    reason = f"Scaling activity initiated by (deployment {primary.id})"
    # Old or displaced tasks that aren't healthy don't hold up the minimum: stop them.
    for t, healthy in zip(others, others_healthy, strict=True):
        if not healthy:
            plan.stop.append((t.arn, reason))
    # Healthy old tasks go as long as the healthy count stays at or above the lower bound.
    can_stop = healthy_count - lower
    if can_stop > 0:
        old_healthy = [t for t, healthy in zip(others, others_healthy, strict=True) if healthy]
        for t in old_healthy[:can_stop]:
            plan.stop.append((t.arn, reason))

    # Scale-in of the current deployment: unhealthy tasks first, then by strategy
    # (the order scale_in_need asked placement for).
    excess = len(current) - desired
    if excess > 0:
        chosen = [
            t.arn for t, healthy in zip(current, current_healthy, strict=True) if not healthy
        ][:excess]
        if snap.status == "ACTIVE" and len(chosen) < excess:
            candidates = {t.arn for t in current}.difference(chosen)
            ordered = [a for a in snap.scale_in_order if a in candidates]
            chosen += ordered[: excess - len(chosen)]
        plan.stop.extend((arn, reason) for arn in chosen)

    # Start what the current deployment lacks, within the upper bound.
    stopping = {arn for arn, _ in plan.stop}
    active = len(tasks) - len(stopping)  # every task stopped here is a live one
    can_launch = primary.rollout_state != "FAILED" and snap.status == "ACTIVE"
    throttled = now < snap.next_launch_at
    if throttled:
        plan.check_at(snap.next_launch_at)
    want = max(0, desired - len(current))
    room = upper - active
    # Replacements the restart backoff holds back wait their turn; the others start now.
    holds = [t for t in snap.backoff_holds if t > now]
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
        settled = healthy_count == len(tasks)
        plan.stuck = room <= 0 and can_stop <= 0 and bool(others) and settled

    # Deployments without tasks are done with.
    live = {t.started_by for t in others if t.arn not in stopping}
    plan.drop_deployments = {d.id for d in snap.deployments[1:] if d.id not in live}
    finished = not others and len(current) == desired and not plan.stop and all(current_healthy)
    plan.completed = finished
    plan.steady = finished and len(snap.deployments) - len(plan.drop_deployments) == 1
    if plan.next_check is None and (want > 0 or others) and not finished:
        plan.check_at(now + RECHECK)
    if plan.next_check is not None and math.isinf(plan.next_check):
        plan.next_check = None
    return plan
