"""The pure parts of the load balancer: algorithms and settings.

Target health has its own module, ``test_target_health.py``.
"""

from __future__ import annotations

import collections

import attrs
import pytest

import pyecs
from pyecs.exceptions import InvalidParameterError
from pyecs.lb._algorithms import LeastOutstanding, RoundRobin, make_picker
from pyecs.lb._config import load_balancer_from, parse_matcher


@attrs.define
class T:
    key: str
    outstanding: int = 0


# -- algorithms ----------------------------------------------------------------------------


def test_round_robin_takes_each_target_in_turn() -> None:
    targets = [T("a"), T("b"), T("c")]
    rr = RoundRobin()
    assert [rr.pick(targets).key for _ in range(7)] == list("abcabca")  # type: ignore[union-attr]


def test_round_robin_skips_excluded_targets_and_gives_up_when_none_is_left() -> None:
    targets = [T("a"), T("b"), T("c")]
    rr = RoundRobin()
    assert rr.pick(targets, {"a"}).key == "b"  # type: ignore[union-attr]
    assert rr.pick(targets, {"c"}).key == "a"  # type: ignore[union-attr]
    assert rr.pick(targets, {"a", "b", "c"}) is None
    assert rr.pick([]) is None


def test_round_robin_survives_targets_coming_and_going() -> None:
    rr = RoundRobin()
    seen = collections.Counter()
    targets = [T("a"), T("b"), T("c"), T("d")]
    for i in range(400):
        current = targets[: 2 + i % 3]
        seen[rr.pick(current).key] += 1  # type: ignore[union-attr]
    assert set(seen) == {"a", "b", "c", "d"}
    assert min(seen.values()) > 40


def test_least_outstanding_picks_the_least_loaded_target() -> None:
    targets = [T("a", 3), T("b", 1), T("c", 2)]
    assert LeastOutstanding().pick(targets).key == "b"  # type: ignore[union-attr]


def test_least_outstanding_breaks_ties_round_robin() -> None:
    targets = [T("a", 1), T("b", 0), T("c", 0)]
    lor = LeastOutstanding()
    assert [lor.pick(targets).key for _ in range(4)] == ["b", "c", "b", "c"]  # type: ignore[union-attr]


def test_least_outstanding_honours_exclusions() -> None:
    targets = [T("a", 0), T("b", 5)]
    lor = LeastOutstanding()
    assert lor.pick(targets, {"a"}).key == "b"  # type: ignore[union-attr]
    assert lor.pick(targets, {"a", "b"}) is None


def test_make_picker_by_elb_name() -> None:
    assert isinstance(make_picker("round_robin"), RoundRobin)
    assert isinstance(make_picker("least_outstanding_requests"), LeastOutstanding)


# -- settings ------------------------------------------------------------------------------


def test_defaults_are_ecs_and_elb_defaults() -> None:
    lb = pyecs.LoadBalancer(container_name="web", container_port=80)
    assert (lb.listener_host, lb.listener_port, lb.algorithm) == ("127.0.0.1", 0, "round_robin")
    assert lb.deregistration_delay == 300
    hc = lb.health_check
    assert (hc.protocol, hc.path, hc.matcher) == ("TCP", "/", "200-399")
    assert (hc.interval, hc.timeout, hc.healthy_threshold, hc.unhealthy_threshold) == (
        30,
        5,
        5,
        2,
    )


@pytest.mark.parametrize(
    ("matcher", "ranges"),
    [("200", ((200, 200),)), ("200,202", ((200, 200), (202, 202))), ("200-399", ((200, 399),))],
)
def test_matcher_forms(matcher: str, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_matcher(matcher) == ranges


def test_matcher_accepts_only_its_codes() -> None:
    hc = pyecs.TargetGroupHealthCheck(protocol="HTTP", matcher="200,204-206")
    assert [hc.accepts(c) for c in (200, 201, 204, 206, 207, 503)] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "UDP"}, "protocol must be 'TCP' or 'HTTP'"),
        ({"matcher": "2xx"}, "matcher '2xx' must be codes like"),
        ({"matcher": "399-200"}, "low to high"),
        ({"interval": 0}, "interval must be seconds more than 0"),
        ({"timeout": 10, "interval": 5}, "must not exceed the interval"),
        ({"healthy_threshold": 11}, "from 1 to 10"),
        ({"path": "health"}, "must start with '/'"),
    ],
)
def test_bad_health_checks_say_what_to_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        pyecs.TargetGroupHealthCheck(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"container_port": 0}, "container_port must be a port from 1"),
        ({"listener_port": 70000}, "listener_port must be a port from 0"),
        ({"algorithm": "random"}, "algorithm must be one of"),
        ({"deregistration_delay": 3601}, "deregistration_delay must be seconds from 0 to 3600"),
        ({"target_group_name": "-x"}, "target_group_name '-x' must be"),
    ],
)
def test_bad_load_balancers_say_what_to_fix(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"container_name": "web", "container_port": 80, **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        pyecs.LoadBalancer(**args)  # type: ignore[arg-type]


def test_ecs_dict_form() -> None:
    lb = load_balancer_from(
        {
            "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-tg/abc",
            "containerName": "web",
            "containerPort": 80,
            "algorithm": "least_outstanding_requests",
            "deregistrationDelay": 10,
            "healthCheck": {
                "protocol": "HTTP",
                "path": "/ping",
                "matcher": {"httpCode": "200"},
                "intervalSeconds": 10,
                "timeoutSeconds": 2,
                "healthyThresholdCount": 2,
                "unhealthyThresholdCount": 3,
            },
        }
    )
    assert lb == pyecs.LoadBalancer(
        container_name="web",
        container_port=80,
        algorithm="least_outstanding_requests",
        deregistration_delay=10,
        target_group_name="web-tg",
        health_check=pyecs.TargetGroupHealthCheck(
            protocol="HTTP",
            path="/ping",
            matcher="200",
            interval=10,
            timeout=2,
            healthy_threshold=2,
            unhealthy_threshold=3,
        ),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"containerName": "web"}, r"load_balancers\[0\]\.containerPort is required"),
        ({"containerName": "web", "containerPort": 80, "port": 1}, r"unknown key\(s\) \['port'\]"),
        (
            {"containerName": "web", "containerPort": 80, "healthCheck": {"interval": 1}},
            r"healthCheck: unknown key\(s\) \['interval'\]",
        ),
        ("web:80", "must be a pyecs.LoadBalancer or a dict"),
    ],
)
def test_bad_dict_forms_name_the_key(value: object, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        load_balancer_from(value)
