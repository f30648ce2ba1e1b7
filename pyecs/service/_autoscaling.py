"""``cluster.autoscaling``: Application Auto Scaling's operations, as library methods.

Arguments and results mirror RegisterScalableTarget, DescribeScalableTargets,
DeregisterScalableTarget, PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy,
PutScheduledAction, DescribeScheduledActions, DeleteScheduledAction and
DescribeScalingActivities (snake_case; values in :mod:`pyecs.autoscaling`), plus
CloudWatch's PutMetricAlarm / DescribeAlarms / DeleteAlarms for the alarms that invoke
step scaling policies. A server can expose them as they are.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence

from pyecs.autoscaling import (
    Alarm,
    CustomizedMetricSpecification,
    MetricAlarm,
    ScalableTarget,
    ScalableTargetAction,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    ServiceScaler,
    StepScalingPolicyConfiguration,
    SuspendedState,
    TargetTrackingScalingPolicyConfiguration,
    TrackedMetric,
    check_steps,
    new_alarms,
    parse_schedule,
)
from pyecs.exceptions import InvalidParameterError, ScalingObjectNotFoundError
from pyecs.metrics import MetricsCollector, dimensions_key
from pyecs.service._service import Service
from pyecs.service.features._scaling import AutoScaling

__all__ = ["DIMENSION", "ApplicationAutoScaling"]

#: The one scalable dimension of an ECS service.
DIMENSION = "ecs:service:DesiredCount"
_NAME = re.compile(r"^[\w\-./:]{1,256}$")
_COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)


class ApplicationAutoScaling:
    """The auto scaling of a cluster's services (``cluster.autoscaling``)."""

    def __init__(
        self,
        *,
        cluster: str,
        region: str,
        account: str,
        service: Callable[[str], Service],
        services: Callable[[], list[Service]],
        collector: MetricsCollector,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self.cluster = cluster
        self.region = region
        self.account = account
        self._service = service
        self._services = services
        self._collector = collector
        self._clock = clock

    # -- helpers ---------------------------------------------------------------------------

    def _scaler(
        self, service_namespace: str, resource_id: str, dimension: str
    ) -> tuple[Service, ServiceScaler]:
        if service_namespace != "ecs":
            raise InvalidParameterError(
                f"service_namespace {service_namespace!r}: pyecs scales ECS services only ('ecs')"
            )
        if dimension != DIMENSION:
            raise InvalidParameterError(
                f"scalable_dimension {dimension!r}: an ECS service has only {DIMENSION!r}"
            )
        parts = resource_id.split("/") if isinstance(resource_id, str) else []
        if len(parts) != 3 or parts[0] != "service" or parts[1] != self.cluster:
            raise InvalidParameterError(
                f"resource_id {resource_id!r} must be 'service/{self.cluster}/<service name>'"
            )
        svc = self._service(parts[2])
        feature = next(f for f in svc.features if isinstance(f, AutoScaling))
        return svc, feature.scaler

    def _registered(
        self, resource_id: str, dimension: str, ns: str = "ecs"
    ) -> tuple[Service, ServiceScaler]:
        svc, scaler = self._scaler(ns, resource_id, dimension)
        if scaler.target is None:
            raise ScalingObjectNotFoundError(
                f"no scalable target for {resource_id}; register_scalable_target() first"
            )
        return svc, scaler

    def _all(self) -> list[ServiceScaler]:
        out = []
        for svc in self._services():
            for f in svc.features:
                if isinstance(f, AutoScaling) and f.scaler.target is not None:
                    out.append(f.scaler)
        return out

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:autoscaling:{self.region}:{self.account}:{kind}/{name}"

    # -- scalable targets ------------------------------------------------------------------

    def register_scalable_target(
        self,
        *,
        resource_id: str,
        min_capacity: int | None = None,
        max_capacity: int | None = None,
        suspended_state: SuspendedState | None = None,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> ScalableTarget:
        """Register or update a service's desired count as a scalable target.

        The first registration needs both capacities; later ones change what they give.
        A desired count outside ``[min, max]`` is moved inside at once (an activity).

        Raises:
            InvalidParameterError: bad capacities or identifiers.
            ServiceNotFoundError: no such service.
        """
        svc, scaler = self._scaler(service_namespace, resource_id, scalable_dimension)
        old = scaler.target
        if old is None and (min_capacity is None or max_capacity is None):
            raise InvalidParameterError(
                f"the first registration of {resource_id} needs min_capacity and max_capacity"
            )
        lo = old.min_capacity if min_capacity is None and old else min_capacity
        hi = old.max_capacity if max_capacity is None and old else max_capacity
        for name, v in (("min_capacity", lo), ("max_capacity", hi)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InvalidParameterError(f"{name} must be an integer >= 0, got {v!r}")
        assert lo is not None and hi is not None
        if lo > hi:
            raise InvalidParameterError(
                f"min_capacity {lo} is above max_capacity {hi}; make min <= max"
            )
        target = ScalableTarget(
            service_namespace="ecs",
            resource_id=resource_id,
            scalable_dimension=DIMENSION,
            min_capacity=lo,
            max_capacity=hi,
            creation_time=old.creation_time if old else self._clock(),
            scalable_target_arn=old.scalable_target_arn
            if old
            else self._arn("scalable-target", svc.name),
            suspended_state=suspended_state or (old.suspended_state if old else SuspendedState()),
        )
        scaler.set_target(target)
        return target

    def describe_scalable_targets(
        self,
        *,
        service_namespace: str = "ecs",
        resource_ids: Sequence[str] | None = None,
        scalable_dimension: str | None = None,
    ) -> list[ScalableTarget]:
        """The registered targets (all, or those of ``resource_ids``)."""
        out = [s.target for s in self._all() if s.target is not None]
        return [t for t in out if resource_ids is None or t.resource_id in resource_ids]

    def deregister_scalable_target(
        self,
        *,
        resource_id: str,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> None:
        """Deregister a target with its policies and scheduled actions.

        Raises:
            ScalingObjectNotFoundError: when it is not registered.
        """
        _, scaler = self._registered(resource_id, scalable_dimension, service_namespace)
        scaler.set_target(None)

    # -- policies --------------------------------------------------------------------------

    def put_scaling_policy(
        self,
        *,
        policy_name: str,
        resource_id: str,
        policy_type: str = "TargetTrackingScaling",
        target_tracking_scaling_policy_configuration: (
            TargetTrackingScalingPolicyConfiguration | None
        ) = None,
        step_scaling_policy_configuration: StepScalingPolicyConfiguration | None = None,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> ScalingPolicy:
        """Create or replace a scaling policy (its ``policy_arn`` and ``alarms`` inside).

        Raises:
            InvalidParameterError: a configuration that does not fit ``policy_type``.
            ScalingObjectNotFoundError: no scalable target for ``resource_id``.
        """
        svc, scaler = self._registered(resource_id, scalable_dimension, service_namespace)
        if not isinstance(policy_name, str) or not _NAME.match(policy_name):
            raise InvalidParameterError(f"policy_name {policy_name!r} must be 1-256 characters")
        arn = self._arn("scalingPolicy", f"{svc.name}/policyName/{policy_name}")
        now = self._clock()
        if policy_type == "TargetTrackingScaling":
            config = target_tracking_scaling_policy_configuration
            if config is None or step_scaling_policy_configuration is not None:
                raise InvalidParameterError(
                    "a TargetTrackingScaling policy takes target_tracking_scaling_policy_"
                    "configuration (and no step configuration)"
                )
            metric = self._tracked(svc, config)
            if not config.target_value > 0:
                raise InvalidParameterError(f"target_value must be > 0, got {config.target_value}")
            if not config.alarm_period >= self._collector.resolution:
                raise InvalidParameterError(
                    f"alarm_period {config.alarm_period} s is shorter than the metrics "
                    f"resolution ({self._collector.resolution} s); lengthen it or make "
                    "metrics_resolution smaller"
                )
            high, low = new_alarms(resource_id, self.region, self.account)
            alarms: tuple[Alarm, ...] = (high, low)
            policy = ScalingPolicy(
                arn,
                policy_name,
                "ecs",
                resource_id,
                DIMENSION,
                "TargetTrackingScaling",
                now,
                target_tracking_scaling_policy_configuration=config,
                alarms=alarms,
            )
            scaler.put_tracking(policy, metric)
            return policy
        if policy_type != "StepScaling":
            raise InvalidParameterError(
                f"policy_type {policy_type!r} must be TargetTrackingScaling or StepScaling"
            )
        step = step_scaling_policy_configuration
        if step is None or target_tracking_scaling_policy_configuration is not None:
            raise InvalidParameterError(
                "a StepScaling policy takes step_scaling_policy_configuration (and no target "
                "tracking configuration)"
            )
        check_steps(step)
        attached = tuple(Alarm(a.alarm_name, a.alarm_arn) for a in scaler.alarms_for(arn))
        policy = ScalingPolicy(
            arn,
            policy_name,
            "ecs",
            resource_id,
            DIMENSION,
            "StepScaling",
            now,
            step_scaling_policy_configuration=step,
            alarms=attached,
        )
        scaler.put_step(policy)
        return policy

    def _tracked(
        self, svc: Service, config: TargetTrackingScalingPolicyConfiguration
    ) -> TrackedMetric:
        pre, custom = config.predefined_metric_specification, config.customized_metric_specification
        if (pre is None) == (custom is None):
            raise InvalidParameterError(
                "give exactly one of predefined_metric_specification and "
                "customized_metric_specification"
            )
        if custom is not None:
            return self._custom(custom)
        assert pre is not None
        service_dims = (("ClusterName", self.cluster), ("ServiceName", svc.name))
        if pre.predefined_metric_type == "ECSServiceAverageCPUUtilization":
            return TrackedMetric("AWS/ECS", "CPUUtilization", service_dims, "Average")
        if pre.predefined_metric_type == "ECSServiceAverageMemoryUtilization":
            return TrackedMetric("AWS/ECS", "MemoryUtilization", service_dims, "Average")
        if pre.predefined_metric_type == "ALBRequestCountPerTarget":
            groups = [lb.target_group_arn.rpartition(":")[2] for lb in svc.load_balancers]
            label = pre.resource_label
            group = (
                label[label.index("targetgroup/") :] if label and "targetgroup/" in label else None
            )
            if group is None:
                if not groups:
                    raise InvalidParameterError(
                        f"ALBRequestCountPerTarget: service {svc.name!r} has no load balancer"
                    )
                group = groups[0]
            elif group not in groups:
                raise InvalidParameterError(
                    f"resource_label {label!r} names no target group of service {svc.name!r} "
                    f"(its target groups: {', '.join(groups) or 'none'})"
                )
            return TrackedMetric(
                "AWS/ApplicationELB", "RequestCountPerTarget", (("TargetGroup", group),), "Sum"
            )
        raise InvalidParameterError(
            f"predefined_metric_type {pre.predefined_metric_type!r} must be "
            "ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization or "
            "ALBRequestCountPerTarget"
        )

    def _custom(self, custom: CustomizedMetricSpecification) -> TrackedMetric:
        if custom.source is not None:
            self._collector.add_metric(
                custom.metric_name,
                custom.source,  # type: ignore[arg-type]
                namespace=custom.namespace,
                dimensions=dict(custom.dimensions),
            )
        return TrackedMetric(
            custom.namespace,
            custom.metric_name,
            dimensions_key(custom.dimensions),
            custom.statistic,
        )

    def describe_scaling_policies(
        self,
        *,
        service_namespace: str = "ecs",
        policy_names: Sequence[str] | None = None,
        resource_id: str | None = None,
        scalable_dimension: str | None = None,
    ) -> list[ScalingPolicy]:
        """The policies (of one resource, or all), filtered by name."""
        out = []
        for s in self._all():
            assert s.target is not None
            if resource_id is not None and s.target.resource_id != resource_id:
                continue
            for p in s.policies():
                if policy_names is None or p.policy_name in policy_names:
                    out.append(p)
        return out

    def delete_scaling_policy(
        self,
        *,
        policy_name: str,
        resource_id: str,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> None:
        """Delete a policy (with the alarms a target tracking policy made).

        Raises:
            ScalingObjectNotFoundError: no such policy.
        """
        _, scaler = self._registered(resource_id, scalable_dimension, service_namespace)
        if not scaler.delete_policy(policy_name):
            raise ScalingObjectNotFoundError(f"no scaling policy {policy_name!r} on {resource_id}")

    # -- CloudWatch alarms (for step scaling) ----------------------------------------------

    def put_metric_alarm(
        self,
        *,
        alarm_name: str,
        metric_name: str,
        namespace: str,
        statistic: str,
        period: float,
        evaluation_periods: int,
        threshold: float,
        comparison_operator: str,
        alarm_actions: Sequence[str],
        dimensions: dict[str, str] | None = None,
        datapoints_to_alarm: int | None = None,
    ) -> MetricAlarm:
        """A CloudWatch metric alarm whose ``alarm_actions`` are step policy ARNs.

        Raises:
            InvalidParameterError: a bad value, or an action that is no step policy.
        """
        if comparison_operator not in _COMPARISONS:
            raise InvalidParameterError(
                f"comparison_operator {comparison_operator!r} must be one of "
                + ", ".join(_COMPARISONS)
            )
        if statistic not in ("Average", "Minimum", "Maximum", "Sum", "SampleCount"):
            raise InvalidParameterError(f"statistic {statistic!r} is not a CloudWatch statistic")
        if (
            isinstance(evaluation_periods, bool)
            or not isinstance(evaluation_periods, int)
            or evaluation_periods < 1
        ):
            raise InvalidParameterError("evaluation_periods must be an integer >= 1")
        m = datapoints_to_alarm or evaluation_periods
        if not 1 <= m <= evaluation_periods:
            raise InvalidParameterError("datapoints_to_alarm must be 1..evaluation_periods")
        if not period >= self._collector.resolution:
            raise InvalidParameterError(
                f"period {period} s is shorter than the metrics resolution "
                f"({self._collector.resolution} s)"
            )
        scalers = set()
        for arn in alarm_actions:
            found = [s for s in self._all() if any(p.policy_arn == arn for p in s.policies())]
            if not found:
                raise InvalidParameterError(
                    f"alarm action {arn!r} is no scaling policy ARN; put_scaling_policy() first"
                )
            scalers.update(found)
        if len(scalers) != 1:
            raise InvalidParameterError("an alarm's actions must be policies of one service")
        alarm = MetricAlarm(
            alarm_name=alarm_name,
            alarm_arn=f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{alarm_name}",
            metric_name=metric_name,
            namespace=namespace,
            statistic=statistic,  # type: ignore[arg-type]
            period=float(period),
            evaluation_periods=evaluation_periods,
            threshold=float(threshold),
            comparison_operator=comparison_operator,  # type: ignore[arg-type]
            dimensions=dimensions_key(dimensions),
            datapoints_to_alarm=m,
            alarm_actions=tuple(alarm_actions),
        )
        scalers.pop().put_alarm(alarm)
        return alarm

    def describe_alarms(self) -> list[MetricAlarm]:
        """Every metric alarm, with its state."""
        return [a for s in self._all() for a in s.metric_alarms()]

    # -- scheduled actions -----------------------------------------------------------------

    def put_scheduled_action(
        self,
        *,
        scheduled_action_name: str,
        resource_id: str,
        schedule: str,
        scalable_target_action: ScalableTargetAction,
        timezone: str | None = None,
        start_time: datetime.datetime | None = None,
        end_time: datetime.datetime | None = None,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> ScheduledAction:
        """Create or replace a scheduled action.

        Raises:
            InvalidParameterError: a bad schedule, time zone or capacities.
            ScalingObjectNotFoundError: no scalable target for ``resource_id``.
        """
        svc, scaler = self._registered(resource_id, scalable_dimension, service_namespace)
        parsed = parse_schedule(schedule, timezone)
        act = scalable_target_action
        if act.min_capacity is None and act.max_capacity is None:
            raise InvalidParameterError("scalable_target_action needs min_capacity or max_capacity")
        if (
            act.min_capacity is not None
            and act.max_capacity is not None
            and act.min_capacity > act.max_capacity
        ):
            raise InvalidParameterError(
                "scalable_target_action: min_capacity is above max_capacity"
            )
        action = ScheduledAction(
            scheduled_action_name=scheduled_action_name,
            scheduled_action_arn=self._arn(
                "scheduledAction", f"{svc.name}/scheduledActionName/{scheduled_action_name}"
            ),
            service_namespace="ecs",
            schedule=schedule,
            resource_id=resource_id,
            scalable_dimension=DIMENSION,
            scalable_target_action=act,
            creation_time=self._clock(),
            timezone=timezone or "UTC",
            start_time=start_time,
            end_time=end_time,
        )
        scaler.put_scheduled(action, parsed)
        return action

    def describe_scheduled_actions(
        self,
        *,
        service_namespace: str = "ecs",
        scheduled_action_names: Sequence[str] | None = None,
        resource_id: str | None = None,
        scalable_dimension: str | None = None,
    ) -> list[ScheduledAction]:
        """The scheduled actions (of one resource, or all)."""
        out = []
        for s in self._all():
            for a in s.scheduled_actions():
                if resource_id is not None and a.resource_id != resource_id:
                    continue
                if (
                    scheduled_action_names is None
                    or a.scheduled_action_name in scheduled_action_names
                ):
                    out.append(a)
        return out

    def delete_scheduled_action(
        self,
        *,
        scheduled_action_name: str,
        resource_id: str,
        service_namespace: str = "ecs",
        scalable_dimension: str = DIMENSION,
    ) -> None:
        """Delete a scheduled action.

        Raises:
            ScalingObjectNotFoundError: no such action.
        """
        _, scaler = self._registered(resource_id, scalable_dimension, service_namespace)
        if not scaler.delete_scheduled(scheduled_action_name):
            raise ScalingObjectNotFoundError(
                f"no scheduled action {scheduled_action_name!r} on {resource_id}"
            )

    # -- activities ------------------------------------------------------------------------

    def describe_scaling_activities(
        self,
        *,
        service_namespace: str = "ecs",
        resource_id: str | None = None,
        scalable_dimension: str | None = None,
        max_results: int | None = 50,
    ) -> list[ScalingActivity]:
        """Scaling activities, newest first (at most ``max_results``, 1-50; None: every
        one kept, the latest 100 per target)."""
        if max_results is not None and (
            isinstance(max_results, bool)
            or not isinstance(max_results, int)
            or not 1 <= max_results <= 50
        ):
            raise InvalidParameterError("max_results must be an integer from 1 to 50")
        out = [
            a
            for s in self._all()
            for a in s.activities
            if resource_id is None or a.resource_id == resource_id
        ]
        out.sort(key=lambda a: a.start_time, reverse=True)
        return out if max_results is None else out[:max_results]
