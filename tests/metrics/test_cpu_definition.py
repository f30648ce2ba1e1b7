"""CPUUtilization is ECS's: CPU used over CPU reserved. A core's worth of CPU time per
second is 1,024 units: 100% of a 1,024-unit task, 200% of a 512-unit one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pyecs.abc import ContainerUsage
from pyecs.metrics import TaskUsage
from pyecs.models.task import Container, Task

pytestmark = pytest.mark.anyio


class OneCorePerContainer:
    """A backend whose every container used one core since it started at time 0."""

    name = "stub"

    def __init__(self) -> None:
        self.now = 0.0

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        return {rid: ContainerUsage(self.now, 10.0) for rid in runtime_ids}


def task(task_id: str, cpu: int) -> Task:
    return Task(
        arn=f"arn:aws:ecs:local:000000000000:task/c/{task_id}",
        id=task_id,
        cluster_arn="arn:aws:ecs:local:000000000000:cluster/c",
        task_definition_arn="arn:aws:ecs:local:000000000000:task-definition/t:1",
        container_instance_id="i-1",
        container_instance_arn="arn:aws:ecs:local:000000000000:container-instance/c/i-1",
        group="service:web",
        last_status="RUNNING",
        cpu=cpu,
        memory=64,
        containers=(Container("main", "img", last_status="RUNNING", runtime_id=f"r-{task_id}"),),
    )


@pytest.mark.parametrize(("reserved", "percent"), [(1024, 100.0), (512, 200.0), (256, 400.0)])
async def test_a_busy_core_is_cpu_used_over_cpu_reserved(reserved: int, percent: float) -> None:
    backend = OneCorePerContainer()
    tasks = [task("a", reserved)]
    source = TaskUsage("c", backend, lambda: tasks)  # type: ignore[arg-type]
    backend.now = 10.0
    assert await source(10.0, 1.0) == []  # the first round only sets the baseline
    backend.now = 11.0
    samples: list[Any] = await source(11.0, 1.0)
    by = {(s.metric_name, "TaskId" in s.dimensions): s.value for s in samples}
    assert by[("CPUUtilization", True)] == pytest.approx(percent)
    assert by[("CPUUtilization", False)] == pytest.approx(percent)  # the service's
    assert by[("CpuUtilized", True)] == pytest.approx(1024)
