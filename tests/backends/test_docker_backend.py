"""DockerBackend driven directly through the Backend ABC, against a real Docker engine."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import docker
import docker.errors
import pytest

from pyecs.abc import ClusterContext, ContainerLaunch, ContainerStartError, TaskLaunch
from pyecs.backends.docker import DockerBackend, DockerEngine, cleanup
from pyecs.backends.docker._engine import owner_labels
from pyecs.exceptions import BackendError
from pyecs.models.instance import InstanceSpec
from pyecs.models.task import HealthStatus
from pyecs.models.task_definition import TaskDefinition

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

#: Unique per run: two test runs may share the engine (and cleanup() works per cluster).
CLUSTER = f"pytest-docker-{uuid.uuid4().hex[:8]}"
CONTEXT = ClusterContext(CLUSTER, f"arn:aws:ecs:local:000000000000:cluster/{CLUSTER}")
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"


class Harness:
    """An open backend, and shortcuts to run tasks on its one engine."""

    def __init__(self, backend: DockerBackend, specs: Sequence[InstanceSpec], image: str):
        self.backend = backend
        self.specs = specs
        self.image = image
        self.tasks: list[TaskLaunch] = []
        self.ids: list[str] = []

    def task(self, *containers: dict[str, Any], **fields: Any) -> TaskLaunch:
        defs = [{"image": self.image, "memory": 64, **c} for c in containers]
        td = TaskDefinition.from_dict({"family": "t", "containerDefinitions": defs, **fields})
        task_id = uuid.uuid4().hex
        launch = TaskLaunch(
            f"arn:aws:ecs:local:000000000000:task/{CLUSTER}/{task_id}",
            task_id,
            str(self.specs[0].id),
            td,
        )
        self.tasks.append(launch)
        return launch

    async def create(self, task: TaskLaunch, name: str) -> str:
        rid = await self.backend.create_container(
            ContainerLaunch(task, task.task_definition.container(name))
        )
        self.ids.append(rid)
        return rid

    async def create_after_setup(self, task: TaskLaunch, name: str) -> str:
        await self.backend.setup_task(task)
        return await self.create(task, name)

    async def start(self, task: TaskLaunch, *names: str) -> list[str]:
        """Set up ``task`` and create and start its containers ``names`` (all by default)."""
        await self.backend.setup_task(task)
        ids = []
        for name in names or [str(c.name) for c in task.task_definition.containers]:
            rid = await self.create(task, name)
            await self.backend.start_container(rid)
            ids.append(rid)
        return ids

    async def finish(self) -> None:
        for rid in self.ids:
            await self.backend.stop_container(rid, 0)
            await self.backend.remove_container(rid)
        for task in self.tasks:
            await self.backend.teardown_task(task)
        self.ids.clear()
        self.tasks.clear()


@pytest.fixture
async def harness(busybox_image: str) -> AsyncIterator[Harness]:
    backend = DockerBackend(reconcile_interval=1.0)
    specs = await backend.open(CONTEXT)
    h = Harness(backend, specs, busybox_image)
    try:
        yield h
    finally:
        try:
            with anyio.CancelScope(shield=True):
                await h.finish()
        finally:
            # Not inside the shield: aclose exits the backend's task group, which must
            # happen at the scope level open() entered it (aclose shields its own work).
            await backend.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(port: int, timeout: float = 10.0) -> str:
    """GET / from 127.0.0.1:port, retrying while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def httpd(tag: str) -> list[str]:
    """A command serving ``hello-<tag>`` on port 8080."""
    script = "mkdir -p /www && echo hello-$0 > /www/index.html && httpd -f -p 8080 -h /www"
    return ["sh", "-c", script, tag]


# -- instances ----------------------------------------------------------------------------


async def test_open_reports_the_engine_as_one_instance(
    harness: Harness, docker_client: docker.DockerClient
) -> None:
    info = docker_client.info()
    (spec,) = harness.specs
    assert spec.cpu == info["NCPU"] * 1024
    assert spec.memory == info["MemTotal"] // (1024 * 1024)
    assert spec.attributes["ecs.instance-type"] == "docker"
    assert spec.attributes["ecs.os-type"] == "linux"
    assert spec.attributes["ecs.cpu-architecture"] in ("x86_64", "arm64")
    assert spec.attributes["ecs.availability-zone"] == "local-1a"
    assert spec.id is not None and spec.id.startswith("i-")


async def test_an_api_version_the_engine_no_longer_speaks_is_agreed_again(
    monkeypatch: pytest.MonkeyPatch, docker_client: docker.DockerClient
) -> None:
    """Connections reuse the API version agreed before (no /version round trip); an
    engine replaced by one that refuses it (HTTP 400) gets a new agreement."""
    from pyecs.backends.docker import _engine as _docker_engine

    engine = DockerEngine()
    key = _docker_engine._address_key(engine)
    monkeypatch.setitem(_docker_engine._API_VERSIONS, key, "1.99")  # newer than any engine
    backend = DockerBackend(engines=[engine])
    (spec,) = await backend.open(CONTEXT)
    try:
        assert spec.memory == docker_client.info()["MemTotal"] // (1024 * 1024)
        assert _docker_engine._API_VERSIONS[key] == docker_client.version()["ApiVersion"]
    finally:
        await backend.aclose()


async def test_engine_overrides_and_a_stable_instance_id(busybox_image: str) -> None:
    engine = DockerEngine(cpu=512, memory=300, availability_zone="z-9", attributes={"k": "v"})
    ids = []
    for _ in range(2):
        backend = DockerBackend(engines=[engine])
        (spec,) = await backend.open(CONTEXT)
        await backend.aclose()
        ids.append(spec.id)
        assert (spec.cpu, spec.memory) == (512, 300)
        assert spec.attributes["ecs.availability-zone"] == "z-9"
        assert spec.attributes["k"] == "v"
    assert ids[0] == ids[1]


async def test_an_unreachable_engine_says_where_and_what_to_do(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/nothing.sock"
    backend = DockerBackend(engines=[url])
    with pytest.raises(BackendError) as info:
        await backend.open(CONTEXT)
    assert url in str(info.value)
    assert "DOCKER_HOST" in str(info.value) and "dockerd" in str(info.value)


# -- running containers ---------------------------------------------------------------------


async def test_exit_code_and_logs(harness: Harness) -> None:
    task = harness.task({"name": "app", "command": ["sh", "-c", "echo hi; echo err >&2; exit 3"]})
    (rid,) = await harness.start(task)
    result = await harness.backend.wait_container(rid)
    assert (result.exit_code, result.oom_killed, result.reason) == (3, False, None)
    lines = [line async for line in harness.backend.logs(rid)]
    assert "hi" in lines and "err" in lines
    followed = [line async for line in harness.backend.logs(rid, follow=True)]
    assert "hi" in followed


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_runs_under_trio(harness: Harness) -> None:
    task = harness.task({"name": "app", "command": ["sh", "-c", "exit 7"]})
    (rid,) = await harness.start(task)
    assert (await harness.backend.wait_container(rid)).exit_code == 7


async def test_follow_logs_yields_lines_as_they_come(harness: Harness) -> None:
    script = "for i in 1 2 3; do echo line-$i; sleep 0.2; done"
    task = harness.task({"name": "app", "command": ["sh", "-c", script]})
    (rid,) = await harness.start(task)
    lines = [line async for line in harness.backend.logs(rid, follow=True)]
    assert lines == ["line-1", "line-2", "line-3"]


async def test_static_and_dynamic_ports_are_published_on_127_0_0_1(harness: Harness) -> None:
    static = free_port()
    task = harness.task(
        {
            "name": "a",
            "command": httpd("a"),
            "portMappings": [{"containerPort": 8080, "hostPort": static}],
        },
    )
    other = harness.task(
        {"name": "b", "command": httpd("b"), "portMappings": [{"containerPort": 8080}]}
    )
    (a,) = await harness.start(task)
    started_b = await harness.backend.start_container(await harness.create_after_setup(other, "b"))
    (binding_b,) = started_b.network_bindings
    assert binding_b.bind_ip == "127.0.0.1" and binding_b.container_port == 8080
    assert binding_b.host_port not in (0, static)
    assert fetch(static).strip() == "hello-a"
    assert fetch(binding_b.host_port).strip() == "hello-b"
    info = harness.backend.docker_client().api.inspect_container(a)
    assert info["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostIp"] == "127.0.0.1"


async def test_a_static_port_already_taken_fails_the_start(harness: Harness) -> None:
    port = free_port()
    mapping = {"portMappings": [{"containerPort": 8080, "hostPort": port}]}
    first = harness.task({"name": "a", "command": httpd("a"), **mapping})
    second = harness.task({"name": "a", "command": httpd("b"), **mapping})
    await harness.start(first)
    rid = await harness.create_after_setup(second, "a")
    with pytest.raises(ContainerStartError) as info:
        await harness.backend.start_container(rid)
    assert info.value.code == "CannotStartContainerError"
    assert "port is already allocated" in str(info.value)


async def test_a_pull_failure_is_cannot_pull_container_error(harness: Harness) -> None:
    task = harness.task({"name": "app", "image": "nonexistent.invalid/nope:1"})
    with pytest.raises(ContainerStartError) as info:
        await harness.backend.setup_task(task)
    assert info.value.code == "CannotPullContainerError"
    assert "nonexistent.invalid/nope:1" in str(info.value)


async def test_health_turns_healthy_then_unhealthy(harness: Harness) -> None:
    script = "touch /ok; sleep 7; rm /ok; sleep 60"
    check = {"command": ["CMD-SHELL", "test -f /ok"], "interval": 5, "timeout": 2, "retries": 1}
    task = harness.task({"name": "app", "command": ["sh", "-c", script], "healthCheck": check})
    (rid,) = await harness.start(task)
    seen: list[HealthStatus] = []
    with anyio.fail_after(20):
        async with contextlib.aclosing(harness.backend.health(rid)) as statuses:
            async for status in statuses:
                seen.append(status)
                if len(seen) == 2:
                    break
    assert seen == ["HEALTHY", "UNHEALTHY"]


async def test_stop_kills_after_the_timeout_and_not_before(harness: Harness) -> None:
    task = harness.task({"name": "app", "command": ["sh", "-c", 'trap "" TERM; sleep 60']})
    (rid,) = await harness.start(task)
    begin = time.monotonic()
    await harness.backend.stop_container(rid, 2)
    elapsed = time.monotonic() - begin
    result = await harness.backend.wait_container(rid)
    assert 1.9 <= elapsed < 5, elapsed
    assert result.exit_code == 137


async def test_stop_returns_as_soon_as_the_container_exits(harness: Harness) -> None:
    script = 'trap "exit 0" TERM; while :; do sleep 0.1; done'
    task = harness.task({"name": "app", "command": ["sh", "-c", script]})
    (rid,) = await harness.start(task)
    begin = time.monotonic()
    await harness.backend.stop_container(rid, 30)
    assert time.monotonic() - begin < 3
    assert (await harness.backend.wait_container(rid)).exit_code == 0


async def test_a_kill_from_outside_is_seen_at_once(
    harness: Harness, docker_client: docker.DockerClient
) -> None:
    task = harness.task({"name": "app", "command": ["sleep", "60"]})
    (rid,) = await harness.start(task)
    docker_client.api.kill(rid)
    begin = time.monotonic()
    result = await harness.backend.wait_container(rid)
    assert time.monotonic() - begin < 1
    assert result.exit_code == 137 and not result.oom_killed


async def test_the_memory_limit_kills_with_the_ecs_reason(harness: Harness) -> None:
    task = harness.task(
        {"name": "app", "memory": 16, "command": ["sh", "-c", "head -c 64m /dev/zero | tail"]}
    )
    (rid,) = await harness.start(task)
    with anyio.fail_after(20):
        result = await harness.backend.wait_container(rid)
    assert result.oom_killed
    assert result.exit_code == 137
    assert result.reason == OOM_REASON


async def test_containers_of_a_task_reach_each_other_by_name(harness: Harness) -> None:
    fetch_web = (
        "for i in $(seq 50); do wget -q -O- http://$0:8080/ && exit 0; sleep 0.1; done; exit 1"
    )
    task = harness.task(
        {"name": "web", "command": httpd("web")},
        {"name": "client", "command": ["sh", "-c", fetch_web, "web"]},
        {"name": "linked", "command": ["sh", "-c", fetch_web, "www"], "links": ["web:www"]},
    )
    _, client, linked = await harness.start(task)
    assert (await harness.backend.wait_container(client)).exit_code == 0
    assert (await harness.backend.wait_container(linked)).exit_code == 0
    assert "hello-web" in [line async for line in harness.backend.logs(client)]
    net = harness.backend.docker_client().api.inspect_container(client)["HostConfig"]
    assert net["NetworkMode"] == f"pyecs-{CLUSTER}-{task.task_id[:12]}"


async def test_definition_fields_reach_docker(harness: Harness, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("# settings\nFROM_FILE=1\nBOTH=file\n\n")
    task = harness.task(
        {
            "name": "app",
            "command": ["sleep", "60"],
            "cpu": 512,
            "memory": 128,
            "memoryReservation": 64,
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "dockerLabels": {"team": "blue"},
            "readonlyRootFilesystem": True,
            "environment": [{"name": "BOTH", "value": "explicit"}],
            "environmentFiles": [{"value": str(env_file), "type": "s3"}],
            "workingDirectory": "/tmp",
            "user": "1000",
            "hostname": "apphost",
            "extraHosts": [{"hostname": "db.local", "ipAddress": "10.0.0.5"}],
            "linuxParameters": {
                "initProcessEnabled": True,
                "capabilities": {"drop": ["NET_RAW"]},
                "tmpfs": [{"containerPath": "/scratch", "size": 8}],
                "sharedMemorySize": 32,
            },
        },
        {"name": "tiny", "command": ["true"], "cpu": 1},
    )
    app, tiny = await harness.start(task)
    api = harness.backend.docker_client().api
    info = api.inspect_container(app)
    host, config = info["HostConfig"], info["Config"]
    assert host["CpuShares"] == 512
    assert host["Memory"] == 128 * 1024 * 1024
    assert host["MemoryReservation"] == 64 * 1024 * 1024
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["ReadonlyRootfs"] is True
    assert host["Init"] is True
    assert host["CapDrop"] == ["NET_RAW"]
    assert "/scratch" in host["Tmpfs"] and "size=8m" in host["Tmpfs"]["/scratch"]
    assert host["ShmSize"] == 32 * 1024 * 1024
    assert host["ExtraHosts"] == ["db.local:10.0.0.5"]
    assert not host["Privileged"]
    assert config["Labels"]["team"] == "blue"
    assert config["Labels"]["pyecs.cluster"] == CLUSTER
    assert config["Labels"]["pyecs.task-arn"] == task.task_arn
    assert config["Labels"]["pyecs.container-name"] == "app"
    assert config["Labels"]["pyecs.owner"] == owner_labels()["pyecs.owner"]
    assert "pyecs.owner-started" in config["Labels"]
    assert "FROM_FILE=1" in config["Env"] and "BOTH=explicit" in config["Env"]
    assert (config["WorkingDir"], config["User"], config["Hostname"]) == ("/tmp", "1000", "apphost")
    assert config["Healthcheck"] == {"Test": ["NONE"]}
    assert api.inspect_container(tiny)["HostConfig"]["CpuShares"] == 2


async def test_volumes_bind_mounts_and_volumes_from(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("from-host\n")
    task = harness.task(
        {
            "name": "writer",
            "command": ["sh", "-c", "cat /host/in.txt > /data/out.txt; sleep 60"],
            "mountPoints": [
                {"sourceVolume": "data", "containerPath": "/data"},
                {"sourceVolume": "host", "containerPath": "/host", "readOnly": True},
            ],
        },
        {
            "name": "reader",
            "command": ["sh", "-c", "sleep 1; cat /data/out.txt"],
            "volumesFrom": [{"sourceContainer": "writer", "readOnly": True}],
        },
        volumes=[
            {"name": "data", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
            {"name": "host", "host": {"sourcePath": str(tmp_path)}},
        ],
    )
    _, reader = await harness.start(task)
    assert (await harness.backend.wait_container(reader)).exit_code == 0
    assert "from-host" in [line async for line in harness.backend.logs(reader)]
    volume = f"pyecs-{CLUSTER}-{task.task_id[:12]}-data"
    api = harness.backend.docker_client().api
    assert api.inspect_volume(volume)["Labels"]["pyecs.task-arn"] == task.task_arn
    await harness.finish()
    with pytest.raises(docker.errors.NotFound):
        api.inspect_volume(volume)


async def test_stats_sample(harness: Harness) -> None:
    task = harness.task({"name": "app", "command": ["sleep", "60"]})
    (rid,) = await harness.start(task)
    stats = await harness.backend.stats(rid)
    assert set(stats) == {"cpu_percent", "memory_mib", "memory_limit_mib"}
    assert stats["memory_limit_mib"] == 64


# -- nothing leaked ---------------------------------------------------------------------------


async def test_aclose_removes_what_the_backend_still_has(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    backend = DockerBackend()
    specs = await backend.open(CONTEXT)
    h = Harness(backend, specs, busybox_image)
    task = h.task(
        {"name": "a", "command": ["sleep", "60"]}, {"name": "b", "command": ["sleep", "60"]}
    )
    await h.start(task)
    await backend.aclose()
    labelled = {"label": f"pyecs.task-arn={task.task_arn}"}
    assert docker_client.api.containers(all=True, filters=labelled) == []
    assert docker_client.api.networks(filters=labelled) == []


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _leftover(client: docker.DockerClient, image: str, owner: dict[str, str]) -> str:
    labels = {"pyecs.cluster": CLUSTER, **owner}
    name = f"pyecs-leftover-{uuid.uuid4().hex[:8]}"
    client.api.create_container(image, ["sleep", "60"], name=name, labels=labels)
    return name


async def test_open_removes_leftovers_of_dead_owners_only(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    host = socket.gethostname()
    dead = _leftover(docker_client, busybox_image, {"pyecs.owner": f"{host}:{_dead_pid()}"})
    reused = _leftover(
        docker_client,
        busybox_image,
        {
            "pyecs.owner": f"{host}:{os.getpid()}",
            "pyecs.owner-started": "2001-01-01T00:00:00+00:00",
        },
    )
    alive = _leftover(docker_client, busybox_image, owner_labels())
    elsewhere = _leftover(docker_client, busybox_image, {"pyecs.owner": "another-host:1"})
    try:
        backend = DockerBackend()
        await backend.open(CONTEXT)
        await backend.aclose()
        assert sorted(backend.removed_leftovers.containers) == sorted([dead, reused])
        names = [c.name for c in docker_client.containers.list(all=True)]
        assert alive in names and elsewhere in names
    finally:
        for name in (alive, elsewhere):
            docker_client.api.remove_container(name, force=True)


async def test_cleanup_removes_leftovers_and_says_what(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    owner = {"pyecs.owner": f"{socket.gethostname()}:{_dead_pid()}"}
    labels = {"pyecs.cluster": CLUSTER, **owner}
    container = _leftover(docker_client, busybox_image, owner)
    network = f"pyecs-leftover-{uuid.uuid4().hex[:8]}"
    docker_client.api.create_network(network, labels=labels)
    volume = f"pyecs-leftover-{uuid.uuid4().hex[:8]}"
    docker_client.api.create_volume(volume, labels=labels)
    alive = _leftover(docker_client, busybox_image, owner_labels())
    assert (await cleanup(cluster="some-other-cluster")).empty
    removed = await cleanup(cluster=CLUSTER)
    assert removed.containers == (container,)
    assert removed.networks == (network,)
    assert removed.volumes == (volume,)
    removed = await cleanup(cluster=CLUSTER, engines=[None], all_owners=True)
    assert removed.containers == (alive,)


# -- network modes, pull policy, errors -------------------------------------------------------


async def test_awsvpc_publishes_the_container_port_and_names_resolve(harness: Harness) -> None:
    port = free_port()
    fetch_web = (
        "for i in $(seq 50); do wget -q -O- http://web:$0/ && exit 0; sleep 0.1; done; exit 1"
    )
    task = harness.task(
        {
            "name": "web",
            "command": [
                "sh",
                "-c",
                f"mkdir -p /w && echo aws > /w/index.html && httpd -f -p {port} -h /w",
            ],
            "portMappings": [{"containerPort": port}],
        },
        {"name": "client", "command": ["sh", "-c", fetch_web, str(port)]},
        networkMode="awsvpc",
    )
    await harness.backend.setup_task(task)
    web = await harness.create(task, "web")
    started = await harness.backend.start_container(web)
    assert [(b.container_port, b.host_port) for b in started.network_bindings] == [(port, port)]
    assert fetch(port).strip() == "aws"
    client = await harness.create(task, "client")
    await harness.backend.start_container(client)
    assert (await harness.backend.wait_container(client)).exit_code == 0


async def test_host_mode_reports_container_ports_as_host_ports(harness: Harness) -> None:
    port = free_port()
    script = f"mkdir -p /w && echo host > /w/index.html && httpd -f -p 127.0.0.1:{port} -h /w"
    task = harness.task(
        {"name": "app", "command": ["sh", "-c", script], "portMappings": [{"containerPort": port}]},
        networkMode="host",
    )
    await harness.backend.setup_task(task)
    rid = await harness.create(task, "app")
    started = await harness.backend.start_container(rid)
    (binding,) = started.network_bindings
    assert (binding.bind_ip, binding.container_port, binding.host_port) == ("127.0.0.1", port, port)
    assert fetch(port).strip() == "host"


async def test_none_mode_has_only_loopback(harness: Harness) -> None:
    task = harness.task(
        {"name": "app", "command": ["sh", "-c", "ls /sys/class/net"]}, networkMode="none"
    )
    (rid,) = await harness.start(task)
    assert (await harness.backend.wait_container(rid)).exit_code == 0
    assert [line async for line in harness.backend.logs(rid)] == ["lo"]


async def test_pull_never_needs_the_image_on_the_engine(busybox_image: str) -> None:
    backend = DockerBackend(pull="never")
    specs = await backend.open(CONTEXT)
    h = Harness(backend, specs, busybox_image)
    try:
        await backend.setup_task(h.task({"name": "app"}))  # present: fine
        with pytest.raises(ContainerStartError) as info:
            await backend.setup_task(h.task({"name": "app", "image": "pyecs-test/absent:1"}))
        assert info.value.code == "CannotPullContainerError"
        assert "'never'" in str(info.value)
    finally:
        with anyio.CancelScope(shield=True):
            await h.finish()
        await backend.aclose()


async def test_an_image_removed_after_it_was_seen_is_asked_for_again(
    busybox_image: str, docker_client: docker.DockerClient
) -> None:
    """The backend asks the engine once per image; a create that finds the image gone
    applies the pull policy again instead of failing on the remembered answer."""
    tag = f"pyecs-test/seen:{uuid.uuid4().hex[:8]}"
    docker_client.api.tag(busybox_image, *tag.split(":"))
    backend = DockerBackend(pull="never")
    specs = await backend.open(CONTEXT)
    h = Harness(backend, specs, tag)
    try:
        await h.start(h.task({"name": "app", "command": ["true"]}))  # seen on the engine
        docker_client.api.remove_image(tag)
        gone = h.task({"name": "app"})
        await backend.setup_task(gone)  # remembered: no question to the engine
        with pytest.raises(ContainerStartError) as info:
            await h.create(gone, "app")
        assert info.value.code == "CannotPullContainerError"
        assert "'never'" in str(info.value)  # the policy, applied again
        docker_client.api.tag(busybox_image, *tag.split(":"))
        (rid,) = await h.start(h.task({"name": "app", "command": ["true"]}))
        assert (await backend.wait_container(rid)).exit_code == 0
    finally:
        with anyio.CancelScope(shield=True):
            await h.finish()
        await backend.aclose()
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.api.remove_image(tag)


async def test_an_environment_file_that_is_not_local_fails_the_create(harness: Harness) -> None:
    env = [{"value": "arn:aws:s3:::bucket/app.env", "type": "s3"}]
    task = harness.task({"name": "app", "environmentFiles": env})
    await harness.backend.setup_task(task)
    with pytest.raises(ContainerStartError) as info:
        await harness.create(task, "app")
    assert info.value.code == "CannotCreateContainerError"
    assert "local" in str(info.value)


async def test_a_shared_volume_is_autoprovisioned_and_kept(
    harness: Harness, docker_client: docker.DockerClient
) -> None:
    name = f"pyecs-test-shared-{uuid.uuid4().hex[:8]}"
    shared = {"scope": "shared", "autoprovision": True, "labels": {"purpose": "test"}}
    mount = {"sourceVolume": name, "containerPath": "/data"}
    task = harness.task(
        {"name": "app", "command": ["sh", "-c", "echo kept > /data/f"], "mountPoints": [mount]},
        volumes=[{"name": name, "dockerVolumeConfiguration": shared}],
    )
    try:
        (rid,) = await harness.start(task)
        assert (await harness.backend.wait_container(rid)).exit_code == 0
        await harness.finish()
        labels = docker_client.api.inspect_volume(name)["Labels"]
        assert labels["purpose"] == "test" and labels["pyecs.scope"] == "shared"
        assert (await cleanup(cluster=CLUSTER, all_owners=True)).volumes == ()
    finally:
        docker_client.api.remove_volume(name, force=True)


async def test_a_dropped_event_costs_seconds_not_correctness(
    harness: Harness, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every ``die`` event lost, the reconcile timer (1 s here) still sees the exit."""
    watcher = harness.backend._watch
    deliver = watcher._on_event
    monkeypatch.setattr(
        watcher, "_on_event", lambda event: None if event.get("Action") == "die" else deliver(event)
    )
    task = harness.task({"name": "app", "command": ["sleep", "60"]})
    (rid,) = await harness.start(task)
    docker_client.api.kill(rid)
    with anyio.fail_after(5):
        assert (await harness.backend.wait_container(rid)).exit_code == 137


async def test_two_urls_of_one_engine_are_refused() -> None:
    backend = DockerBackend(engines=[None, "unix:///var/run/docker.sock"])
    with pytest.raises(BackendError, match="same Docker engine"):
        await backend.open(CONTEXT)


async def test_errors_name_what_is_unknown(harness: Harness) -> None:
    task = harness.task({"name": "app", "command": ["true"]})
    (rid,) = await harness.start(task)
    exit_ = await harness.backend.wait_container(rid)
    await harness.backend.remove_container(rid)
    await harness.backend.remove_container(rid)  # a no-op the second time
    await harness.backend.stop_container(rid, 1)  # a no-op too
    assert await harness.backend.wait_container(rid) == exit_  # still known until teardown
    with pytest.raises(BackendError, match="gone"):
        [line async for line in harness.backend.logs(rid)]
    stray = TaskLaunch("arn:x", "0" * 32, "i-unknown", task.task_definition)
    with pytest.raises(BackendError, match="i-unknown"):
        await harness.backend.setup_task(stray)
