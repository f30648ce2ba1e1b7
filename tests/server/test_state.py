"""The state store of ``pyecs serve --state``: what survives a restart, migrations, and the
clear errors for a store that cannot be used."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import boto3
import pytest

from pyecs.exceptions import StateStoreError
from pyecs.server import SCHEMA_VERSION, StateStore
from pyecs.server._store import DB_NAME, migrate
from pyecs.testing import serve_in_thread

BIN = Path(sys.executable).parent
WEB = {
    "family": "web",
    "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32}],
}


def _client(url: str, service: str = "ecs") -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def test_everything_the_api_wrote_comes_back_after_a_restart(tmp_path: Path) -> None:
    """Clusters (with settings and tags), revisions (numbers never reused), services with
    their configuration, attributes and account settings; a deleted service stays gone.
    The simulated backend's tasks end with the server: they are replaced (new ARNs)."""
    state = tmp_path / "state"
    with serve_in_thread(backend="simulated", state=state, task_healthy_delay=0) as ep:
        ecs = _client(ep.url)
        ecs.create_cluster(
            clusterName="prod",
            tags=[{"key": "team", "value": "web"}],
            settings=[{"name": "containerInsights", "value": "enabled"}],
        )
        ecs.create_cluster(clusterName="gone")
        ecs.delete_cluster(cluster="gone")
        for _ in range(3):
            ecs.register_task_definition(**WEB)
        ecs.deregister_task_definition(taskDefinition="web:3")
        ecs.delete_task_definitions(taskDefinitions=["web:3"])
        ecs.deregister_task_definition(taskDefinition="web:1")
        ecs.create_service(
            cluster="prod",
            serviceName="api",
            taskDefinition="web:2",
            desiredCount=2,
            placementStrategy=[{"type": "spread", "field": "instanceId"}],
            deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50},
            tags=[{"key": "svc", "value": "api"}],
        )
        ecs.create_service(
            cluster="prod", serviceName="old", taskDefinition="web:2", desiredCount=0
        )
        ecs.delete_service(cluster="prod", service="old")
        instance = ecs.list_container_instances(cluster="prod")["containerInstanceArns"][0]
        ecs.put_attributes(
            cluster="prod",
            attributes=[{"name": "stack", "value": "blue", "targetId": instance}],
        )
        ecs.put_account_setting(name="containerInsights", value="enabled")
        ecs.get_waiter("services_stable").wait(cluster="prod", services=["api"])
        before = set(ecs.list_tasks(cluster="prod")["taskArns"])
    with serve_in_thread(backend="simulated", state=state, task_healthy_delay=0) as ep:
        ecs = _client(ep.url)
        cluster = ecs.describe_clusters(clusters=["prod", "gone"], include=["SETTINGS", "TAGS"])
        prod, gone = cluster["clusters"]
        assert prod["status"] == "ACTIVE" and gone["status"] == "INACTIVE"
        assert prod["tags"] == [{"key": "team", "value": "web"}]
        assert prod["settings"] == [{"name": "containerInsights", "value": "enabled"}]
        listed = ecs.list_task_definitions(familyPrefix="web", status="INACTIVE")
        assert [a.rsplit(":", 1)[-1] for a in listed["taskDefinitionArns"]] == ["1"]
        assert ecs.register_task_definition(**WEB)["taskDefinition"]["revision"] == 4
        found = ecs.describe_services(cluster="prod", services=["api", "old"], include=["TAGS"])
        assert [f["arn"].rsplit("/", 1)[-1] for f in found["failures"]] == ["old"]
        (api,) = found["services"]
        assert api["taskDefinition"].endswith("task-definition/web:2")
        assert api["desiredCount"] == 2
        assert api["placementStrategy"] == [{"type": "spread", "field": "instanceId"}]
        assert api["deploymentConfiguration"]["maximumPercent"] == 150
        assert api["tags"] == [{"key": "svc", "value": "api"}]
        attributes = ecs.list_attributes(
            cluster="prod", targetType="container-instance", attributeName="stack"
        )["attributes"]
        assert [(a["value"], a["targetId"]) for a in attributes] == [("blue", instance)]
        settings = ecs.list_account_settings(name="containerInsights")["settings"]
        assert settings[0]["value"] == "enabled"
        ecs.get_waiter("services_stable").wait(cluster="prod", services=["api"])
        after = set(ecs.list_tasks(cluster="prod")["taskArns"])
        assert len(after) == 2 and not after & before


def test_memory_state_keeps_nothing(tmp_path: Path) -> None:
    for _ in range(2):
        with serve_in_thread(backend=None, state=":memory:") as ep:
            ecs = _client(ep.url)
            assert ecs.list_clusters()["clusterArns"] == []
            ecs.create_cluster(clusterName="prod")


def test_a_database_of_an_older_version_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, path, target=1) == 0
    db.execute("INSERT INTO clusters VALUES ('us-east-1', 'prod', 'ACTIVE', '{\"settings\": []}')")
    db.close()

    async def main() -> dict[str, Any]:
        store = StateStore(tmp_path)
        await store.open()
        try:
            return await store.load()
        finally:
            await store.aclose()

    rows = anyio.run(main)
    assert rows["us-east-1"]["clusters"] == [("prod", "ACTIVE", '{"settings": []}')]
    assert rows["us-east-1"]["tasks"] == []
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


def _open(directory: Path) -> None:
    async def main() -> None:
        store = StateStore(directory)
        await store.open()
        await store.aclose()

    anyio.run(main)


def test_a_database_of_a_newer_pyecs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StateStoreError, match="newer pyecs") as caught:
        _open(tmp_path)
    assert str(path) in str(caught.value) and "upgrade pyecs" in str(caught.value)


def test_a_corrupt_database_is_refused_naming_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    path.write_bytes(b"this is not an SQLite database" * 200)
    with pytest.raises(StateStoreError, match="not a usable SQLite database") as caught:
        _open(tmp_path)
    assert str(path) in str(caught.value) and "move it away" in str(caught.value)
    _open(tmp_path / "other")  # another directory works


def test_a_second_server_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve_in_thread(backend=None, state=state):
        done = subprocess.run(
            [str(BIN / "pyecs"), "serve", "--port", "0", "--backend", "simulated",
             "--state", str(state)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode != 0
        assert f"{state} is in use by another pyecs serve" in done.stderr
        assert "pass another --state" in done.stderr


FARGATE_WEB = {
    "family": "fweb",
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{"name": "app", "image": "busybox"}],
}


def test_security_groups_capacity_providers_and_fargate_services_come_back(
    tmp_path: Path,
) -> None:
    """EC2 groups (ids and rules), the cluster's capacity providers and default strategy,
    and a Fargate service's launch type and network configuration survive a restart: a
    service whose group were lost could not be created again."""
    state = tmp_path / "state"
    with serve_in_thread(backend="simulated", state=state, task_healthy_delay=0) as ep:
        ecs = _client(ep.url)
        ec2 = _client(ep.url, "ec2")
        web = ec2.create_security_group(GroupName="web", Description="web tier")["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=web,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 80,
                    "ToPort": 80,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                }
            ],
        )
        ecs.create_cluster(
            clusterName="prod",
            capacityProviders=["FARGATE", "FARGATE_SPOT"],
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        )
        ecs.register_task_definition(**FARGATE_WEB)
        network = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": [web]}}
        ecs.create_service(
            cluster="prod",
            serviceName="api",
            taskDefinition="fweb",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
        )
        ecs.get_waiter("services_stable").wait(cluster="prod", services=["api"])
    with serve_in_thread(backend="simulated", state=state, task_healthy_delay=0) as ep:
        ecs = _client(ep.url)
        ec2 = _client(ep.url, "ec2")
        group = ec2.describe_security_groups(GroupIds=[web])["SecurityGroups"][0]
        assert group["GroupName"] == "web"
        assert group["IpPermissions"][0]["FromPort"] == 80
        cluster = ecs.describe_clusters(clusters=["prod"])["clusters"][0]
        assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
        assert cluster["defaultCapacityProviderStrategy"][0]["capacityProvider"] == "FARGATE"
        service = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
        assert service["launchType"] == "FARGATE"
        groups = service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]
        assert groups == [web]
        ecs.get_waiter("services_stable").wait(cluster="prod", services=["api"])


def _saved_tasks(state: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{state / DB_NAME}?mode=ro", uri=True)) as db:
        return {arn for (arn,) in db.execute("SELECT arn FROM tasks")}


def _wait_saved(state: Path, expected: set[str]) -> None:
    deadline = time.monotonic() + 10
    while _saved_tasks(state) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _saved_tasks(state) == expected


def _running(ecs: Any) -> set[str]:
    arns = ecs.list_tasks(cluster="prod", desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"] if arns else []
    return {t["taskArn"] for t in tasks if t["lastStatus"] == "RUNNING"}


def test_service_tasks_that_start_after_the_last_request_are_saved(tmp_path: Path) -> None:
    """A service's RUNNING tasks reach the store on their own state changes (event-driven),
    with no further request: a task that replaces a stopped one starts after StopTask
    answered, and is saved all the same."""
    state = tmp_path / "state"
    with serve_in_thread(backend="simulated", state=state, task_healthy_delay=0) as ep:
        ecs = _client(ep.url)
        ecs.create_cluster(clusterName="prod")
        ecs.register_task_definition(**WEB)
        ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=2)
        ecs.get_waiter("services_stable").wait(cluster="prod", services=["api"])
        first = _running(ecs)
        assert len(first) == 2
        _wait_saved(state, first)
        gone = sorted(first)[0]
        ecs.stop_task(cluster="prod", task=gone)
        deadline = time.monotonic() + 10
        while (len(_running(ecs) - first) < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        now = _running(ecs)
        assert len(now) == 2 and gone not in now and len(now - first) == 1
        _wait_saved(state, now)
