"""Application Auto Scaling's JSON API (``AnyScaleFrontendService.<Action>``) over each
cluster's ``cluster.autoscaling``.

A scalable target is an ECS service: ``ServiceNamespace`` ``ecs``, ``ResourceId``
``service/<cluster>/<service>`` (a cluster of the caller's region), ``ScalableDimension``
``ecs:service:DesiredCount``; any other namespace or dimension is a ValidationException.
Errors as Application Auto Scaling encodes them: ``ValidationException`` (a bad member, an
unknown cluster or service), ``ObjectNotFoundException`` (no such target, policy or
scheduled action), ``ConcurrentUpdateException`` (the cluster was being deleted),
``InvalidNextTokenException``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from pyecs.autoscaling import ScalingPolicy, SuspendedState
from pyecs.exceptions import ClusterClosedError, PyecsError, ScalingObjectNotFoundError
from pyecs.server._aas_json import (
    AasError,
    activity_json,
    policy_json,
    scheduled_json,
    step_config,
    suspended_state,
    target_action,
    target_json,
    timestamp,
    tracking_config,
    validation,
)
from pyecs.server._call import Call, Handler, JsonObject
from pyecs.server._errors import EcsError
from pyecs.service._autoscaling import ApplicationAutoScaling

__all__ = ["HANDLERS", "TARGET_PREFIX"]

#: The X-Amz-Target prefix of Application Auto Scaling (botocore's ``targetPrefix``).
TARGET_PREFIX: Final = "AnyScaleFrontendService."
DIMENSION: Final = "ecs:service:DesiredCount"

T = TypeVar("T")


def _text(call: Call, name: str, *, required: bool = False) -> Any:
    value = call.p.data.get(name)
    if value is None:
        if required:
            raise validation(f"{call.p.action}: {name} is required")
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 1600:
        raise validation(f"{call.p.action}: {name} must be a string of 1 to 1600 characters")
    return value


def _names(call: Call, name: str) -> list[str] | None:
    value = call.p.data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise validation(f"{call.p.action}: {name} must be a list of strings")
    if len(value) > 50:
        raise validation(f"{call.p.action}: {name} may name at most 50 items")
    return value


def _namespace(call: Call, *, dimension_required: bool) -> None:
    ns = _text(call, "ServiceNamespace", required=True)
    if ns != "ecs":
        raise validation(
            f"ServiceNamespace {ns!r} is not supported: pyecs serve scales ECS services only "
            "(ServiceNamespace 'ecs')"
        )
    dim = _text(call, "ScalableDimension", required=dimension_required)
    if dim is not None and dim != DIMENSION:
        raise validation(f"ScalableDimension {dim!r}: an ECS service has only {DIMENSION!r}")


def _scaling(call: Call, resource_id: str) -> ApplicationAutoScaling:
    """The ``cluster.autoscaling`` of ``service/<cluster>/<service>``."""
    parts = resource_id.split("/")
    if len(parts) != 3 or parts[0] != "service" or not parts[1] or not parts[2]:
        raise validation(
            f"ResourceId {resource_id!r} must be 'service/<cluster name>/<service name>'"
        )
    try:
        entry = call.region.entry(parts[1])
    except EcsError as exc:
        raise validation(f"{resource_id}: {exc.message}") from exc
    return entry.cluster.autoscaling


def _resource(call: Call, *, dimension_required: bool = True) -> ApplicationAutoScaling:
    _namespace(call, dimension_required=dimension_required)
    return _scaling(call, _text(call, "ResourceId", required=True))


def _every(call: Call) -> list[ApplicationAutoScaling]:
    """The auto scaling of every cluster of the region, or of ResourceId's cluster."""
    _namespace(call, dimension_required=False)
    resource_id = _text(call, "ResourceId")
    if resource_id is not None:
        try:
            return [_scaling(call, resource_id)]
        except AasError:
            return []  # a describe of a resource that is not there finds nothing
    return [e.cluster.autoscaling for e in call.region.clusters.values()]


def _page(call: Call, items: Sequence[T], key: str, max_size: int) -> JsonObject:
    """One page of ``items`` as ``{key: [...], "NextToken"?}``."""
    size = call.p.data.get("MaxResults", max_size)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= max_size:
        raise validation(f"{call.p.action}: MaxResults must be an integer from 1 to {max_size}")
    others = {k: v for k, v in call.p.data.items() if k not in ("NextToken", "MaxResults")}
    fingerprint = hashlib.sha256(json.dumps(others, sort_keys=True).encode()).hexdigest()[:16]
    offset = 0
    token = call.p.data.get("NextToken")
    if token is not None:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(str(token) + "=" * (-len(token) % 4)))
            offset = int(decoded["o"])
            if decoded["f"] != fingerprint or offset < 0:
                raise ValueError("it belongs to another query")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AasError(
                "InvalidNextTokenException",
                f"{call.p.action}: NextToken is not one this listing gave ({exc}); start again "
                "without it",
            ) from exc
    out: JsonObject = {key: list(items[offset : offset + size])}
    if offset + size < len(items):
        raw = json.dumps({"o": offset + size, "f": fingerprint}).encode()
        out["NextToken"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return out


def _capacity(call: Call, name: str) -> int | None:
    value = call.p.data.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise validation(f"{call.p.action}: {name} must be an integer")
    return value


# -- scalable targets ----------------------------------------------------------------------


def register_scalable_target(call: Call) -> JsonObject:
    scaling = _resource(call)
    resource_id = call.p.data["ResourceId"]
    _text(call, "RoleARN")  # the service-linked role is always the one used
    known = scaling.describe_scalable_targets(resource_ids=[resource_id])
    old = known[0] if known else None
    raw_state = call.p.data.get("SuspendedState")
    state = (
        None
        if raw_state is None
        else suspended_state(raw_state, old.suspended_state if old else SuspendedState())
    )
    target = scaling.register_scalable_target(
        resource_id=resource_id,
        min_capacity=_capacity(call, "MinCapacity"),
        max_capacity=_capacity(call, "MaxCapacity"),
        suspended_state=state,
    )
    return {"ScalableTargetARN": target.scalable_target_arn}


def describe_scalable_targets(call: Call) -> JsonObject:
    wanted = _names(call, "ResourceIds")
    found = [
        target_json(t, call.region.account)
        for s in _every(call)
        for t in s.describe_scalable_targets(resource_ids=wanted)
    ]
    return _page(call, found, "ScalableTargets", 50)


def deregister_scalable_target(call: Call) -> JsonObject:
    _resource(call).deregister_scalable_target(resource_id=call.p.data["ResourceId"])
    return {}


# -- scaling policies ----------------------------------------------------------------------


def put_scaling_policy(call: Call) -> JsonObject:
    scaling = _resource(call)
    name = _text(call, "PolicyName", required=True)
    raw_tracking = call.p.data.get("TargetTrackingScalingPolicyConfiguration")
    raw_step = call.p.data.get("StepScalingPolicyConfiguration")
    policy_type = _text(call, "PolicyType")
    if policy_type is None:
        policy_type = "StepScaling" if raw_tracking is None else "TargetTrackingScaling"
    if policy_type not in ("TargetTrackingScaling", "StepScaling"):
        raise validation(
            f"PolicyType {policy_type!r} is not supported by pyecs serve: use "
            "TargetTrackingScaling or StepScaling"
        )
    policy: ScalingPolicy = scaling.put_scaling_policy(
        policy_name=name,
        resource_id=call.p.data["ResourceId"],
        policy_type=policy_type,
        target_tracking_scaling_policy_configuration=(
            None if raw_tracking is None else tracking_config(raw_tracking)
        ),
        step_scaling_policy_configuration=None if raw_step is None else step_config(raw_step),
    )
    alarms = [{"AlarmName": a.alarm_name, "AlarmARN": a.alarm_arn} for a in policy.alarms]
    return {"PolicyARN": policy.policy_arn, "Alarms": alarms}


def describe_scaling_policies(call: Call) -> JsonObject:
    names = _names(call, "PolicyNames")
    resource_id = _text(call, "ResourceId")
    found = [
        policy_json(p)
        for s in _every(call)
        for p in s.describe_scaling_policies(policy_names=names, resource_id=resource_id)
    ]
    return _page(call, found, "ScalingPolicies", 10)


def delete_scaling_policy(call: Call) -> JsonObject:
    _resource(call).delete_scaling_policy(
        policy_name=_text(call, "PolicyName", required=True),
        resource_id=call.p.data["ResourceId"],
    )
    return {}


# -- scheduled actions ---------------------------------------------------------------------


def put_scheduled_action(call: Call) -> JsonObject:
    scaling = _resource(call)
    resource_id = call.p.data["ResourceId"]
    name = _text(call, "ScheduledActionName", required=True)
    existing = scaling.describe_scheduled_actions(
        scheduled_action_names=[name], resource_id=resource_id
    )
    old = existing[0] if existing else None
    schedule = _text(call, "Schedule") or (old.schedule if old else None)
    if schedule is None:
        raise validation("PutScheduledAction: Schedule is required for a new scheduled action")
    raw_action = call.p.data.get("ScalableTargetAction")
    action = target_action(raw_action) if raw_action is not None else None
    if action is None:
        if old is None:
            raise validation("PutScheduledAction: ScalableTargetAction is required")
        action = old.scalable_target_action
    scaling.put_scheduled_action(
        scheduled_action_name=name,
        resource_id=resource_id,
        schedule=schedule,
        scalable_target_action=action,
        timezone=_text(call, "Timezone") or (old.timezone if old else None),
        start_time=timestamp(call.p.data, "StartTime") or (old.start_time if old else None),
        end_time=timestamp(call.p.data, "EndTime") or (old.end_time if old else None),
    )
    return {}


def describe_scheduled_actions(call: Call) -> JsonObject:
    names = _names(call, "ScheduledActionNames")
    resource_id = _text(call, "ResourceId")
    found = [
        scheduled_json(a)
        for s in _every(call)
        for a in s.describe_scheduled_actions(scheduled_action_names=names, resource_id=resource_id)
    ]
    return _page(call, found, "ScheduledActions", 50)


def delete_scheduled_action(call: Call) -> JsonObject:
    _resource(call).delete_scheduled_action(
        scheduled_action_name=_text(call, "ScheduledActionName", required=True),
        resource_id=call.p.data["ResourceId"],
    )
    return {}


# -- activities ----------------------------------------------------------------------------


def describe_scaling_activities(call: Call) -> JsonObject:
    include = call.p.data.get("IncludeNotScaledActivities")
    if include is not None and not isinstance(include, bool):
        raise validation("IncludeNotScaledActivities must be true or false")
    resource_id = _text(call, "ResourceId")
    found = [
        a
        for s in _every(call)
        for a in s.describe_scaling_activities(resource_id=resource_id, max_results=None)
    ]
    found.sort(key=lambda a: a.start_time, reverse=True)
    return _page(call, [activity_json(a) for a in found], "ScalingActivities", 50)


# -- errors --------------------------------------------------------------------------------


def _error(exc: PyecsError) -> AasError:
    """Application Auto Scaling's error for an exception of the library."""
    if isinstance(exc, ScalingObjectNotFoundError):
        return AasError("ObjectNotFoundException", str(exc))
    if isinstance(exc, ClusterClosedError):
        return AasError(
            "ConcurrentUpdateException", f"the cluster was deleted during the request: {exc}"
        )
    return validation(str(exc))  # an unknown service, a bad value


def _handler(action: Callable[[Call], JsonObject]) -> Handler:
    async def handle(call: Call) -> JsonObject:
        try:
            return action(call)
        except AasError:
            raise
        except PyecsError as exc:
            raise _error(exc) from exc
        except EcsError as exc:  # the shared parameter checks speak ECS's names
            raise validation(exc.message) from exc

    handle.__name__ = action.__name__
    return handle


_ACTIONS: Final[dict[str, Callable[[Call], JsonObject]]] = {
    "RegisterScalableTarget": register_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "DeregisterScalableTarget": deregister_scalable_target,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
    "DeleteScalingPolicy": delete_scaling_policy,
    "PutScheduledAction": put_scheduled_action,
    "DescribeScheduledActions": describe_scheduled_actions,
    "DeleteScheduledAction": delete_scheduled_action,
    "DescribeScalingActivities": describe_scaling_activities,
}

#: Every Application Auto Scaling action ``pyecs serve`` answers.
HANDLERS: Final[dict[str, Handler]] = {name: _handler(fn) for name, fn in _ACTIONS.items()}
