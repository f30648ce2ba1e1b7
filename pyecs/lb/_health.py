"""Target health as a target group keeps it: a pure state machine, then the checks.

A target starts ``initial``; ``healthy_threshold`` consecutive successful checks make it
``healthy`` and ``unhealthy_threshold`` consecutive failures make it ``unhealthy`` (from
``initial`` or ``healthy``); an ``unhealthy`` target needs ``healthy_threshold`` successes
again. Deregistration makes it ``draining`` for good: checks stop counting.
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
        """Count one check; return True when the state changed."""
        if self.state == "draining":
            return False
        before = self.state
        if ok:
            self.successes += 1
            self.failures = 0
            self.reason = ""
            if self.state != "healthy" and self.successes >= self.healthy_threshold:
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
