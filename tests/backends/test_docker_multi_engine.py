"""Two Docker engines as two container instances of one cluster.

The module starts a second ``dockerd`` with its own bridge (see ``second_engine.py``),
builds the test image there, and runs clusters over both engines. It needs root and
``ip``: without them it is skipped, or fails under ``PYECS_REQUIRE_DOCKER=1``.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from second_engine import SecondEngine, unavailable

import pyecs
from pyecs.backends.docker import DockerBackend
from pyecs.testing.images import ensure_busybox_image

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

FIRST = "unix:///var/run/docker.sock"


@pytest.fixture(scope="module")
def second_engine(docker_client: docker.DockerClient, busybox_image: str) -> Iterator[str]:
    """The URL of a second engine that has the test image (stopped after the module)."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("PYECS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason} (PYECS_REQUIRE_DOCKER=1)")
        pytest.skip(reason)
    with SecondEngine() as engine:
        assert engine.client is not None
        ensure_busybox_image(engine.client)
        yield engine.url


def sleeper(image: str) -> dict[str, Any]:
    return {
        "family": "sleeper",
        "containerDefinitions": [
            {
                "name": "main",
                "image": image,
                "memory": 16,
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                "stopTimeout": 2,
            }
        ],
    }


def web(image: str) -> dict[str, Any]:
    serve = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
    return {
        "family": "web",
        "containerDefinitions": [
            {
                "name": "web",
                "image": image,
                "memory": 16,
                "command": ["sh", "-c", serve],
                "portMappings": [{"containerPort": 80}],
                "stopTimeout": 2,
            }
        ],
    }


def docker_ps(url: str, cluster: str) -> list[str]:
    """Ids of the cluster's containers, as that engine's own ``docker ps -a`` lists them."""
    out = subprocess.run(
        [
            "docker",
            "-H",
            url,
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            f"label=pyecs.cluster={cluster}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.split()


def fetch(port: int, timeout: float = 10.0) -> str:
    """GET / from 127.0.0.1:port, retrying while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return str(r.read().decode()).strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def test_distinct_instance_puts_two_tasks_on_two_engines(
    second_engine: str, busybox_image: str
) -> None:
    name = f"multi-{uuid.uuid4().hex[:8]}"
    backend = DockerBackend(engines=[FIRST, second_engine], pull="never")
    async with pyecs.Cluster(name, backend=backend) as cluster:
        instances = cluster.list_container_instances()
        assert len(instances) == 2
        assert {ci.attributes["pyecs.docker-host"] for ci in instances} == {FIRST, second_engine}
        await cluster.register_task_definition(sleeper(busybox_image))
        distinct = [pyecs.DistinctInstance()]

        result = await cluster.run_task("sleeper", count=2, placement_constraints=distinct)
        assert not result.failures
        tasks = await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=60)
        assert len({t.container_instance_id for t in tasks}) == 2

        # Each engine's own `docker ps` shows one of the two containers: the one of the
        # task placed on the instance that engine is.
        host_of = {ci.id: ci.attributes["pyecs.docker-host"] for ci in instances}
        for url in (FIRST, second_engine):
            (on_engine,) = docker_ps(url, name)
            (task,) = [t for t in tasks if host_of[t.container_instance_id] == url]
            assert task.container("main").runtime_id == on_engine

        third = await cluster.run_task("sleeper", placement_constraints=distinct)
        assert not third.tasks
        assert [f.reason for f in third.failures] == ["ATTRIBUTE"]
    assert docker_ps(FIRST, name) == []
    assert docker_ps(second_engine, name) == []


async def test_both_engines_publish_dynamic_ports(second_engine: str, busybox_image: str) -> None:
    name = f"multi-web-{uuid.uuid4().hex[:8]}"
    backend = DockerBackend(engines=[FIRST, second_engine], pull="never")
    async with pyecs.Cluster(name, backend=backend) as cluster:
        await cluster.register_task_definition(web(busybox_image))
        result = await cluster.run_task(
            "web", count=2, placement_constraints=[pyecs.DistinctInstance()]
        )
        tasks = await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=60)
        # Each answers on its own published port of 127.0.0.1, with its own hostname.
        pages = {fetch(t.host_port("web", 80)) for t in tasks}
        assert len(pages) == 2
    assert docker_ps(FIRST, name) == []
    assert docker_ps(second_engine, name) == []
