"""On Docker, tasks reach a service by its name: the cluster network and its service aliases.

Every bridge or awsvpc task joins the network ``pyecs-<cluster>`` of its engine once the
cluster has there a task that others find by name (a service's, or an awsvpc task) and a
second task (until then tasks start on Docker's default bridge, and are connected when the
network comes); there the containers of a service's tasks answer to the service name, so
Docker's DNS gives ``api`` the addresses of all of ``api``'s tasks (container ports, not
published ones).
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from typing import Any

import anyio
import docker
import pytest

import pyecs
from pyecs.backends.docker import DockerBackend
from pyecs.backends.docker._config import (
    TaskPlan,
    cluster_network_name,
    create_args,
    service_aliases,
)
from pyecs.models.task_definition import TaskDefinition

pytestmark = [pytest.mark.anyio]

#: busybox httpd on port 80 serving ``<service> <hostname>`` (the hostname: the container id).
SERVE = 'mkdir -p /www && echo "$0 $HOSTNAME" > /www/index.html && exec httpd -f -p 80 -h /www'
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
_ADDRESS = re.compile(r"^Address:\s+(\d+\.\d+\.\d+\.\d+)$")


def caller_script(service: str, tries: int = 30) -> str:
    """Look ``service`` up, fetch ``http://<service>/`` ``tries`` times, print it all."""
    return (
        f"nslookup {service}; echo lookup-done; i=0; while [ $i -lt {tries} ]; do "
        f'echo "got $(wget -q -O - http://{service}/ 2>&1)"; i=$((i+1)); sleep 0.1; done; '
        "echo calls-done; trap 'exit 0' TERM; sleep 3600 & wait"
    )


def web_container(image: str, service: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "image": image,
        "memory": 32,
        "command": ["sh", "-c", SERVE, service],
        "portMappings": [{"containerPort": 80}],
        "stopTimeout": 2,
        **extra,
    }


def caller_container(image: str, service: str) -> dict[str, Any]:
    return {
        "name": "caller",
        "image": image,
        "memory": 32,
        "command": ["sh", "-c", caller_script(service)],
        "stopTimeout": 2,
    }


async def caller_output(cluster: pyecs.Cluster, task_arn: str, container: str) -> list[str]:
    """The caller's log lines once it has made all its calls."""
    await cluster.wait_tasks_running([task_arn], timeout=60)  # its containers exist then
    lines: list[str] = []
    with anyio.fail_after(60):
        while "calls-done" not in lines:
            await anyio.sleep(0.2)
            lines = [line async for line in cluster.task_logs(task_arn, container)]
    return lines


def looked_up(lines: list[str]) -> set[str]:
    """The addresses ``nslookup`` printed (the DNS server's own line has a port)."""
    head = lines[: lines.index("lookup-done")]
    return {m.group(1) for line in head if (m := _ADDRESS.match(line.strip()))}


def answers(lines: list[str]) -> list[str]:
    return [line.removeprefix("got ") for line in lines if line.startswith("got ")]


def cluster_ip(client: docker.DockerClient, runtime_id: str | None, network: str) -> str:
    info = client.api.inspect_container(runtime_id)
    return str(info["NetworkSettings"]["Networks"][network]["IPAddress"])


def labelled(client: docker.DockerClient, cluster: str) -> list[str]:
    """Containers and networks that still carry the cluster's label."""
    filters = {"label": f"pyecs.cluster={cluster}"}
    found = [c["Names"][0] for c in client.api.containers(all=True, filters=filters)]
    return found + [n["Name"] for n in client.api.networks(filters=filters)]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode().strip()


async def api_and_client(cluster: pyecs.Cluster, image: str, *, api_tasks: int) -> pyecs.Service:
    """Register ``api`` (a web server) and ``client`` (a caller of ``api``); run the
    service ``api`` with ``api_tasks`` tasks until it is stable."""
    await cluster.register_task_definition(
        {"family": "api", "containerDefinitions": [web_container(image, "api")]}
    )
    await cluster.register_task_definition(
        {"family": "client", "containerDefinitions": [caller_container(image, "api")]}
    )
    svc = await cluster.create_service("api", task_definition="api", desired_count=api_tasks)
    return await svc.wait_stable(timeout=60)


# -- with a Docker engine ----------------------------------------------------------------------


@pytest.mark.docker
async def test_a_standalone_task_reaches_a_service_by_name(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    name = f"sd-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    backend = DockerBackend(pull="never")
    async with pyecs.Cluster(name, backend=backend, task_healthy_delay=0.5) as cluster:
        svc = await api_and_client(cluster, busybox_image, api_tasks=2)
        webs = [t.container("web") for t in svc.tasks]
        hosts = {str(w.runtime_id)[:12] for w in webs}
        ips = {cluster_ip(docker_client, w.runtime_id, network) for w in webs}
        # The one network of single-container tasks: the cluster's, labelled like the rest.
        info = docker_client.api.inspect_network(network)
        assert info["Driver"] == "bridge"
        assert info["Labels"]["pyecs.cluster"] == name
        assert set(info["Containers"]) == {str(w.runtime_id) for w in webs}
        # Published ports on 127.0.0.1 still work.
        for w in webs:
            (binding,) = w.network_bindings
            assert binding.bind_ip == "127.0.0.1"
            url = f"http://127.0.0.1:{binding.host_port}/"
            assert await anyio.to_thread.run_sync(fetch, url) == f"api {str(w.runtime_id)[:12]}"

        (caller,) = (await cluster.run_task("client")).tasks
        lines = await caller_output(cluster, caller.arn, "caller")
        assert looked_up(lines) == ips  # DNS answers `api` with both tasks' addresses
        got = answers(lines)
        assert len(got) == 30
        assert all(a.startswith("api ") for a in got), got
        assert {a.split()[1] for a in got} <= hosts  # every call reached an api task
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_a_task_alone_starts_on_the_bridge_and_joins_when_a_second_comes(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    name = f"sd-alone-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    async with pyecs.Cluster(
        name, backend=DockerBackend(pull="never"), task_healthy_delay=0.5
    ) as cluster:
        svc = await api_and_client(cluster, busybox_image, api_tasks=1)
        (web,) = [t.container("web") for t in svc.tasks]
        info = docker_client.api.inspect_container(web.runtime_id)
        assert set(info["NetworkSettings"]["Networks"]) == {"bridge"}
        assert network not in {n["Name"] for n in docker_client.api.networks()}

        (caller,) = (await cluster.run_task("client")).tasks
        lines = await caller_output(cluster, caller.arn, "caller")
        info = docker_client.api.inspect_container(web.runtime_id)
        assert set(info["NetworkSettings"]["Networks"]) == {"bridge", network}
        assert info["NetworkSettings"]["Networks"][network]["Aliases"][:1] == ["api"]
        ip = cluster_ip(docker_client, web.runtime_id, network)
        assert looked_up(lines) == {ip}
        assert set(answers(lines)) == {f"api {str(web.runtime_id)[:12]}"}
        # The connected container uses the network's DNS now, too.
        code, out = docker_client.containers.get(web.runtime_id).exec_run(["nslookup", "api"])
        assert code == 0, out
        assert ip in out.decode()
        # Its published port still answers.
        (binding,) = web.network_bindings
        url = f"http://127.0.0.1:{binding.host_port}/"
        assert await anyio.to_thread.run_sync(fetch, url) == f"api {str(web.runtime_id)[:12]}"
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_tasks_nobody_calls_by_name_start_on_the_bridge_without_a_network(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    """Standalone bridge tasks need no name service: however many, they start on Docker's
    default bridge, and a service's first task later brings the network to all of them."""
    name = f"sd-plain-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    async with pyecs.Cluster(
        name, backend=DockerBackend(pull="never"), task_healthy_delay=0.5
    ) as cluster:
        await cluster.register_task_definition(
            {"family": "api", "containerDefinitions": [web_container(busybox_image, "api")]}
        )
        app = {"name": "app", "image": busybox_image, "memory": 16, "command": IDLE}
        await cluster.register_task_definition({"family": "plain", "containerDefinitions": [app]})
        arns = [t.arn for t in (await cluster.run_task("plain", count=3)).tasks]
        tasks = await cluster.wait_tasks_running(arns, timeout=30)
        for task in tasks:
            info = docker_client.api.inspect_container(task.container("app").runtime_id)
            assert set(info["NetworkSettings"]["Networks"]) == {"bridge"}
        assert network not in {n["Name"] for n in docker_client.api.networks()}
        # A service's task is found by name: now the network is made, and the standalone
        # tasks (callers, maybe) are connected to it.
        svc = await cluster.create_service("api", task_definition="api", desired_count=1)
        await svc.wait_stable(timeout=30)
        for task in tasks:
            info = docker_client.api.inspect_container(task.container("app").runtime_id)
            assert set(info["NetworkSettings"]["Networks"]) == {"bridge", network}
        (web,) = [t.container("web") for t in svc.tasks]
        info = docker_client.api.inspect_container(web.runtime_id)
        assert network in info["NetworkSettings"]["Networks"]
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_tasks_nobody_calls_start_on_the_bridge_also_once_the_network_exists(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    """The network outlives the service that brought it; tasks started after the service
    is gone need no name service and start on the bridge, and the next service's task
    connects them (they may call it)."""
    name = f"sd-after-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    async with pyecs.Cluster(
        name, backend=DockerBackend(pull="never"), task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(
            {"family": "api", "containerDefinitions": [web_container(busybox_image, "api")]}
        )
        app = {"name": "app", "image": busybox_image, "memory": 16, "command": IDLE}
        await cluster.register_task_definition({"family": "plain", "containerDefinitions": [app]})
        first = await cluster.create_service("api", task_definition="api", desired_count=2)
        await first.wait_stable(timeout=30)
        await first.delete(force=True)
        await first.wait_inactive(timeout=30)
        assert network in {n["Name"] for n in docker_client.api.networks()}

        arns = [t.arn for t in (await cluster.run_task("plain", count=2)).tasks]
        tasks = await cluster.wait_tasks_running(arns, timeout=30)
        for task in tasks:
            info = docker_client.api.inspect_container(task.container("app").runtime_id)
            assert set(info["NetworkSettings"]["Networks"]) == {"bridge"}
        second = await cluster.create_service("api2", task_definition="api", desired_count=1)
        await second.wait_stable(timeout=30)
        for task in tasks:
            info = docker_client.api.inspect_container(task.container("app").runtime_id)
            assert set(info["NetworkSettings"]["Networks"]) == {"bridge", network}
        (web,) = [t.container("web") for t in second.tasks]
        info = docker_client.api.inspect_container(web.runtime_id)
        assert info["NetworkSettings"]["Networks"][network]["Aliases"][:1] == ["api2"]
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_a_multi_container_service_task_is_reachable_by_its_name(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    name = f"sd-multi-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    helper = {
        "name": "helper",  # reaches `web` of its own task by container name, as before
        "image": busybox_image,
        "memory": 32,
        "command": [
            "sh",
            "-c",
            "until page=$(wget -q -O - http://web/); do sleep 0.2; done; "
            'echo "helper $page"; trap "exit 0" TERM; sleep 3600 & wait',
        ],
        "stopTimeout": 2,
    }
    idle = {"name": "idle", "image": busybox_image, "memory": 16, "command": IDLE}
    async with pyecs.Cluster(
        name, backend=DockerBackend(pull="never"), task_healthy_delay=0.5
    ) as cluster:
        await cluster.register_task_definition(
            {
                "family": "orders",
                "containerDefinitions": [web_container(busybox_image, "orders"), helper],
            }
        )
        await cluster.register_task_definition(
            {  # a caller of two containers: it joins the cluster network too
                "family": "client",
                "containerDefinitions": [caller_container(busybox_image, "orders"), idle],
            }
        )
        svc = await cluster.create_service("orders", task_definition="orders", desired_count=1)
        await svc.wait_stable(timeout=60)
        (task,) = svc.tasks
        web = task.container("web")
        host = str(web.runtime_id)[:12]
        own = f"pyecs-{name}-{task.id[:12]}"

        def networks_of(runtime_id: str | None) -> set[str]:
            info = docker_client.api.inspect_container(runtime_id)
            return set(info["NetworkSettings"]["Networks"])

        # Alone in the cluster, the task has only its own network (container names).
        assert networks_of(web.runtime_id) == {own}
        assert network not in {n["Name"] for n in docker_client.api.networks()}
        # The second task brings the cluster network, and the first one joins it (with
        # the service name), before the caller starts.
        (caller,) = (await cluster.run_task("client")).tasks
        (caller,) = await cluster.wait_tasks_running([caller.arn], timeout=30)
        assert networks_of(web.runtime_id) == {own, network}
        assert networks_of(task.container("helper").runtime_id) == {own, network}
        lines = await caller_output(cluster, caller.arn, "caller")
        # Only `web` (essential, with ports) answers to `orders`, not `helper`.
        assert looked_up(lines) == {cluster_ip(docker_client, web.runtime_id, network)}
        assert set(answers(lines)) == {f"orders {host}"}
        helper_lines: list[str] = []
        with anyio.fail_after(30):
            while f"helper orders {host}" not in helper_lines:
                await anyio.sleep(0.2)
                helper_lines = [line async for line in cluster.task_logs(task.arn, "helper")]
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_two_open_clusters_of_one_name_share_the_network_until_the_last_closes(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    name = f"sd-shared-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    td = {
        "family": "idle",
        "containerDefinitions": [
            {"name": "app", "image": busybox_image, "memory": 16, "command": IDLE}
        ],
    }
    async with pyecs.Cluster(name, backend=DockerBackend(pull="never")) as second:
        await second.register_task_definition(td)
        async with pyecs.Cluster(
            name, backend=DockerBackend(pull="never"), task_healthy_delay=0
        ) as first:
            await first.register_task_definition(td)
            # A service's task (found by name) in one, a standalone task in the other.
            svc = await first.create_service("idle", task_definition="idle", desired_count=1)
            await svc.wait_stable(timeout=30)
            (two,) = (await second.run_task("idle")).tasks
            (two,) = await second.wait_tasks_running([two.arn], timeout=30)
            info = docker_client.api.inspect_network(network)
            assert len(info["Containers"]) == 2  # one network for both
        # The first closed: its task is gone, the network stays for the second's task.
        info = docker_client.api.inspect_network(network)
        assert list(info["Containers"]) == [two.container("app").runtime_id]
        (three,) = (await second.run_task("idle")).tasks
        await second.wait_tasks_running([three.arn], timeout=30)
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_a_network_removed_meanwhile_is_made_again(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    """Another open Cluster of the name may remove the network when it closes while this
    one has no container: the next container brings it back."""
    name = f"sd-gone-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    # A stop that comes before the shell has set its trap is ignored (PID 1): a short
    # stopTimeout keeps that from costing 30 s of the wait below.
    app = {
        "name": "app",
        "image": busybox_image,
        "memory": 16,
        "command": IDLE,
        "stopTimeout": 2,
    }
    async with pyecs.Cluster(
        name, backend=DockerBackend(pull="never"), task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition({"family": "one", "containerDefinitions": [app]})
        await cluster.register_task_definition(
            {"family": "two", "containerDefinitions": [app, {**app, "name": "side"}]}
        )
        for i, family in enumerate(("one", "two", "one")):  # created on it, then connected
            # Two tasks of a service: a task alone, or tasks nobody calls by name, would
            # not need the network.
            svc = await cluster.create_service(f"s{i}", task_definition=family, desired_count=2)
            await svc.wait_stable(timeout=30)
            for task in svc.tasks:
                for c in task.containers:
                    info = docker_client.api.inspect_container(c.runtime_id)
                    assert network in info["NetworkSettings"]["Networks"]
            await svc.delete(force=True)
            await svc.wait_inactive(timeout=30)
            docker_client.api.remove_network(network)
    assert labelled(docker_client, name) == []


@pytest.mark.docker
async def test_a_network_of_the_name_that_pyecs_did_not_make_is_not_used(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    name = f"sd-foreign-{uuid.uuid4().hex[:8]}"
    network = cluster_network_name(name)
    docker_client.api.create_network(network, driver="bridge")
    try:
        async with pyecs.Cluster(name, backend=DockerBackend(pull="never")) as cluster:
            app = {"name": "app", "image": busybox_image, "memory": 16, "command": IDLE}
            await cluster.register_task_definition(
                {"family": "one", "networkMode": "awsvpc", "containerDefinitions": [app]}
            )
            # Two awsvpc tasks (found by their address): the first, alone, needs no network
            # and runs on the default bridge; the second needs the cluster network and
            # fails, saying why.
            vpc = {"awsvpcConfiguration": {"subnets": ["subnet-a"]}}
            result = await cluster.run_task("one", count=2, network_configuration=vpc)
            arns = [t.arn for t in result.tasks]
            with anyio.fail_after(30):
                while True:
                    tasks = cluster.describe_tasks(arns).tasks
                    if {t.last_status for t in tasks} == {"RUNNING", "STOPPED"}:
                        break
                    await anyio.sleep(0.05)
            (stopped,) = [t for t in tasks if t.last_status == "STOPPED"]
            assert stopped.stop_code == "TaskFailedToStart"
            assert "CannotCreateContainerError" in str(stopped.stopped_reason)
            assert "by something other than pyecs" in str(stopped.stopped_reason)
            (running,) = [t for t in tasks if t.last_status == "RUNNING"]
            info = docker_client.api.inspect_container(running.container("app").runtime_id)
            assert set(info["NetworkSettings"]["Networks"]) == {"bridge"}
        assert docker_client.api.inspect_network(network)["Name"] == network  # left alone
    finally:
        docker_client.api.remove_network(network)


# -- without one: what the containers are given ---------------------------------------------------


def _td(*containers: dict[str, Any], mode: str | None = None) -> TaskDefinition:
    fields: dict[str, Any] = {"networkMode": mode} if mode else {}
    defs = [{"image": "busybox", "memory": 16, **c} for c in containers]
    return TaskDefinition.from_dict({"family": "t", "containerDefinitions": defs, **fields})


def test_the_service_name_goes_to_essential_containers_with_ports() -> None:
    td = _td(
        {"name": "web", "portMappings": [{"containerPort": 80}]},
        {"name": "admin", "portMappings": [{"containerPort": 9090}]},
        {"name": "sidecar"},
        {"name": "exporter", "essential": False, "portMappings": [{"containerPort": 9100}]},
    )
    assert service_aliases(td, "api") == {"web": ("api",), "admin": ("api",)}
    assert service_aliases(td, None) == {}
    no_ports = _td({"name": "worker"}, {"name": "log", "essential": False})
    assert service_aliases(no_ports, "jobs") == {"worker": ("jobs",)}


def _args(td: TaskDefinition, plan: TaskPlan, container: str) -> Any:
    return create_args(
        td.container(container),
        td,
        plan,
        name=container,
        labels={},
        bind_ip="127.0.0.1",
        environment={},
        volumes_from=(),
        log_drivers_supported=frozenset(),
        log_drivers_allowed=frozenset(),
    )


def test_networks_a_container_joins() -> None:
    single = _td({"name": "web", "portMappings": [{"containerPort": 80}]})
    plan = TaskPlan("bridge", "pyecs-c", None, {"web": ("web",)}, {}, "pyecs-c", {"web": ("api",)})
    args = _args(single, plan, "web")
    assert (args.host["network_mode"], args.aliases, args.connect) == ("pyecs-c", ("api",), ())

    multi = _td({"name": "web"}, {"name": "side"}, mode="awsvpc")
    plan = TaskPlan(
        "awsvpc",
        "pyecs-c-t",
        "pyecs-c-t",
        {"web": ("web",), "side": ("side",)},
        {},
        "pyecs-c",
        {"web": ("api",)},
    )
    web, side = _args(multi, plan, "web"), _args(multi, plan, "side")
    assert (web.network, web.aliases, web.connect) == (
        "pyecs-c-t",
        ("web",),
        (("pyecs-c", ("api",)),),
    )
    assert (side.aliases, side.connect) == (("side",), (("pyecs-c", ()),))

    host = _td({"name": "web"}, mode="host")
    args = _args(host, TaskPlan("host", "host", None, {"web": ("web",)}), "web")
    assert (args.host["network_mode"], args.aliases, args.connect) == ("host", (), ())
