"""Security groups between awsvpc tasks, enforced on Docker (iptables in DOCKER-USER).

A server in group ``web`` admits tcp 8080 from group ``app`` only. A client in ``app``
connects; a client in ``other`` is refused; a rule added at runtime lets it in.

Run (as root, with Docker): python examples/security_groups.py
"""

from __future__ import annotations

import subprocess

import anyio
from example_support import IMAGE, make

import pyecs


def _vpc(*groups: str) -> dict[str, object]:
    return {"awsvpcConfiguration": {"subnets": ["subnet-a"], "securityGroups": list(groups)}}


def _task(family: str, command: list[str]) -> dict[str, object]:
    return {
        "family": family,
        "networkMode": "awsvpc",
        "memory": "64",
        "containerDefinitions": [
            {"name": "app", "image": IMAGE, "command": command, "stopTimeout": 2}
        ],
    }


async def connect(client: pyecs.Task, address: str) -> str:
    """``nc`` from inside the client task to the server."""
    cmd = ["docker", "exec", str(client.container("app").runtime_id)]
    cmd += ["sh", "-c", f"echo | nc -w 3 {address} 8080"]
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(cmd, capture_output=True, text=True, check=False)
    )
    return "connected" if done.returncode == 0 else f"refused ({done.stderr.strip()})"


async def main() -> None:
    backend = make("docker")
    async with pyecs.Cluster("security-groups-demo", backend=backend) as cluster:
        if not backend.capabilities.security_groups:
            print("this host cannot filter:", getattr(backend, "security_groups_problem", ""))
            return
        web = await cluster.create_security_group("web", "the server")
        app = await cluster.create_security_group("app", "allowed clients")
        other = await cluster.create_security_group("other", "everyone else")
        await cluster.authorize_security_group_ingress(
            web.group_id,
            [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
              "UserIdGroupPairs": [{"GroupId": app.group_id}]}],
        )  # fmt: skip
        await cluster.register_task_definition(
            _task("server", ["httpd", "-f", "-p", "8080", "-h", "/"])
        )
        await cluster.register_task_definition(_task("client", ["sleep", "600"]))
        started = []
        for family, group in (("server", web), ("client", app), ("client", other)):
            result = await cluster.run_task(family, network_configuration=_vpc(group.group_id))
            started.append(result.tasks[0].arn)
        server, good, bad = await cluster.wait_tasks_running(started, timeout=60)
        assert server.network_interface is not None
        address = str(server.network_interface.private_ipv4)
        await anyio.sleep(0.5)  # httpd starting
        print("client in app:  ", await connect(good, address))
        print("client in other:", await connect(bad, address))
        await cluster.authorize_security_group_ingress(
            web.group_id, [pyecs.IngressRule("tcp", 8080, 8080, source_group=other.group_id)]
        )
        print("after authorizing other:", await connect(bad, address))


if __name__ == "__main__":
    anyio.run(main)
