"""``pyecs up``: a service in the foreground, like ``docker compose up``.

Shows the service events as they happen and a live table of the tasks (status, health,
endpoints), with a progress line until the service reaches a steady state. Ctrl-C (or
SIGTERM) drains: the service is deleted, its tasks stop in order, and the command exits
with 128 + the signal number (130 for Ctrl-C) once nothing is left; a second Ctrl-C stops
everything at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc

from pyecs.cli._common import (
    CliError,
    add_cluster_options,
    load_task_definition,
    note,
    open_cluster,
    seconds_option,
)
from pyecs.cli._logs import LogFollower, healthy
from pyecs.cli._term import LiveView, clock, service_summary, task_table
from pyecs.cluster._cluster import Cluster
from pyecs.runtime._events import ServiceEvent, TaskStateChange
from pyecs.service._service import Service

__all__ = ["add_parser", "up"]

#: Seconds between redraws of the live region.
_REFRESH = 0.2
#: Bound on the drain after Ctrl-C (tasks get their stopTimeout within it).
_DRAIN_TIMEOUT = 180.0


def add_parser(commands: Any) -> None:
    """Add ``up`` to the subcommands."""
    p: argparse.ArgumentParser = commands.add_parser(
        "up",
        help="run a service in the foreground (Ctrl-C drains and removes it)",
        description="Register the task definition in a local cluster and run a service of "
        "it in the foreground: service events as they happen, a live table of the tasks "
        "and their health, progress until a steady state. Ctrl-C drains the service and "
        "removes everything (a second Ctrl-C: at once).",
    )
    p.add_argument("task_definition", metavar="TASK_DEFINITION", help="task-definition.json")
    p.add_argument(
        "--desired-count", "-n", type=int, default=1, help="tasks to keep running (default 1)"
    )
    p.add_argument("--service", default=None, help="the service name (default: the family)")
    p.add_argument(
        "--healthy-delay",
        type=seconds_option(finite=True),
        default=0.0,
        help="seconds a task without a health check must run to count as healthy "
        "(ECS waits 40; default 0)",
    )
    p.add_argument("--logs", action="store_true", help="also stream the containers' output")
    p.add_argument(
        "--console",
        action="store_true",
        help="serve the console page (services, tasks, events, metric charts, live) and "
        "/metrics on 127.0.0.1; prints its address (needs pyecs[server])",
    )
    p.add_argument(
        "--console-port",
        type=int,
        default=0,
        help="the console's port (default 0: a free one)",
    )
    add_cluster_options(p)
    p.set_defaults(handler=up)


def _stopped_line(event: TaskStateChange) -> str | None:
    t = event.task
    if t.last_status != "STOPPED":
        return None
    exits = ", ".join(
        f"{c.name} exit {c.exit_code}" for c in t.containers if c.exit_code is not None
    )
    return (
        f"{clock(event.created_at)} task {t.id[:12]} stopped: {t.stop_code}: {t.stopped_reason}"
        + (f" ({exits})" if exits else "")
    )


async def _show_events(
    cluster: Cluster,
    view: LiveView,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    async with cluster.subscribe() as events:
        task_status.started()
        async for event in events:
            if isinstance(event, ServiceEvent):
                view.line(f"{clock(event.created_at)} {event.message}")
            elif isinstance(event, TaskStateChange):
                line = _stopped_line(event)
                if line is not None:
                    view.line(line)


def _region(svc: Service, view: LiveView, started: float, stable: bool) -> list[str]:
    tasks = svc.tasks
    lines = task_table(tasks)
    if not stable:
        elapsed = anyio.current_time() - started if view.tty else 0.0
        summary = service_summary(
            svc.name, svc.desired_count, tasks, sum(1 for t in tasks if healthy(t)), elapsed
        )
        if not view.tty:
            summary = summary.rsplit(" (", 1)[0]
        lines.append(f"waiting for a steady state: {summary}")
    return lines


@contextlib.asynccontextmanager
async def _console(args: argparse.Namespace, cluster: Cluster) -> AsyncIterator[str | None]:
    """Serve the console page and /metrics for ``cluster`` when ``--console`` is given."""
    if not args.console:
        yield None
        return
    if not 0 <= args.console_port <= 65535:
        raise CliError(f"--console-port must be from 0 to 65535, got {args.console_port}")
    try:
        from pyecs.console import ConsoleApp
        from pyecs.server import HttpServer, console_and_metrics
    except ImportError as exc:  # pragma: no cover - the server extra is missing
        raise CliError(
            f"--console needs the server extra: pip install 'pyecs[server]' ({exc})"
        ) from exc
    console = ConsoleApp(lambda: [cluster])
    app = console_and_metrics(console, lambda: [cluster.metrics])
    try:
        async with HttpServer(app, port=args.console_port) as http:
            try:
                yield f"{http.url}/console/"
            finally:
                console.close()
    except ImportError as exc:
        raise CliError(str(exc)) from exc


async def up(args: argparse.Namespace) -> int:
    """The ``up`` command."""
    if args.desired_count < 0:
        raise CliError(f"--desired-count must be 0 or more, got {args.desired_count}")
    td = load_task_definition(args.task_definition)
    view = LiveView(sys.stdout)

    def write(prefix: str, line: str) -> None:
        view.line(f"{prefix} | {line}" if prefix else line)

    received: list[int] = []
    stop = anyio.Event()
    force = anyio.CancelScope()

    async def watch_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                received.append(int(signum))
                if len(received) == 1:
                    stop.set()
                else:
                    note("stopping at once")
                    force.cancel()

    async with (
        open_cluster(args, task_healthy_delay=args.healthy_delay) as cluster,
        _console(args, cluster) as console_url,
        anyio.create_task_group() as tg,
    ):
        if console_url is not None:
            view.line(f"console: {console_url}")
        tg.start_soon(watch_signals)
        registered = await cluster.register_task_definition(td)
        if args.logs:
            await tg.start(LogFollower(cluster, write, prefixed=True).run)
        await tg.start(_show_events, cluster, view)
        name = args.service or str(registered.family)
        svc = await cluster.create_service(
            name, task_definition=registered, desired_count=args.desired_count
        )
        started = anyio.current_time()
        stable = False
        while not stop.is_set():
            if not stable and svc.is_stable():
                stable = True
                took = anyio.current_time() - started
                view.line(
                    f"service {name} is stable: {svc.running_count} task(s) running and "
                    f"healthy after {took:.1f} s (Ctrl-C to stop)"
                )
            view.region(_region(svc, view, started, stable))
            with anyio.move_on_after(_REFRESH):
                await stop.wait()
        view.region(_region(svc, view, started, True))
        view.close()
        note(f"draining service {name} (Ctrl-C again to stop at once)")
        with force, anyio.move_on_after(_DRAIN_TIMEOUT):
            await svc.delete(force=True)
            await svc.wait_inactive(timeout=_DRAIN_TIMEOUT)
            await anyio.sleep(0.05)  # let the last events be shown
        tg.cancel_scope.cancel()
    note("stopped: every task and container of the cluster is gone")
    return 128 + received[0] if received else 0
