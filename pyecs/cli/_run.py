"""``pyecs run``: one-off tasks in the foreground, like ``docker run`` for ECS tasks.

Streams every container's output to stdout (prefixed by task and container when there
is more than one), waits until every task has stopped and exits with the first non-zero
exit code of an essential container (0 when all succeeded). A task that could not start
exits with 125, as ``docker run`` does; a timeout with 124; Ctrl-C (or SIGTERM) stops the
tasks and exits with 128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import signal
import sys
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
from pyecs.cli._logs import LogFollower
from pyecs.cluster._cluster import Cluster
from pyecs.exceptions import TimeoutError
from pyecs.models.task import Task

__all__ = ["add_parser", "run"]

EXIT_FAILED_TO_START = 125
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 128  # + the signal number


def add_parser(commands: Any) -> None:
    """Add ``run`` to the subcommands."""
    p: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run one-off tasks in the foreground and exit with their exit code",
        description="Register the task definition in a local cluster, run COUNT tasks of "
        "it, stream their output, and exit with the essential container's exit code "
        "(the first non-zero one among the tasks; 125 when a task could not start, "
        "124 on --timeout, 130 on Ctrl-C, 143 on SIGTERM).",
    )
    p.add_argument("task_definition", metavar="TASK_DEFINITION", help="task-definition.json")
    p.add_argument("--count", "-n", type=int, default=1, help="how many tasks (default 1)")
    p.add_argument(
        "--overrides",
        metavar="JSON",
        help='ECS TaskOverride JSON, e.g. \'{"containerOverrides": [{"name": "app", '
        '"command": ["echo", "hi"]}]}\'',
    )
    p.add_argument(
        "--timeout",
        type=seconds_option(finite=False),
        default=None,
        metavar="SECONDS",
        help="stop the tasks after SECONDS (a number >= 0; default: no limit)",
    )

    add_cluster_options(p)
    p.set_defaults(handler=run)


def _overrides(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--overrides is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CliError("--overrides must be a JSON object (an ECS TaskOverride)")
    return value


async def show_start_progress(cluster: Cluster, arns: list[str]) -> None:
    """After a moment without a started task (image pulls...), say what they wait for."""
    started = anyio.current_time()
    tty = sys.stderr.isatty()
    shown = ""
    while True:
        tasks = [cluster.describe_task(a) for a in arns]
        if any(t.last_status in ("RUNNING", "STOPPED") or t.started_at for t in tasks):
            break
        elapsed = anyio.current_time() - started
        if elapsed >= 1.0:
            counts = collections.Counter(t.last_status for t in tasks)
            states = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            line = f"pyecs: waiting for {len(tasks)} task(s) to start: {states}"
            if tty:
                sys.stderr.write(f"\r\x1b[K{line} ({elapsed:.1f} s)")
                sys.stderr.flush()
                shown = line
            elif line != shown:
                note(line.removeprefix("pyecs: "))
                shown = line
        await anyio.sleep(0.2)
    if tty and shown:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def exit_code(tasks: list[Task]) -> int:
    """The first non-zero essential exit code, 125 for a task that never ran, else 0."""
    for task in tasks:
        if task.stop_code == "TaskFailedToStart":
            return EXIT_FAILED_TO_START
        for c in task.containers:
            if c.essential and c.exit_code not in (0, None):
                return int(c.exit_code or 0)
    return 0


async def run(args: argparse.Namespace) -> int:
    """The ``run`` command."""
    if args.count < 1:
        raise CliError(f"--count must be 1 or more, got {args.count}")
    overrides = _overrides(args.overrides)
    td = load_task_definition(args.task_definition)
    prefixed = args.count > 1 or len(td.containers) > 1

    def write(prefix: str, line: str) -> None:
        sys.stdout.write(f"{prefix} | {line}\n" if prefix else f"{line}\n")
        sys.stdout.flush()

    async with open_cluster(args) as cluster, anyio.create_task_group() as tg:
        registered = await cluster.register_task_definition(td)
        follower = LogFollower(cluster, write, prefixed=prefixed)
        await tg.start(follower.run)
        result = await cluster.run_task(registered.ref, count=args.count, overrides=overrides)
        for failure in result.failures:
            note(f"a task could not be placed: {failure.reason} {failure.detail}".rstrip())
        if not result.tasks:
            tg.cancel_scope.cancel()
            return EXIT_FAILED_TO_START
        arns = [t.arn for t in result.tasks]
        note(
            f"started {len(arns)} task(s) of {registered.ref}; waiting for them to stop "
            "(Ctrl-C stops them)"
        )
        interrupted = 0  # the first signal received

        async def watch_signals(scope: anyio.CancelScope) -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if interrupted:
                        note("stopping at once")
                        scope.cancel()
                        return
                    interrupted = int(signum)
                    note("stopping the tasks (Ctrl-C again to stop at once)")
                    for arn in arns:
                        await cluster.stop_task(arn, reason="Interrupted (pyecs run)")

        timed_out = False
        with anyio.CancelScope() as scope:
            tg.start_soon(watch_signals, scope)
            tg.start_soon(show_start_progress, cluster, arns)
            timeout = math.inf if args.timeout is None else args.timeout
            try:
                await cluster.wait_tasks_stopped(arns, timeout=timeout)
            except TimeoutError:
                timed_out = True
                note(f"the tasks still run after {args.timeout} s: stopping them")
                for arn in arns:
                    await cluster.stop_task(arn, reason="Timed out (pyecs run --timeout)")
                await cluster.wait_tasks_stopped(arns, timeout=math.inf)
        tg.cancel_scope.cancel()
        final = list(cluster.describe_tasks(arns).tasks)
    for task in final:
        if task.stop_code == "TaskFailedToStart":
            note(f"task {task.id} could not start: {task.stopped_reason}")
        else:
            exits = ", ".join(f"{c.name} exited {c.exit_code}" for c in task.containers)
            note(f"task {task.id[:8]} stopped ({task.stop_code}): {exits}")
    if interrupted:
        return EXIT_INTERRUPTED + interrupted
    if timed_out:
        return EXIT_TIMEOUT
    return exit_code(final)
