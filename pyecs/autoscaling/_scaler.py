"""``ServiceScaler``: one service's scalable target, its policies, alarms and schedule.

It wakes at each round of the metrics collector (never polls), evaluates the alarms
whose period ended, and combines the policies as Application Auto Scaling does: scale
out if any policy wants to (the largest capacity wins), scale in only if every target
tracking policy that may scale in wants to, never below the minimum nor above the
maximum. Cooldowns: while a scale-out cooldown runs, nothing scales in, and a further
scale-out counts the capacity the first one added (it is computed from the capacity
before it); while a scale-in cooldown runs, only scale-out happens. Scale-in also waits
while a deployment is in progress. Scheduled actions sleep on anyio's clock until the
wall clock reaches their next run.
"""

from __future__ import annotations

import collections
import datetime
import math
import secrets
from collections.abc import Callable

import anyio
import attrs

from pyecs.autoscaling._model import (
    Alarm,
    ComparisonOperator,
    MetricAlarm,
    ScalableTarget,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
)
from pyecs.autoscaling._policies import (
    HIGH_DATAPOINTS,
    LOW_DATAPOINTS,
    SCALE_IN_RATIO,
    AlarmState,
    evaluate_alarm,
    step_capacity,
    tracking_capacity,
)
from pyecs.autoscaling._schedule import Schedule
from pyecs.metrics import MetricStore, Statistic

__all__ = ["ACTIVITIES_KEPT", "ServiceScaler", "TrackedMetric", "new_alarms"]

#: Scaling activities kept per scalable target (the oldest are forgotten first).
ACTIVITIES_KEPT = 100


@attrs.frozen
class TrackedMetric:
    """The series a target tracking policy follows, resolved."""

    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: Statistic


@attrs.define
class _Tracking:
    policy: ScalingPolicy
    metric: TrackedMetric
    high: AlarmState = "INSUFFICIENT_DATA"
    low: AlarmState = "INSUFFICIENT_DATA"
    value: float | None = None
    last_eval: float = 0.0


@attrs.define
class _StepAlarm:
    alarm: MetricAlarm
    last_eval: float = 0.0
    value: float | None = None


@attrs.define
class _Scheduled:
    action: ScheduledAction
    schedule: Schedule
    origin: datetime.datetime
    last_run: datetime.datetime | None = None


class ServiceScaler:
    """The auto scaling of one service.

    Args:
        store: The cluster's metrics.
        clock: The cluster's wall clock (UTC).
        desired_count: Reads the service's desired count.
        set_desired_count: Sets it (as UpdateService would).
        deploying: Whether a deployment is in progress (no scale-in then).
        event: Writes a service event.
    """

    def __init__(
        self,
        store: MetricStore,
        *,
        clock: Callable[[], datetime.datetime],
        desired_count: Callable[[], int],
        set_desired_count: Callable[[int], None],
        deploying: Callable[[], bool],
        event: Callable[[str], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self._desired = desired_count
        self._set_desired = set_desired_count
        self._deploying = deploying
        self._event = event
        self.target: ScalableTarget | None = None
        self.tracking: dict[str, _Tracking] = {}
        self.steps: dict[str, ScalingPolicy] = {}
        self.alarms: dict[str, _StepAlarm] = {}
        self.scheduled: dict[str, _Scheduled] = {}
        self.activities: collections.deque[ScalingActivity] = collections.deque(
            maxlen=ACTIVITIES_KEPT
        )
        self._schedule_changed = anyio.Event()
        self._out_until = -math.inf
        self._out_base = 0
        self._in_until = -math.inf
        self._step_until: dict[str, float] = {}

    # -- configuration (the facade checks the values) ---------------------------------------

    def set_target(self, target: ScalableTarget | None) -> None:
        """Register (or replace, or with None drop) the scalable target."""
        self.target = target
        if target is None:
            self.tracking.clear()
            self.steps.clear()
            self.scheduled.clear()
        else:
            self._clamp(
                f"the scalable target was registered (min {target.min_capacity}, "
                f"max {target.max_capacity})"
            )
        self._wake_schedule()

    def put_tracking(self, policy: ScalingPolicy, metric: TrackedMetric) -> None:
        """Add or replace a target tracking policy."""
        self.steps.pop(policy.policy_name, None)
        self.tracking[policy.policy_name] = _Tracking(
            policy, metric, last_eval=anyio.current_time()
        )

    def put_step(self, policy: ScalingPolicy) -> None:
        """Add or replace a step scaling policy."""
        self.tracking.pop(policy.policy_name, None)
        self.steps[policy.policy_name] = policy

    def delete_policy(self, name: str) -> bool:
        """Remove a policy; whether it existed."""
        return self.tracking.pop(name, None) is not None or self.steps.pop(name, None) is not None

    def policies(self) -> list[ScalingPolicy]:
        """Every policy, target tracking then step."""
        return [t.policy for t in self.tracking.values()] + list(self.steps.values())

    def metric_alarms(self) -> list[MetricAlarm]:
        """The metric alarms, with their last state."""
        return [a.alarm for a in self.alarms.values()]

    def alarms_for(self, policy_arn: str) -> list[MetricAlarm]:
        """The metric alarms whose actions include ``policy_arn``."""
        return [a.alarm for a in self.alarms.values() if policy_arn in a.alarm.alarm_actions]

    def scheduled_actions(self) -> list[ScheduledAction]:
        """Every scheduled action."""
        return [s.action for s in self.scheduled.values()]

    def put_alarm(self, alarm: MetricAlarm) -> None:
        """Add or replace a metric alarm whose actions are step policies."""
        self.alarms[alarm.alarm_name] = _StepAlarm(alarm, last_eval=anyio.current_time())

    def delete_alarm(self, name: str) -> bool:
        """Remove a metric alarm; whether it existed."""
        return self.alarms.pop(name, None) is not None

    def alarm_state(self, name: str) -> MetricAlarm:
        """An alarm with its current state."""
        return self.alarms[name].alarm

    def put_scheduled(self, action: ScheduledAction, schedule: Schedule) -> None:
        """Add or replace a scheduled action."""
        origin = action.start_time or action.creation_time
        self.scheduled[action.scheduled_action_name] = _Scheduled(action, schedule, origin)
        self._wake_schedule()

    def delete_scheduled(self, name: str) -> bool:
        """Remove a scheduled action; whether it existed."""
        found = self.scheduled.pop(name, None) is not None
        self._wake_schedule()
        return found

    def _wake_schedule(self) -> None:
        self._schedule_changed.set()
        self._schedule_changed = anyio.Event()

    # -- the loops -------------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate at each metrics round and run scheduled actions, until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._rounds)
            tg.start_soon(self._schedule_loop)

    async def _rounds(self) -> None:
        while True:
            at = await self.store.wait_round()
            if self.target is not None:
                self.evaluate(at)

    async def _schedule_loop(self) -> None:
        while True:
            changed = self._schedule_changed
            due = self._next_scheduled()
            if due is None:
                await changed.wait()
                continue
            when, item = due
            wait = (when - self.clock()).total_seconds()
            if wait > 0:
                with anyio.move_on_after(wait):
                    await changed.wait()
                continue  # changed, or time passed: look again
            self._run_scheduled(item, when)

    def _next_scheduled(self) -> tuple[datetime.datetime, _Scheduled] | None:
        best: tuple[datetime.datetime, _Scheduled] | None = None
        for item in self.scheduled.values():
            after = max(item.origin - datetime.timedelta(microseconds=1), item.action.creation_time)
            after = item.last_run or after
            when = item.schedule.next_after(after, item.origin)
            end = item.action.end_time
            if when is None or (end is not None and when > end):
                continue
            if best is None or when < best[0]:
                best = (when, item)
        return best

    # -- decisions -------------------------------------------------------------------------

    def evaluate(self, now: float) -> None:
        """Evaluate the alarms whose period ended by ``now`` and scale if they say so."""
        assert self.target is not None
        current = self._desired()
        outs: list[tuple[int, str, str]] = []  # (capacity, alarm, policy)
        ins: list[tuple[int, str, str]] = []
        voters = 0
        agree = 0
        evaluated = False
        for t in self.tracking.values():
            config = t.policy.target_tracking_scaling_policy_configuration
            assert config is not None
            period = config.alarm_period
            if now - t.last_eval < period - 1e-6:
                if not config.disable_scale_in:
                    voters += 1
                continue
            t.last_eval = now
            evaluated = True
            m = t.metric

            def check(
                n: int,
                threshold: float,
                op: ComparisonOperator,
                m: TrackedMetric = m,
                period: float = period,
            ) -> tuple[AlarmState, float | None]:
                return evaluate_alarm(
                    self.store,
                    namespace=m.namespace,
                    metric_name=m.metric_name,
                    dimensions=m.dimensions,
                    statistic=m.statistic,
                    period=period,
                    evaluation_periods=n,
                    datapoints_to_alarm=n,
                    threshold=threshold,
                    operator=op,
                    now=now,
                )

            t.high, t.value = check(HIGH_DATAPOINTS, config.target_value, "GreaterThanThreshold")
            high_name, low_name = (a.alarm_name for a in t.policy.alarms)
            if t.high == "ALARM" and t.value is not None:
                base = self._out_base if now < self._out_until else current
                outs.append(
                    (
                        tracking_capacity(base, t.value, config.target_value),
                        high_name,
                        t.policy.policy_name,
                    )
                )
            if config.disable_scale_in:
                continue
            voters += 1
            t.low, _ = check(
                LOW_DATAPOINTS, config.target_value * SCALE_IN_RATIO, "LessThanThreshold"
            )
            if t.low == "ALARM" and t.value is not None:
                agree += 1
                ins.append(
                    (
                        tracking_capacity(current, t.value, config.target_value),
                        low_name,
                        t.policy.policy_name,
                    )
                )
        for a in self.alarms.values():
            alarm = a.alarm
            if now - a.last_eval < alarm.period - 1e-6:
                continue
            a.last_eval = now
            evaluated = True
            policies = [
                self.steps[arn.rpartition("/")[2]]
                for arn in alarm.alarm_actions
                if arn.rpartition("/")[2] in self.steps
            ]
            aggregation: Statistic = (
                policies[0].step_scaling_policy_configuration.metric_aggregation_type
                if policies and policies[0].step_scaling_policy_configuration
                else alarm.statistic
            )
            state, a.value = evaluate_alarm(
                self.store,
                namespace=alarm.namespace,
                metric_name=alarm.metric_name,
                dimensions=alarm.dimensions,
                statistic=alarm.statistic,
                period=alarm.period,
                evaluation_periods=alarm.evaluation_periods,
                datapoints_to_alarm=alarm.datapoints_to_alarm or alarm.evaluation_periods,
                threshold=alarm.threshold,
                operator=alarm.comparison_operator,
                now=now,
                value_statistic=aggregation,
            )
            a.alarm = attrs.evolve(alarm, state_value=state)
            if state != "ALARM" or a.value is None:
                continue
            for policy in policies:
                step_config = policy.step_scaling_policy_configuration
                assert step_config is not None
                cooling = now < self._step_until.get(policy.policy_name, -math.inf)
                base = self._out_base if cooling else current
                wanted = step_capacity(step_config, base, a.value, alarm.threshold)
                if wanted is None:
                    continue
                if wanted > current:
                    outs.append((wanted, alarm.alarm_name, policy.policy_name))
                elif wanted < current and not cooling:
                    ins.append((wanted, alarm.alarm_name, policy.policy_name))
        if not evaluated:
            return
        self._decide(now, current, outs, ins, voters == agree)

    def _decide(
        self,
        now: float,
        current: int,
        outs: list[tuple[int, str, str]],
        ins: list[tuple[int, str, str]],
        all_trackers_agree: bool,
    ) -> None:
        target = self.target
        assert target is not None
        state = target.suspended_state
        lo, hi = target.min_capacity, target.max_capacity
        out = max(outs, default=None)
        if out is not None and min(out[0], hi) > current:
            if state.dynamic_scaling_out_suspended:
                return
            new = min(out[0], hi)
            if now >= self._out_until:
                self._out_base = current
            self._out_until = now + self._cooldown(out[2], out_=True)
            self._step_until[out[2]] = self._out_until
            self._scale(new, f"monitor alarm {out[1]} in state ALARM triggered policy {out[2]}")
            return
        if not ins or state.dynamic_scaling_in_suspended or self._deploying():
            return
        if now < self._out_until or now < self._in_until:
            return
        tracking_ins = [i for i in ins if i[2] in self.tracking]
        if tracking_ins and not all_trackers_agree:
            return
        cap, alarm, policy = max(ins)
        new = max(cap, lo)
        if new >= current:
            return
        self._in_until = now + self._cooldown(policy, out_=False)
        self._step_until[policy] = self._in_until
        self._scale(new, f"monitor alarm {alarm} in state ALARM triggered policy {policy}")

    def _cooldown(self, policy: str, *, out_: bool) -> float:
        t = self.tracking.get(policy)
        if t is not None:
            c = t.policy.target_tracking_scaling_policy_configuration
            assert c is not None
            return c.scale_out_cooldown if out_ else c.scale_in_cooldown
        step = self.steps[policy].step_scaling_policy_configuration
        assert step is not None
        return step.cooldown

    def _run_scheduled(self, item: _Scheduled, when: datetime.datetime) -> None:
        item.last_run = when
        target = self.target
        if target is None or target.suspended_state.scheduled_scaling_suspended:
            return
        act = item.action.scalable_target_action
        lo = target.min_capacity if act.min_capacity is None else act.min_capacity
        hi = target.max_capacity if act.max_capacity is None else act.max_capacity
        self.target = attrs.evolve(target, min_capacity=lo, max_capacity=hi)
        self._clamp(f"scheduled action name {item.action.scheduled_action_name} was triggered")

    def _clamp(self, cause: str) -> None:
        target = self.target
        assert target is not None
        current = self._desired()
        new = min(max(current, target.min_capacity), target.max_capacity)
        if new != current:
            bound = "minimum" if new > current else "maximum"
            value = target.min_capacity if new > current else target.max_capacity
            self._scale(new, f"{cause}; the {bound} capacity was set to {value}")

    def _scale(self, new: int, cause: str) -> None:
        target = self.target
        assert target is not None
        now = self.clock()
        self._set_desired(new)
        message = f"Successfully set desired count to {new}. Change successfully fulfilled by ecs."
        self.activities.appendleft(
            ScalingActivity(
                activity_id=_uuid(),
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                description=f"Setting desired count to {new}.",
                cause=cause,
                start_time=now,
                end_time=now,
                status_code="Successful",
                status_message=message,
            )
        )
        self._event(f"{message} Cause: {cause}.")


def _uuid() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_alarms(resource_id: str, region: str, account: str) -> tuple[Alarm, Alarm]:
    """The two alarms of a target tracking policy, named as AWS names them."""
    out = []
    for kind in ("AlarmHigh", "AlarmLow"):
        name = f"TargetTracking-{resource_id}-{kind}-{_uuid()}"
        out.append(Alarm(name, f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"))
    return out[0], out[1]
