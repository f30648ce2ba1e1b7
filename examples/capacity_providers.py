"""Capacity providers with managed scaling, on the simulated backend.

Run: python examples/capacity_providers.py
"""

from __future__ import annotations

import anyio

import pyecs
from pyecs.backends import SimulatedBackend


async def main() -> None:
    backend = SimulatedBackend(1)
    async with pyecs.Cluster("demo", backend=backend) as cluster:
        await cluster.create_capacity_provider(
            "auto",
            instance_provider=backend,
            managed_scaling=pyecs.ManagedScaling(target_capacity=100),
            managed_termination_protection="ENABLED",
            scaling_interval=0.1,
        )
        await cluster.put_cluster_capacity_providers(
            ["auto", "FARGATE", "FARGATE_SPOT"], [{"capacityProvider": "auto", "weight": 1}]
        )
        await cluster.register_task_definition(
            {
                "family": "worker",
                "containerDefinitions": [{"name": "w", "image": "busybox", "memory": 3000}],
            }
        )
        result = await cluster.run_task("worker", count=3)
        print("waiting:", [t.last_status for t in result.tasks])
        print("reservation:", cluster.capacity_provider_reservation("auto"))
        running = await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=10)
        print("running on:", sorted(t.container_instance_id for t in running))
        print("reservation:", cluster.capacity_provider_reservation("auto"))


if __name__ == "__main__":
    anyio.run(main)
