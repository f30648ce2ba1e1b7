"""A rolling deployment, then a broken one that the circuit breaker rolls back.

1. Service ``web`` runs 4 tasks of ``web:1`` (it answers ``v1``), with ECS deployment
   bounds of 50% minimum healthy and 150% maximum: at most 6 tasks run at once, and at
   least 2 healthy ones keep serving while tasks are replaced.
2. ``web:2`` (answers ``v2``) is deployed with ``svc.update(task_definition="web:2")``;
   the script prints the deployments as they progress (PRIMARY = the new one) and the
   service events, and checks that every task then answers ``v2``.
3. ``web:3`` names a program that does not exist, so its tasks never start. With the
   deployment circuit breaker (enable + rollback) the deployment fails after a few such
   tasks, and ECS rolls back to ``web:2``; the ``web:2`` tasks kept serving meanwhile.

    python examples/rolling_deployment.py [--backend auto|docker|process]
"""

from __future__ import annotations

import sys
import urllib.request
from typing import Any

import anyio
from example_support import container, http_check, http_server, make, parse_backend

import pyecs


def version(backend: str, answer: str, *, broken: bool = False) -> dict[str, Any]:
    """Task definition ``web`` answering ``answer`` (or one that cannot start)."""
    command = ["no-such-program"] if broken else http_server(backend, answer)
    return {
        "family": "web",
        "containerDefinitions": [
            container(
                backend,
                "web",
                command,
                portMappings=[{"containerPort": 8080}],
                healthCheck=http_check(backend),
            )
        ],
    }


def get(endpoint: str) -> str:
    """GET / on a task (127.0.0.1 only)."""
    with urllib.request.urlopen(f"http://{endpoint}/", timeout=5) as response:
        return str(response.read().decode().strip())


async def show_progress(svc: pyecs.Service) -> None:
    """Print the service events and the deployments each time they change."""
    seen_events: set[str] = set()
    last = ""
    while True:
        for event in reversed(svc.events):
            if event.id not in seen_events:
                seen_events.add(event.id)
                print(f"    event: {event.message}")
        line = "  ".join(
            f"{d.status} {d.task_definition.rsplit('/', 1)[-1]} "
            f"{d.running_count}/{d.desired_count} {d.rollout_state}"
            for d in svc.deployments
        )
        if line != last:
            last = line
            print(f"  deployments: {line}")
        await anyio.sleep(0.1)


async def answers(svc: pyecs.Service) -> list[str]:
    """What each task answers."""
    return [await anyio.to_thread.run_sync(get, t.endpoint("web", 8080)) for t in svc.tasks]


async def main() -> int:
    """Deploy v1, roll out v2, fail v3 and roll back."""
    backend = parse_backend(__doc__.splitlines()[0] if __doc__ else None)
    print(f"backend: {backend}")
    config = pyecs.DeploymentConfiguration(
        minimum_healthy_percent=50,
        maximum_percent=150,
        circuit_breaker=pyecs.CircuitBreaker(enable=True, rollback=True),
    )
    async with pyecs.Cluster("deploy", backend=make(backend)) as cluster:
        v1 = await cluster.register_task_definition(version(backend, "v1"))
        v2 = await cluster.register_task_definition(version(backend, "v2"))
        v3 = await cluster.register_task_definition(version(backend, "v3", broken=True))
        svc = await cluster.create_service(
            "web", task_definition=v1, desired_count=4, deployment_configuration=config
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(show_progress, svc)
            print(f"1. {v1.ref} x4")
            await svc.wait_stable(timeout=120)
            first = await answers(svc)
            print(f"  the tasks answer {first}")

            print(f"2. rolling out {v2.ref}")
            await svc.update(task_definition=v2)
            await svc.wait_stable(timeout=180)
            second = await answers(svc)
            print(f"  the tasks answer {second}")

            print(f"3. deploying {v3.ref}, whose program is missing")
            await svc.update(task_definition=v3)
            with anyio.fail_after(180):
                while svc.task_definition.revision != v2.revision or not svc.is_stable():
                    await anyio.sleep(0.1)
            third = await answers(svc)
            print(f"  rolled back to {svc.task_definition.ref}; the tasks answer {third}")
            tg.cancel_scope.cancel()
        failed = [e.message for e in svc.events if "deployment failed" in e.message]
        await svc.delete(force=True)
        await svc.wait_inactive(timeout=120)
    ok = first == ["v1"] * 4 and second == ["v2"] * 4 and third == ["v2"] * 4 and bool(failed)
    print("as expected" if ok else "unexpected results")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
