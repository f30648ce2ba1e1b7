"""``Cluster(adopt=...)`` on backends that cannot adopt (their tasks end with the process):
nothing is adopted, and the service starts new tasks. Docker adoption is tested end to end
in tests/server/test_restart.py."""

from __future__ import annotations

import pytest

import pyecs
from pyecs.backends import SimulatedBackend

pytestmark = pytest.mark.anyio

WEB = {"family": "web", "containerDefinitions": [{"name": "app", "image": "x", "memory": 32}]}


async def test_a_backend_without_adoption_adopts_nothing() -> None:
    registry = pyecs.TaskDefinitionRegistry()
    td = registry.register(WEB)
    known = pyecs.AdoptableTask(
        arn="arn:aws:ecs:local:000000000000:task/c/" + "a" * 32,
        task_definition_arn=str(td.task_definition_arn),
        group="service:web",
        started_by="ecs-svc/1",
    )
    backend = SimulatedBackend()
    async with pyecs.Cluster(
        "c", backend=backend, task_definitions=registry, adopt=[known], task_healthy_delay=0
    ) as cluster:
        assert cluster.adopted == ()
        svc = await cluster.create_service("web", task_definition="web:1", desired_count=1)
        await svc.wait_stable(timeout=10)
        assert [t.arn for t in svc.tasks] != [known.arn]


def test_adopt_takes_adoptable_tasks_only() -> None:
    with pytest.raises(pyecs.InvalidParameterError, match="AdoptableTask"):
        pyecs.Cluster("c", adopt=["arn:aws:ecs:local:000000000000:task/c/1"])  # type: ignore[list-item]


def test_an_adoptable_task_is_made_from_a_task_snapshot() -> None:
    task = pyecs.Task(
        arn="arn:aws:ecs:local:000000000000:task/c/" + "b" * 32,
        id="b" * 32,
        cluster_arn="arn:aws:ecs:local:000000000000:cluster/c",
        task_definition_arn="arn:aws:ecs:local:000000000000:task-definition/web:1",
        container_instance_id="i-1",
        container_instance_arn="arn:aws:ecs:local:000000000000:container-instance/c/i-1",
        group="service:web",
        started_by="ecs-svc/2",
        tags=(("k", "v"),),
    )
    known = pyecs.AdoptableTask.of(task)
    assert (known.arn, known.group, known.started_by, known.tags) == (
        task.arn,
        "service:web",
        "ecs-svc/2",
        (("k", "v"),),
    )
