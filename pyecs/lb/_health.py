"""Target health as a target group keeps it: a pure state machine, then the checks.

ELB's rules (Application Load Balancer guide, "Health checks for your target groups",
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):

- "After your target is registered, it must pass one health check to be considered
  healthy": a target starts ``initial`` and its first passing check makes it ``healthy``,
  whatever ``healthy_threshold`` says.
- ``UnhealthyThresholdCount`` is "the number of consecutive failed health checks required
  before considering a target unhealthy": ``unhealthy_threshold`` failures in a row make an
  ``initial`` or ``healthy`` target ``unhealthy`` (fewer leave it where it is).
- ``HealthyThresholdCount`` is "the number of consecutive successful health checks required
  before considering an unhealthy target healthy": only an ``unhealthy`` target needs
  ``healthy_threshold`` successes in a row.

The ECS guide says the same ("After you register the target, it must pass one health check
to be considered healthy",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/load-balancer-healthcheck.html).
Deregistration makes a target ``draining`` for good: checks stop counting. When the checks
run is the balancer's business (``_balancer.py``): the first at registration, then one
every interval.
"""

from __future__ import annotations

from typing import Literal

import anyio
import attrs

from pyecs.lb._config import TargetGroupHealthCheck
from pyecs.lb._proxy import nodelay

__all__ = ["TargetHealth", "TargetState", "run_check"]

TargetState = Literal["initial", "healthy", "unhealthy", "draining"]


@attrs.define
class TargetHealth:
    """One target's state and its run of consecutive check outcomes.

    ``initial`` → ``healthy`` after one passing check; ``initial`` or ``healthy`` →
    ``unhealthy`` after ``unhealthy_threshold`` consecutive failures; ``unhealthy`` →
    ``healthy`` after ``healthy_threshold`` consecutive successes; anything → ``draining``
    on deregistration, for good.

    Attributes:
        state: ``initial``, ``healthy``, ``unhealthy`` or ``draining``.
        reason: Why the last check failed (ELB's ``TargetHealth.Description``), or "".
        successes: Consecutive successful checks.
        failures: Consecutive failed checks.
    """

    healthy_threshold: int
    unhealthy_threshold: int
    state: TargetState = "initial"
    reason: str = ""
    successes: int = 0
    failures: int = 0

    def record(self, ok: bool, reason: str = "") -> bool:
        """Count one check's outcome; return True when the state changed.

        Args:
            ok: Whether the check passed.
            reason: Why it failed (ELB's ``TargetHealth.Description``).
        """
        if self.state == "draining":
            return False
        before = self.state
        if ok:
            self.successes += 1
            self.failures = 0
            self.reason = ""
            if self.state == "initial" or (
                self.state == "unhealthy" and self.successes >= self.healthy_threshold
            ):
                self.state = "healthy"
        else:
            self.failures += 1
            self.successes = 0
            self.reason = reason or "Health checks failed"
            if self.state != "unhealthy" and self.failures >= self.unhealthy_threshold:
                self.state = "unhealthy"
        return self.state != before

    def drain(self) -> bool:
        """Deregistration began; return True when the state changed."""
        changed = self.state != "draining"
        self.state = "draining"
        return changed


async def run_check(check: TargetGroupHealthCheck, host: str, port: int) -> tuple[bool, str]:
    """One health check of ``host:port``: ``(passed, reason it failed)``."""
    try:
        with anyio.fail_after(check.timeout):
            async with await anyio.connect_tcp(host, port) as stream:
                if check.protocol == "TCP":
                    return True, ""
                nodelay(stream)
                request = (
                    f"GET {check.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "User-Agent: pyecs-elb-healthchecker/1.0\r\nConnection: close\r\n\r\n"
                )
                await stream.send(request.encode("ascii"))
                head = b""
                while b"\r\n" not in head and len(head) < 4096:
                    try:
                        head += await stream.receive(4096)
                    except anyio.EndOfStream:
                        break
    except TimeoutError:
        return False, "Request timed out"
    except OSError as exc:
        return False, f"Connection failed: {exc.strerror or exc}"
    except anyio.BrokenResourceError:
        return False, "Connection reset"
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return False, "Target responded with an invalid HTTP status line"
    status = int(parts[1])
    if check.accepts(status):
        return True, ""
    return False, f"Health checks failed with these codes: [{status}]"
