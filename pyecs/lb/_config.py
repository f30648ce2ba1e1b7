"""Load balancer settings: ECS's ``loadBalancers`` entry plus the local listener's.

ECS names a target group and the container and port it routes to; pyecs runs the target
group itself, so the same value also carries what AWS keeps on the target group: the
listener address, the algorithm, the deregistration delay and the health check. The ECS
dict form (camelCase) is accepted by :func:`load_balancer_from`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "Algorithm",
    "LoadBalancer",
    "TargetGroupHealthCheck",
    "load_balancer_from",
    "parse_matcher",
]

Algorithm = Literal["round_robin", "least_outstanding_requests"]
_ALGORITHMS = ("round_robin", "least_outstanding_requests")
_TARGET_GROUP_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


def _where(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _seconds(lo: float, hi: float, *, open_low: bool = False) -> Any:
    def check(owner: object, attribute: attrs.Attribute[float], value: float) -> None:
        ok = (
            not isinstance(value, bool)
            and isinstance(value, int | float)
            and (value > lo if open_low else value >= lo)
            and value <= hi
        )
        if not ok:
            low = f"more than {lo:g}" if open_low else f"from {lo:g}"
            raise InvalidParameterError(
                f"{type(owner).__name__}.{attribute.name} must be seconds {low} to {hi:g}, "
                f"got {value!r}"
            )

    return check


def _count(owner: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise InvalidParameterError(
            f"{type(owner).__name__}.{attribute.name} must be an integer from 1 to 10 "
            f"(AWS: 2 to 10), got {value!r}"
        )


def parse_matcher(matcher: str) -> tuple[tuple[int, int], ...]:
    """``"200"``, ``"200,202"`` or ``"200-399"`` as inclusive ranges of status codes.

    Raises:
        InvalidParameterError: for anything else, or codes outside 100-599.
    """
    ranges = []
    for part in str(matcher).split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise InvalidParameterError(
                f"health check matcher {matcher!r} must be codes like '200', '200,202' or '200-399'"
            )
        first, last = int(lo), int(hi) if sep else int(lo)
        if not 100 <= first <= last <= 599:
            raise InvalidParameterError(
                f"health check matcher {matcher!r}: codes must be from 100 to 599, low to high"
            )
        ranges.append((first, last))
    return tuple(ranges)


def _matcher(owner: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise InvalidParameterError(f"health check matcher must be a string, got {value!r}")
    parse_matcher(value)


@attrs.frozen
class TargetGroupHealthCheck:
    """How the load balancer checks its targets (the target group's health check).

    AWS's ranges are interval 5-300 s, timeout 2-120 s, thresholds 2-10; pyecs also takes
    sub-second timings and thresholds of 1, so that tests run fast.

    Attributes:
        protocol: ``TCP`` (a connection is accepted) or ``HTTP`` (``GET path`` answers
            with a status code the ``matcher`` accepts).
        path: The HTTP path (``HTTP`` only).
        matcher: Accepted status codes: ``"200"``, ``"200,202"``, ``"200-399"``.
        interval: Seconds between checks of one target.
        timeout: Seconds a check may take; no answer in time is a failure.
        healthy_threshold: Consecutive successes that make an ``unhealthy`` target
            healthy again. A newly registered (``initial``) target needs one passing
            check, as in ELB.
        unhealthy_threshold: Consecutive failures that make a target (``initial`` or
            ``healthy``) unhealthy.
    """

    protocol: Literal["TCP", "HTTP"] = attrs.field(default="TCP")
    path: str = "/"
    matcher: str = attrs.field(default="200-399", validator=_matcher)
    interval: float = attrs.field(default=30.0, validator=_seconds(0, 300, open_low=True))
    timeout: float = attrs.field(default=5.0, validator=_seconds(0, 120, open_low=True))
    healthy_threshold: int = attrs.field(default=5, validator=_count)
    unhealthy_threshold: int = attrs.field(default=2, validator=_count)

    @protocol.validator
    def _check_protocol(self, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in ("TCP", "HTTP"):
            raise InvalidParameterError(
                f"health check protocol must be 'TCP' or 'HTTP', got {value!r}"
            )

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise InvalidParameterError(f"health check path must start with '/', got {self.path!r}")
        if self.timeout > self.interval:
            raise InvalidParameterError(
                f"health check timeout ({self.timeout:g} s) must not exceed the interval "
                f"({self.interval:g} s); lower the timeout or raise the interval"
            )

    def accepts(self, status: int) -> bool:
        """Whether an HTTP status code counts as a success."""
        return any(lo <= status <= hi for lo, hi in parse_matcher(self.matcher))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], where: str = "healthCheck"
    ) -> TargetGroupHealthCheck:
        """From ELB-style camelCase keys (``intervalSeconds``, ``healthyThresholdCount``...)."""
        keys = {
            "protocol": "protocol",
            "path": "path",
            "matcher": "matcher",
            "intervalSeconds": "interval",
            "timeoutSeconds": "timeout",
            "healthyThresholdCount": "healthy_threshold",
            "unhealthyThresholdCount": "unhealthy_threshold",
        }
        kwargs = _translate(data, keys, where)
        matcher = kwargs.get("matcher")
        if isinstance(matcher, Mapping):  # ELB's Matcher: {"HttpCode": "200-299"}
            kwargs["matcher"] = matcher.get("httpCode", matcher.get("HttpCode"))
        return cls(**kwargs)


def _translate(data: Mapping[str, Any], keys: Mapping[str, str], where: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidParameterError(f"{where} must be a dict, got {type(data).__name__}")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise InvalidParameterError(
            f"{where}: unknown key(s) {unknown}; known keys are {sorted(keys)}"
        )
    return {keys[k]: v for k, v in data.items()}


@attrs.frozen
class LoadBalancer:
    """One load balancer of a service: ECS ``loadBalancers[]`` plus the local listener.

    Attributes:
        container_name: The container that receives the traffic.
        container_port: Its port (one of its ``portMappings``).
        listener_host: Where the listener binds (loopback by default).
        listener_port: The listener port; 0 picks a free one.
        algorithm: ``round_robin`` or ``least_outstanding_requests`` (connections, as
            this is a TCP proxy).
        deregistration_delay: Seconds a deregistered target keeps its open connections
            before the task proceeds to STOPPING (ECS default 300; 0-3600). The wait ends
            early once the target has no connection left.
        health_check: The target group's health check.
        target_group_name: Names the target group (default ``<service>-<port>``).
        connect_timeout: Seconds to connect to a target before trying another one.
        security_group: The balancer's own security group (the ELB's). Targets whose
            tasks are in security groups must admit it (tcp, the container port); others
            are unhealthy with ``Request timed out`` and get no traffic. None: the balancer
            is in no group, and such targets must admit ``0.0.0.0/0``.
    """

    container_name: str
    container_port: int
    listener_host: str = "127.0.0.1"
    listener_port: int = 0
    algorithm: Algorithm = "round_robin"
    deregistration_delay: float = attrs.field(default=300.0, validator=_seconds(0, 3600))
    health_check: TargetGroupHealthCheck = attrs.field(factory=TargetGroupHealthCheck)
    target_group_name: str | None = None
    connect_timeout: float = attrs.field(default=10.0, validator=_seconds(0, 3600, open_low=True))
    security_group: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.container_name, str) or not self.container_name:
            raise InvalidParameterError(
                f"load balancer container_name must be a container name, got "
                f"{self.container_name!r}"
            )
        for name in ("container_port", "listener_port"):
            value = getattr(self, name)
            low = 1 if name == "container_port" else 0
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
                raise InvalidParameterError(
                    f"load balancer {name} must be a port from {low} to 65535, got {value!r}"
                )
        if self.algorithm not in _ALGORITHMS:
            raise InvalidParameterError(
                f"load balancer algorithm must be one of {list(_ALGORITHMS)}, got "
                f"{self.algorithm!r}"
            )
        if not isinstance(self.health_check, TargetGroupHealthCheck):
            raise InvalidParameterError(
                "load balancer health_check must be a pyecs.TargetGroupHealthCheck (or a dict "
                "in load_balancers=[{...}])"
            )
        sg = self.security_group
        if sg is not None and (not isinstance(sg, str) or not sg):
            raise InvalidParameterError(
                f"load balancer security_group must be a group id ('sg-...'), got {sg!r}"
            )
        group = self.target_group_name
        if group is not None and (
            not isinstance(group, str) or not _TARGET_GROUP_NAME.match(group)
        ):
            raise InvalidParameterError(
                f"target_group_name {group!r} must be 1-32 letters, digits or '-', not starting "
                "or ending with '-'"
            )


def load_balancer_from(value: object, where: str = "load_balancers[0]") -> LoadBalancer:
    """A :class:`LoadBalancer`, or the ECS dict form, as a :class:`LoadBalancer`.

    The dict takes ECS's ``containerName`` and ``containerPort`` (``targetGroupArn`` and
    ``loadBalancerName`` are accepted; the last part of the ARN names the target group),
    and the local settings ``listenerHost``, ``listenerPort``, ``algorithm``,
    ``deregistrationDelay`` (seconds), ``connectTimeout``, ``securityGroup`` and
    ``healthCheck`` (see :meth:`TargetGroupHealthCheck.from_dict`).

    Raises:
        InvalidParameterError: naming the bad key and how to fix it.
    """
    if isinstance(value, LoadBalancer):
        return value
    keys = {
        "containerName": "container_name",
        "containerPort": "container_port",
        "listenerHost": "listener_host",
        "listenerPort": "listener_port",
        "algorithm": "algorithm",
        "deregistrationDelay": "deregistration_delay",
        "connectTimeout": "connect_timeout",
        "healthCheck": "health_check",
        "targetGroupArn": "target_group_arn",
        "loadBalancerName": "load_balancer_name",
        "securityGroup": "security_group",
    }
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            f"{where} must be a pyecs.LoadBalancer or a dict like "
            "{'containerName': 'web', 'containerPort': 80}"
        )
    kwargs = _translate(value, keys, where)
    arn = kwargs.pop("target_group_arn", None)
    kwargs.pop("load_balancer_name", None)
    if arn is not None and "target_group_name" not in kwargs:
        kwargs["target_group_name"] = str(arn).rstrip("/").split("targetgroup/")[-1].split("/")[0]
    for required in ("container_name", "container_port"):
        if required not in kwargs:
            camel = "containerName" if required == "container_name" else "containerPort"
            raise InvalidParameterError(f"{_where(where, camel)} is required")
    hc = kwargs.get("health_check")
    if isinstance(hc, Mapping):
        kwargs["health_check"] = TargetGroupHealthCheck.from_dict(hc, _where(where, "healthCheck"))
    return LoadBalancer(**kwargs)
