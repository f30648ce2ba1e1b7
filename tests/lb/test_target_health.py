"""The target health state machine, as ELB documents it.

Application Load Balancer guide, "Health checks for your target groups"
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):
"After your target is registered, it must pass one health check to be considered healthy."
``HealthyThresholdCount``: "The number of consecutive successful health checks required
before considering an unhealthy target healthy." ``UnhealthyThresholdCount``: "The number of
consecutive failed health checks required before considering a target unhealthy."
"""

from __future__ import annotations

import pytest

from pyecs.lb._health import TargetHealth

# -- initial -------------------------------------------------------------------------------


def test_a_new_target_is_initial() -> None:
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=2)
    assert (h.state, h.reason, h.successes, h.failures) == ("initial", "", 0, 0)


@pytest.mark.parametrize("healthy_threshold", [1, 2, 5, 10])
def test_one_passing_check_makes_a_new_target_healthy(healthy_threshold: int) -> None:
    """ELB: "After your target is registered, it must pass one health check to be considered
    healthy" -- whatever HealthyThresholdCount is."""
    h = TargetHealth(healthy_threshold=healthy_threshold, unhealthy_threshold=2)
    assert h.record(True) is True
    assert h.state == "healthy"


def test_a_new_target_turns_unhealthy_after_the_unhealthy_threshold() -> None:
    """ELB: UnhealthyThresholdCount is the number of consecutive failed checks "required
    before considering a target unhealthy" -- a newly registered one included."""
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=3)
    assert h.record(False, "Request timed out") is False
    assert h.record(False, "Request timed out") is False
    assert (h.state, h.reason) == ("initial", "Request timed out")  # not yet: 2 of 3
    assert h.record(False, "Request timed out") is True
    assert (h.state, h.reason) == ("unhealthy", "Request timed out")


def test_a_new_target_that_failed_below_the_threshold_still_needs_one_pass() -> None:
    """A new target that is not yet unhealthy is still initial: one pass makes it healthy."""
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=2)
    h.record(False, "Connection failed: Connection refused")  # the app was not up yet
    assert h.state == "initial"
    assert h.record(True) is True
    assert (h.state, h.reason, h.failures) == ("healthy", "", 0)


def test_a_failed_check_without_a_reason_says_health_checks_failed() -> None:
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=1)
    h.record(False)
    assert (h.state, h.reason) == ("unhealthy", "Health checks failed")


# -- healthy -------------------------------------------------------------------------------


def test_a_healthy_target_turns_unhealthy_after_the_unhealthy_threshold() -> None:
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=2)
    h.record(True)
    assert h.record(False, "Health checks failed with these codes: [503]") is False
    assert h.state == "healthy"
    assert h.record(False, "Health checks failed with these codes: [503]") is True
    assert (h.state, h.reason) == ("unhealthy", "Health checks failed with these codes: [503]")


def test_failures_must_be_consecutive() -> None:
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=3)
    h.record(True)
    for ok in (False, False, True, False, False):
        h.record(ok)
    assert h.state == "healthy"
    h.record(False)
    assert h.state == "unhealthy"


def test_passing_checks_keep_a_healthy_target_healthy() -> None:
    h = TargetHealth(healthy_threshold=5, unhealthy_threshold=2)
    assert [h.record(True) for _ in range(4)] == [True, False, False, False]
    assert (h.state, h.successes) == ("healthy", 4)


# -- unhealthy -----------------------------------------------------------------------------


@pytest.mark.parametrize("healthy_threshold", [2, 5])
def test_an_unhealthy_target_needs_the_healthy_threshold_to_recover(
    healthy_threshold: int,
) -> None:
    """ELB: HealthyThresholdCount is what it takes "before considering an unhealthy target
    healthy"."""
    h = TargetHealth(healthy_threshold=healthy_threshold, unhealthy_threshold=1)
    h.record(False, "Connection failed")
    assert h.state == "unhealthy"
    changes = [h.record(True) for _ in range(healthy_threshold)]
    assert changes == [False] * (healthy_threshold - 1) + [True]
    assert (h.state, h.reason) == ("healthy", "")


def test_an_unhealthy_target_that_was_never_healthy_needs_the_healthy_threshold_too() -> None:
    """Once a new target has failed its way to unhealthy, one pass is no longer enough."""
    h = TargetHealth(healthy_threshold=3, unhealthy_threshold=2)
    h.record(False)
    h.record(False)
    assert h.state == "unhealthy"
    h.record(True)
    h.record(True)
    assert h.state == "unhealthy"
    h.record(True)
    assert h.state == "healthy"


def test_recovery_successes_must_be_consecutive() -> None:
    h = TargetHealth(healthy_threshold=3, unhealthy_threshold=1)
    h.record(False)
    for ok in (True, True, False, True, True):
        h.record(ok)
    assert h.state == "unhealthy"
    h.record(True)
    assert h.state == "healthy"


def test_a_recovered_target_that_fails_again_needs_the_threshold_again() -> None:
    h = TargetHealth(healthy_threshold=2, unhealthy_threshold=1)
    for ok in (False, True, True, False, True):
        h.record(ok)
    assert h.state == "unhealthy"
    h.record(True)
    assert h.state == "healthy"


# -- draining ------------------------------------------------------------------------------


@pytest.mark.parametrize("outcomes", [(), (True,), (False, False)])
def test_draining_is_final_from_any_state(outcomes: tuple[bool, ...]) -> None:
    """initial, healthy or unhealthy: deregistration makes it draining, and checks no longer
    count."""
    h = TargetHealth(healthy_threshold=2, unhealthy_threshold=2)
    for ok in outcomes:
        h.record(ok)
    assert h.drain() is True
    assert h.drain() is False
    assert h.record(True) is False and h.record(False) is False
    assert h.record(True) is False
    assert h.state == "draining"
