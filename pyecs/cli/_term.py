"""Terminal output for the CLI: a live region under a scrolling log, and task tables.

On a terminal, the live region (a status table, a progress line) stays at the bottom and
is redrawn in place while event and log lines scroll above it, like ``docker compose up``.
Elsewhere (a pipe, a CI log) nothing is redrawn: lines are printed once, and the live
region is printed again only when its content changes.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from typing import TextIO

from pyecs.models.task import Task

__all__ = ["LiveView", "service_summary", "task_table"]


class LiveView:
    """Scrolling lines above a live region that is redrawn in place on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self._stream = stream or sys.stdout
        self.tty = self._stream.isatty() if tty is None else tty
        self._region: list[str] = []
        self._shown = 0  # lines of the region on screen (terminal only)
        self._last_printed: list[str] | None = None

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _erase(self) -> None:
        if self._shown:
            # Up to the first line of the region, then clear to the end of the screen.
            self._write(f"\x1b[{self._shown}F\x1b[J")
            self._shown = 0

    def _draw(self) -> None:
        if self._region:
            self._write("".join(line + "\n" for line in self._region))
            self._shown = len(self._region)

    def line(self, text: str) -> None:
        """Print a line above the live region (an event, a log line)."""
        if self.tty:
            self._erase()
            self._write(text + "\n")
            self._draw()
        else:
            self._write(text + "\n")

    def region(self, lines: Sequence[str]) -> None:
        """Replace the live region (redrawn on a terminal, printed when changed elsewhere)."""
        lines = list(lines)
        if self.tty:
            if lines != self._region:
                self._erase()
                self._region = lines
                self._draw()
        elif lines != self._last_printed:
            self._last_printed = lines
            self._write("".join(line + "\n" for line in lines))
        self._region = lines

    def close(self) -> None:
        """Leave the live region on screen as it is; later output goes below it."""
        self._shown = 0
        self._region = []


def _endpoints(task: Task) -> str:
    out = []
    for c in task.containers:
        for b in c.network_bindings:
            ip = "127.0.0.1" if b.bind_ip in ("0.0.0.0", "") else b.bind_ip
            suffix = "" if b.protocol == "tcp" else f"/{b.protocol}"
            out.append(f"{c.name}:{b.container_port}{suffix} -> {ip}:{b.host_port}")
    return ", ".join(out) or "-"


def task_table(tasks: Sequence[Task]) -> list[str]:
    """A fixed-width table of tasks: id, status, health, start time, endpoints."""
    rows = [("TASK", "STATUS", "HEALTH", "STARTED", "ENDPOINTS")]
    for t in tasks:
        started = t.started_at.astimezone().strftime("%H:%M:%S") if t.started_at else "-"
        status = t.last_status if t.desired_status == "RUNNING" else f"{t.last_status}*"
        rows.append((t.id[:12], status, t.health_status, started, _endpoints(t)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:4])) + "  " + r[4] for r in rows
    ]


def service_summary(
    name: str, desired: int, tasks: Sequence[Task], healthy: int, elapsed: float
) -> str:
    """``web: 1/2 running, 1/2 healthy, 1 pending (3.2 s)``."""
    running = sum(1 for t in tasks if t.last_status == "RUNNING")
    pending = sum(1 for t in tasks if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
    text = f"{name}: {running}/{desired} running, {healthy}/{desired} healthy"
    if pending:
        text += f", {pending} pending"
    return f"{text} ({elapsed:.1f} s)"


def clock(when: datetime.datetime) -> str:
    """Local ``HH:MM:SS`` of a UTC timestamp."""
    return when.astimezone().strftime("%H:%M:%S")
