"""The seed scenario: cluster ``production``, task definition ``web-app``.

Run it with ``make demo``. It loads ``examples/task-definition.json`` (the ECS example,
unchanged), registers it in ``Cluster("production")`` and prints what was registered.
"""

from __future__ import annotations

from pathlib import Path

import anyio

import pyecs

HERE = Path(__file__).resolve().parent


async def main() -> None:
    """Register the seed's task definition and describe it."""
    td = pyecs.TaskDefinition.from_file(HERE / "task-definition.json")
    async with pyecs.Cluster("production") as cluster:
        web = await cluster.register_task_definition(td)
        print(f"cluster      {cluster.name} ({cluster.arn})")
        print(f"registered   {web.family}:{web.revision} [{web.status}]")
        print(f"arn          {web.task_definition_arn}")
        print(f"network mode {web.effective_network_mode}")
        print(f"reserves     {web.reserved_cpu} CPU units, {web.reserved_memory} MiB")
        for c in web.containers:
            ports = ", ".join(
                f"{pm.host_port or 'dynamic'}->{pm.container_port}/{pm.effective_protocol}"
                for pm in c.port_mappings or ()
            )
            print(
                f"container    {c.name}: image {c.image}, cpu {c.cpu}, memory {c.memory} MiB, "
                f"essential {c.is_essential}, ports [{ports}]"
            )


if __name__ == "__main__":
    anyio.run(main)
