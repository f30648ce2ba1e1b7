"""A multi-container task: ``dependsOn`` conditions and health checks, in ECS order.

The task has four containers:

- ``db``: becomes HEALTHY once its health check passes (it "warms up" for a second);
- ``migrate``: waits for ``db`` to be HEALTHY, does its work and exits 0 (not essential);
- ``app``: waits for ``migrate`` to exit with SUCCESS, then serves HTTP, with a health check;
- ``logger``: a sidecar that only needs ``app`` to have STARTed.

The script prints each container's start and stop as the task state changes arrive (the
order is the ``dependsOn`` order), waits until the task is RUNNING and HEALTHY, fetches a
page from ``app``, then shows what a failed dependency does: with a ``migrate`` that exits
1, ``app`` never starts and the task stops with ``TaskFailedToStart``. Leaving the cluster
stops the rest in reverse dependency order.

    python examples/multi_container.py [--backend auto|docker|process]
"""

from __future__ import annotations

import sys
import urllib.request
from typing import Any

import anyio
from example_support import container, http_check, http_server, make, parse_backend

import pyecs


def definition(backend: str, migrate_exit: int) -> dict[str, Any]:
    """The task definition (ECS JSON)."""
    if backend == "docker":  # the container's own file system: a readiness file
        warm_up = "sleep 1; mkdir -p /tmp && touch /tmp/db-ready; echo db up; exec sleep 3600"
        db_check = "test -f /tmp/db-ready"
    else:  # a local process shares /tmp with everyone: no files
        warm_up = "echo db up; exec sleep 3600"
        db_check = "true"
    return {
        "family": "shop",
        "containerDefinitions": [
            container(
                backend,
                "db",
                ["sh", "-c", warm_up],
                healthCheck={
                    "command": ["CMD-SHELL", db_check],
                    "interval": 5,
                    "retries": 3,
                    "startPeriod": 5,
                },
            ),
            container(
                backend,
                "migrate",
                ["sh", "-c", f"echo migrating; sleep 0.5; exit {migrate_exit}"],
                essential=False,
                dependsOn=[{"containerName": "db", "condition": "HEALTHY"}],
            ),
            container(
                backend,
                "app",
                http_server(backend, "hello from app"),
                portMappings=[{"containerPort": 8080}],
                healthCheck=http_check(backend),
                dependsOn=[{"containerName": "migrate", "condition": "SUCCESS"}],
            ),
            container(
                backend,
                "logger",
                ["sh", "-c", "echo shipping logs; exec sleep 3600"],
                essential=False,
                dependsOn=[{"containerName": "app", "condition": "START"}],
            ),
        ],
    }


async def show_containers(cluster: pyecs.Cluster, task_arn: str, started: float) -> None:
    """Print each container's transitions of one task, as they happen."""
    seen: dict[str, str] = {}
    async with cluster.subscribe() as events:
        async for event in events:
            if not isinstance(event, pyecs.TaskStateChange) or event.task.arn != task_arn:
                continue
            for c in event.task.containers:
                state = f"{c.last_status} {c.health_status if c.has_health_check else ''}"
                if c.exit_code is not None:
                    state += f" exit {c.exit_code}"
                if seen.get(c.name) != state:
                    seen[c.name] = state
                    at = anyio.current_time() - started
                    print(f"  {at:5.1f} s  {c.name:<8} {state.strip()}")


async def run_once(cluster: pyecs.Cluster, td: str, *, expect_running: bool) -> pyecs.Task:
    """Run one task of ``td`` and follow it until RUNNING and HEALTHY (or STOPPED)."""
    async with anyio.create_task_group() as tg:
        (task,) = (await cluster.run_task(td)).tasks
        tg.start_soon(show_containers, cluster, task.arn, anyio.current_time())
        with anyio.fail_after(90):
            while True:
                task = cluster.describe_task(task.arn)
                if expect_running and task.health_status == "HEALTHY":
                    break
                if task.last_status == "STOPPED":
                    break
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    return task


async def main() -> int:
    """Run the healthy task, then the one whose migration fails."""
    backend = parse_backend(__doc__.splitlines()[0] if __doc__ else None)
    print(f"backend: {backend}")
    async with pyecs.Cluster("shop", backend=make(backend)) as cluster:
        good = await cluster.register_task_definition(definition(backend, migrate_exit=0))
        print(f"task {good.ref}: db -> migrate (SUCCESS) -> app -> logger")
        task = await run_once(cluster, good.ref, expect_running=True)
        endpoint = task.endpoint("app", 8080)
        with urllib.request.urlopen(f"http://{endpoint}/", timeout=5) as response:
            body = response.read().decode().strip()
        print(f"task is {task.last_status} and {task.health_status}; GET {endpoint} -> {body!r}")

        bad = await cluster.register_task_definition(definition(backend, migrate_exit=1))
        print(f"task {bad.ref}: the same, but migrate exits 1")
        failed = await run_once(cluster, bad.ref, expect_running=False)
        print(f"task stopped: {failed.stop_code}: {failed.stopped_reason}")
        print(f"  app: {failed.container('app').reason}")
        ok = (
            task.health_status == "HEALTHY"
            and body == "hello from app"
            and failed.stop_code == "TaskFailedToStart"
            and failed.container("app").exit_code is None
        )
        print("leaving the cluster stops logger, app, db in reverse dependency order")
    print("as expected" if ok else "unexpected results")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
