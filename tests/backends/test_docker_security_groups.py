"""Security groups on Docker, with real connections (busybox ``nc`` inside a client task).

Skipped only when this host cannot filter (``backend.security_groups_problem`` says why:
no iptables permission, bridge netfilter off, a remote engine).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

import pyecs
from pyecs.backends._shared import LABEL_OWNER
from pyecs.backends.docker import DockerBackend
from pyecs.backends.docker._engine import owner_labels
from pyecs.backends.docker._firewall import CHAIN_PREFIX, firewall_leftovers

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

NET = "subnet-a"
PORT, OTHER_PORT, LB_PORT = 18431, 18432, 18433


def _server(image: str) -> dict[str, object]:
    return {
        "family": "sg-server",
        "networkMode": "awsvpc",
        "memory": "64",
        "containerDefinitions": [
            {
                "name": "app",
                "stopTimeout": 2,
                "image": image,
                "command": [
                    "sh",
                    "-c",
                    f"httpd -p {PORT} -h / && httpd -f -p {OTHER_PORT} -h /",
                ],
            }
        ],
    }


def _client(image: str) -> dict[str, object]:
    return {
        "family": "sg-client",
        "networkMode": "awsvpc",
        "memory": "64",
        "containerDefinitions": [
            {"name": "app", "stopTimeout": 2, "image": image, "command": ["sleep", "300"]}
        ],
    }


def _net(*groups: str) -> dict[str, object]:
    return {"awsvpcConfiguration": {"subnets": [NET], "securityGroups": list(groups)}}


async def _connect(client: pyecs.Task, address: str, port: int) -> tuple[bool, str]:
    """``nc`` from inside the client task: (connected, what nc said)."""
    rid = str(client.container("app").runtime_id)
    cmd = ["docker", "exec", rid, "sh", "-c", f"echo | nc -w 3 {address} {port}"]
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    )
    return done.returncode == 0, done.stderr.strip()


def _refused(outcome: tuple[bool, str]) -> bool:
    ok, said = outcome
    return not ok and ("refused" in said.lower() or "timed out" in said.lower())


def _our_rules() -> str:
    """This process's pyecs rules: its chains and what jumps to them (another test
    process, an xdist worker or someone else's run, may have chains of its own)."""
    out = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True)
    lines = [line for line in out.stdout.splitlines() if CHAIN_PREFIX in line]
    mine = f"owner={owner_labels()[LABEL_OWNER]} "
    chains = {
        words[words.index("-j") + 1]
        for words in (line.split() for line in lines if mine in line)
        if "-j" in words and words[words.index("-j") + 1].startswith(CHAIN_PREFIX)
    }
    return "\n".join(
        line for line in lines if mine in line or any(c in line.split() for c in chains)
    )


@pytest.fixture
async def cluster(busybox_image: str) -> AsyncIterator[pyecs.Cluster]:
    backend = DockerBackend(pull="never")
    # A name of its own: tests in other workers must not share its cluster network.
    async with pyecs.Cluster(f"sg-docker-{uuid.uuid4().hex[:8]}", backend=backend) as c:
        if backend.security_groups_problem is not None:
            pytest.skip(f"this host cannot filter: {backend.security_groups_problem}")
        assert backend.capabilities.security_groups
        await c.register_task_definition(_server(busybox_image))
        await c.register_task_definition(_client(busybox_image))
        yield c
    assert _our_rules() == "", "the cluster left iptables rules behind"


async def _run(cluster: pyecs.Cluster, family: str, *groups: str) -> pyecs.Task:
    result = await cluster.run_task(family, network_configuration=_net(*groups))
    (task,) = await cluster.wait_tasks_running([result.tasks[0].arn], timeout=60)
    return task


def _address(task: pyecs.Task) -> str:
    assert task.network_interface is not None and task.network_interface.private_ipv4
    return task.network_interface.private_ipv4


async def _listening(client: pyecs.Task, address: str, port: int) -> tuple[bool, str]:
    """Connect, retrying briefly while the server's httpd may still be starting."""
    outcome = (False, "")
    for _ in range(20):
        outcome = await _connect(client, address, port)
        if outcome[0]:
            return outcome
        await anyio.sleep(0.25)
    return outcome


async def test_groups_admit_by_source_group_and_port(cluster: pyecs.Cluster) -> None:
    web = await cluster.create_security_group("web")
    ok_group = await cluster.create_security_group("clients")
    bad_group = await cluster.create_security_group("others")
    await cluster.authorize_security_group_ingress(
        web.group_id,
        [
            {
                "IpProtocol": "tcp",
                "FromPort": PORT,
                "ToPort": PORT,
                "UserIdGroupPairs": [{"GroupId": ok_group.group_id}],
            }
        ],
    )
    server = await _run(cluster, "sg-server", web.group_id)
    allowed = await _run(cluster, "sg-client", ok_group.group_id)
    denied = await _run(cluster, "sg-client", bad_group.group_id)
    address = _address(server)

    assert (await _listening(allowed, address, PORT))[0]
    assert _refused(await _connect(denied, address, PORT))  # wrong group
    assert _refused(await _connect(allowed, address, OTHER_PORT))  # right group, wrong port


async def test_rule_added_at_runtime_admits_and_revoked_refuses(cluster: pyecs.Cluster) -> None:
    web = await cluster.create_security_group("web")
    clients = await cluster.create_security_group("clients")
    server = await _run(cluster, "sg-server", web.group_id)
    client = await _run(cluster, "sg-client", clients.group_id)
    address = _address(server)
    assert _refused(await _connect(client, address, PORT))

    rule = pyecs.IngressRule("tcp", PORT, PORT, source_group=clients.group_id)
    await cluster.authorize_security_group_ingress(web.group_id, [rule])
    assert (await _listening(client, address, PORT))[0]

    await cluster.revoke_security_group_ingress(web.group_id, [rule])
    assert _refused(await _connect(client, address, PORT))

    by_address = pyecs.IngressRule("tcp", PORT, OTHER_PORT, cidr=f"{_address(client)}/32")
    await cluster.authorize_security_group_ingress(web.group_id, [by_address])
    assert (await _connect(client, address, OTHER_PORT))[0]  # a CIDR rule, a port range


async def test_balancer_outside_the_groups_sees_timed_out_targets(
    cluster: pyecs.Cluster, busybox_image: str
) -> None:
    web = await cluster.create_security_group("web")
    lb_group = await cluster.create_security_group("lb")
    callers = await cluster.create_security_group("callers")
    await cluster.register_task_definition(
        {
            "family": "sg-web",
            "networkMode": "awsvpc",
            "memory": "64",
            "containerDefinitions": [
                {
                    "name": "app",
                    "stopTimeout": 2,
                    "image": busybox_image,
                    "command": ["httpd", "-f", "-p", str(LB_PORT), "-h", "/"],
                    "portMappings": [{"containerPort": LB_PORT}],
                }
            ],
        }
    )
    health = {
        "protocol": "TCP",
        "intervalSeconds": 5,
        "timeoutSeconds": 2,
        "unhealthyThresholdCount": 2,
        "healthyThresholdCount": 2,
    }
    svc = await cluster.create_service(
        "sg-web",
        task_definition="sg-web",
        desired_count=1,
        network_configuration=_net(web.group_id),
        load_balancers=[
            {
                "containerName": "app",
                "containerPort": LB_PORT,
                "securityGroup": lb_group.group_id,
                "healthCheck": health,
                "deregistrationDelay": 0,
            }
        ],
        health_check_grace_period=600,
    )
    lb = svc.load_balancers[0]
    with anyio.fail_after(30):
        while not lb.targets() or lb.targets()[0].state != "unhealthy":
            await anyio.sleep(0.2)
    assert lb.targets()[0].reason == "Request timed out"

    await cluster.authorize_security_group_ingress(
        web.group_id,
        [pyecs.IngressRule("tcp", LB_PORT, LB_PORT, source_group=lb_group.group_id)],
    )
    with anyio.fail_after(30):
        while lb.targets()[0].state != "healthy":
            await anyio.sleep(0.2)
    await svc.wait_stable(timeout=60)
    assert cluster.discover("sg-web")  # this machine: not filtered
    assert cluster.discover("sg-web", security_groups=[callers.group_id]) == []
    assert len(cluster.discover("sg-web", security_groups=[lb_group.group_id])) == 1
    await svc.delete(force=True)


def test_gc_removes_the_chain_a_dead_process_left() -> None:
    """A chain whose owner process is gone (a crash) goes; a live owner's stays."""
    chain = f"{CHAIN_PREFIX}deadbeef00000000"
    comment = "pyecs-sg cluster=sg-gc owner={}:999999 started=2020-01-01T00:00:00+00:00"
    import socket

    comment = comment.format(socket.gethostname())
    try:
        subprocess.run(["iptables", "-N", chain], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no iptables permission here: {exc}")
    subprocess.run(
        ["iptables", "-A", chain, "-m", "comment", "--comment", comment, "-j", "RETURN"],
        check=True,
    )
    subprocess.run(
        ["iptables", "-I", "DOCKER-USER", "1", "-m", "comment", "--comment", comment, "-j", chain],
        check=True,
    )
    try:
        assert firewall_leftovers(cluster="another") == ()
        assert firewall_leftovers(cluster="sg-gc") == (chain,)
        assert chain not in _our_rules()
    finally:
        subprocess.run(["iptables", "-D", "DOCKER-USER", "-j", chain], capture_output=True)
        subprocess.run(["iptables", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-X", chain], capture_output=True)
