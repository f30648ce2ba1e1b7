"""Task definitions as ECS takes them: nulls, odd health checks, fractional sizes.

A plain synchronous script on ``pyecs.sync``. It loads three definitions that the ECS
service registers although a stricter reading would refuse them, says what pyecs makes of
each, and runs the one with a health check of another kind than CMD/CMD-SHELL:

1. an export of the old ECS console, every unset member ``null``: it loads, and
   ``to_dict()`` has no nulls left (``pyecs validate --strict-cli`` says where the aws CLI
   would refuse it);
2. an OpenTelemetry collector whose health check is ``["/healthcheck"]``: it loads with a
   ``TaskDefinitionWarning``; like the Docker engine, pyecs runs no probe for it, and the
   container's health stays UNKNOWN while the service reaches a steady state;
3. a Fargate definition sized ``.25 vCPU`` / ``.5 GB``: 256 CPU units and 512 MiB.

    python examples/ecs_fidelity.py [--backend auto|docker|process]
"""

from __future__ import annotations

import json
import warnings

from example_support import IMAGE, make, parse_backend

import pyecs
import pyecs.sync
from pyecs.ecs import cli_problems, task_definition_warnings

CONSOLE_EXPORT = {
    "family": "legacy-api",
    "networkMode": None,
    "taskRoleArn": None,
    "containerDefinitions": [
        {
            "name": "api",
            "image": IMAGE,
            "memory": 64,
            "portMappings": [{"containerPort": 8080, "hostPort": None, "protocol": "tcp"}],
            "healthCheck": None,
            "linuxParameters": None,
            "environment": [{"name": "MODE", "value": "export"}],
        }
    ],
    "proxyConfiguration": None,
    "runtimePlatform": None,
}

COLLECTOR = {
    "family": "otel-collector",
    "containerDefinitions": [
        {
            "name": "collector",
            "image": IMAGE,
            "memory": 64,
            "command": ["sleep", "600"],
            "healthCheck": {"command": ["/healthcheck"], "interval": 5, "retries": 3},
        }
    ],
}

FARGATE = {
    "family": "exec-demo",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": ".25 vCPU",
    "memory": ".5 GB",
    "containerDefinitions": [{"name": "app", "image": IMAGE, "essential": True}],
}


def main() -> int:
    """Show each case; return 0 when pyecs behaves as ECS does."""
    backend = parse_backend(__doc__.splitlines()[0] if __doc__ else None)
    ok = True

    export = pyecs.TaskDefinition.from_dict(CONSOLE_EXPORT)
    written = json.dumps(export.to_dict())
    print(f"1. console export loads; nulls left in to_dict(): {'null' in written}")
    for problem in cli_problems(CONSOLE_EXPORT):
        print(f"   the aws CLI would refuse {problem.path}")
    ok &= "null" not in written and len(cli_problems(CONSOLE_EXPORT)) == 7

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pyecs.TaskDefinitionWarning)
        collector = pyecs.TaskDefinition.from_dict(COLLECTOR)
    print(f"2. collector loads with {len(caught)} warning:")
    for finding in task_definition_warnings(collector):
        print(f"   {finding.path}: {finding.message[:70]}...")
    ok &= len(caught) == 1

    with pyecs.sync.Cluster("fidelity", backend=make(backend), task_healthy_delay=1) as cluster:
        cluster.register_task_definition(collector)
        svc = cluster.create_service("otel", task_definition="otel-collector", desired_count=1)
        svc.wait_stable(timeout=60)
        health = svc.tasks[0].containers[0].health_status
        print(f"   the service is steady; the collector's health: {health}")
        ok &= health == "UNKNOWN"
        svc.delete(force=True)

    fargate = pyecs.TaskDefinition.from_dict(FARGATE)
    print(f"3. Fargate size {FARGATE['cpu']} / {FARGATE['memory']}: ", end="")
    print(f"{fargate.cpu_units} CPU units, {fargate.memory_mib} MiB")
    ok &= (fargate.cpu_units, fargate.memory_mib) == (256, 512)

    print("as expected" if ok else "NOT as expected")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
