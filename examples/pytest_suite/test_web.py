"""An example suite: a web service under test, brought up by the pyecs fixtures."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

import pyecs.sync
from pyecs.testing import ClusterFixture, ServiceUp, SyncClusterFixture


def get(url: str) -> str:
    """GET a URL on this machine; the body as text."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@pytest.mark.anyio
async def test_the_service_answers_on_every_task(
    pyecs_cluster: ClusterFixture, web_td: Path
) -> None:
    """Async: one cluster for this test alone, gone when it ends."""
    up = await pyecs_cluster.up(web_td, desired_count=2)
    assert len(up.endpoints) == 2
    assert [get(url) for url in up.urls] == ["hello", "hello"]
    assert all(t.health_status == "HEALTHY" for t in up.tasks)


def test_a_stopped_task_is_replaced(pyecs_cluster_sync: SyncClusterFixture, web_td: Path) -> None:
    """Sync: the blocking twin. The service replaces a task that stops."""
    up = pyecs_cluster_sync.up(web_td)
    (first,) = up.tasks
    pyecs_cluster_sync.stop_task(first.arn, reason="chaos")
    up.service.wait_stable(timeout=60)
    (second,) = up.tasks
    assert second.arn != first.arn
    assert get(up.url) == "hello"


@pytest.fixture(scope="module")
def shared_web(
    pyecs_cluster_module: SyncClusterFixture, web_td: Path
) -> ServiceUp[pyecs.sync.Service]:
    """One service for the tests of this module (started once, removed after the last)."""
    return pyecs_cluster_module.up(web_td, service_name="shared", desired_count=2)


def test_the_shared_service_scales(shared_web: ServiceUp[pyecs.sync.Service]) -> None:
    shared_web.service.update(desired_count=3).wait_stable(timeout=60)
    assert len(shared_web.endpoints) == 3


def test_the_shared_service_still_answers(shared_web: ServiceUp[pyecs.sync.Service]) -> None:
    assert get(shared_web.url) == "hello"


def test_a_one_off_task_reports_its_exit_code(
    pyecs_cluster_sync: SyncClusterFixture, web_td: Path
) -> None:
    """run_task with overrides, as a batch job would: the essential container's exit code."""
    td = pyecs_cluster_sync.register_task_definition(web_td)
    overrides = {"containerOverrides": [{"name": "web", "command": ["sh", "-c", "exit 7"]}]}
    (task,) = pyecs_cluster_sync.run_task(td.ref, overrides=overrides).tasks
    (done,) = pyecs_cluster_sync.wait_tasks_stopped([task.arn], timeout=60)
    assert done.container("web").exit_code == 7
    assert done.stop_code == "EssentialContainerExited"
