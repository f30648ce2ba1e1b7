"""``pyecs serve --state DIR``: killed with SIGKILL and started again, it comes back with the
same clusters, task definitions and services, and adopts the RUNNING tasks of services."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from docker_support import busybox_image_or_skip
from test_walkthrough_cli import ServeProcess

busybox_image = pytest.fixture(scope="module")(busybox_image_or_skip)


def _client(server: ServeProcess) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def _wait(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _running(ecs: Any, cluster: str) -> set[str]:
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    if not arns:
        return set()
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return {t["taskArn"] for t in tasks if t["lastStatus"] == "RUNNING"}


def _exactly(arns: set[str], count: int) -> set[str] | None:
    return arns if len(arns) == count else None


@pytest.fixture
def servers() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.stop()


@pytest.mark.docker
def test_restart_after_kill_adopts_the_tasks_of_services(
    servers: list[ServeProcess], tmp_path: Path, busybox_image: str
) -> None:
    """The service is back, its RUNNING tasks keep their ARNs, a task whose container died
    meanwhile is replaced, a standalone task's container is removed, and revisions go on."""
    import docker
    import docker.errors

    cluster = f"restart-{uuid.uuid4().hex[:8]}"
    state = str(tmp_path / "state")
    args = ("--backend", "docker", "--task-healthy-delay", "0", "--state", state)
    first = ServeProcess(*args)
    servers.append(first)
    ecs = _client(first)
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=cluster,
        containerDefinitions=[
            {
                "name": "app",
                "image": busybox_image,
                "memory": 16,
                "command": ["sleep", "300"],
                "stopTimeout": 2,
            }
        ],
    )
    ecs.create_service(
        cluster=cluster, serviceName="web", taskDefinition=f"{cluster}:1", desiredCount=3
    )
    service_tasks = _wait("3 RUNNING tasks", lambda: _exactly(_running(ecs, cluster), 3))
    standalone = ecs.run_task(cluster=cluster, taskDefinition=f"{cluster}:1")["tasks"][0]
    _wait("the standalone task", lambda: standalone["taskArn"] in _running(ecs, cluster))
    time.sleep(1.0)  # RUNNING tasks are saved on their state change, just after it
    first.proc.kill()
    first.proc.wait(timeout=30)

    client = docker.from_env()
    try:
        mine = {"label": [f"pyecs.cluster={cluster}"]}
        by_task = {c.labels["pyecs.task-arn"]: c for c in client.containers.list(filters=mine)}
        assert set(by_task) == service_tasks | {standalone["taskArn"]}  # they outlived it
        dead = sorted(service_tasks)[0]
        by_task[dead].kill()  # dies while no server watches

        second = ServeProcess(*args)
        servers.append(second)
        ecs = _client(second)
        service = ecs.describe_services(cluster=cluster, services=["web"])["services"][0]
        assert service["status"] == "ACTIVE"
        assert service["desiredCount"] == 3
        kept = service_tasks - {dead}
        assert kept <= _running(ecs, cluster)  # adopted: the same ARNs, RUNNING at once
        now = _wait(
            "the dead task replaced",
            lambda: _exactly(_running(ecs, cluster) - {dead, standalone["taskArn"]}, 3),
        )
        assert kept < now and standalone["taskArn"] not in now
        again = ecs.register_task_definition(
            family=cluster,
            containerDefinitions=[{"name": "app", "image": busybox_image, "memory": 16}],
        )
        assert again["taskDefinition"]["revision"] == 2
        left = {c.labels["pyecs.task-arn"] for c in client.containers.list(all=True, filters=mine)}
        assert left == now  # the standalone leftover and the dead one are gone
        second.stop()
        assert client.containers.list(all=True, filters=mine) == []
    finally:
        for c in client.containers.list(all=True, filters={"label": [f"pyecs.cluster={cluster}"]}):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                c.remove(force=True)
        client.close()
