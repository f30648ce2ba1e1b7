"""Metrics: CloudWatch statistics on injected data, bounded retention, stream, export."""

from __future__ import annotations

import itertools
import subprocess
import sys
import tracemalloc
from typing import Any

import anyio
import pytest
import trio.testing

import pyecs
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.exceptions import InvalidParameterError
from pyecs.metrics import MetricStore, prometheus_text

pytestmark = pytest.mark.anyio


#: A task that reserves 256 CPU units and 128 MiB: Behavior(cpu=128, memory=64) is 50%.
HALF_LOADED = {
    "family": "w",
    "cpu": "256",
    "memory": "128",
    "containerDefinitions": [{"name": "w", "image": "w", "memory": 128}],
}


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


def test_statistics_match_hand_computed_values() -> None:
    store = MetricStore()
    dims = {"ClusterName": "c", "ServiceName": "s"}
    for t, v in [(0, 10), (10, 20), (20, 60), (60, 5), (70, 7), (130, 1)]:
        store.put("AWS/ECS", "CPUUtilization", v, dimensions=dims, timestamp=t)
    points = store.get_metric_statistics(
        "AWS/ECS", "CPUUtilization", dimensions=dims, start_time=0, end_time=180, period=60
    )
    assert [(p.timestamp, p.sample_count, p.sum, p.minimum, p.maximum) for p in points] == [
        (0, 3, 90, 10, 60),
        (60, 2, 12, 5, 7),
        (120, 1, 1, 1, 1),
    ]
    assert [p.average for p in points] == [30, 6, 1]
    # A window that starts inside: only [20, 80) and [80, 140).
    inner = store.get_metric_statistics(
        "AWS/ECS", "CPUUtilization", dimensions=dims, start_time=20, end_time=140, period=60
    )
    assert [(p.timestamp, p.sum) for p in inner] == [(20, 72), (80, 1)]
    with pytest.raises(InvalidParameterError, match="statistic"):
        store.get_metric_statistics(
            "AWS/ECS",
            "CPUUtilization",
            start_time=0,
            end_time=1,
            period=1,
            statistics=["p99"],  # type: ignore[list-item]
        )


def test_retention_is_bounded() -> None:
    """An hour of 1 s data for 50 tasks (3 series each + 3 per service) stays < 12 MiB."""
    store = MetricStore(retention=3600)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for t in range(3600 + 600):  # more than the retention: the oldest points go
        for task in range(50):
            d = {"ClusterName": "c", "ServiceName": "s", "TaskId": f"{task:032x}"}
            store.put("AWS/ECS", "CPUUtilization", 1.0, dimensions=d, timestamp=t)
            store.put("AWS/ECS", "MemoryUtilization", 1.0, dimensions=d, timestamp=t)
            store.put("ECS/ContainerInsights", "CpuUtilized", 1.0, dimensions=d, timestamp=t)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(store.points("AWS/ECS", "CPUUtilization", d)) == 3600
    assert store.points("AWS/ECS", "CPUUtilization", d)[0][0] == 600
    assert used < 12 * 1024 * 1024, used


def test_series_count_is_bounded() -> None:
    store = MetricStore(retention=4, max_series=10)
    for i in range(25):
        store.put("N", "M", 1, dimensions={"TaskId": str(i)}, timestamp=i)
    assert len(store) == 10
    assert store.list_metrics("N")[0].dimension_map == {"TaskId": "15"}


def test_a_full_store_drops_the_series_updated_least_recently() -> None:
    """Not the one created first: a series updated again stays (the service's, each round),
    and a put into a full store costs the same however many series it holds."""
    store = MetricStore(retention=4, max_series=3)
    service = {"ServiceName": "web"}
    store.put("N", "M", 1, dimensions=service, timestamp=0)
    for i in range(10):
        store.put("N", "M", 1, dimensions={"TaskId": str(i)}, timestamp=i + 1)
        store.put("N", "M", 1, dimensions=service, timestamp=i + 1)
    assert len(store) == 3
    kept = sorted(str(m.dimension_map) for m in store.list_metrics("N"))
    assert kept == sorted(str(d) for d in ({"TaskId": "8"}, {"TaskId": "9"}, service))


async def test_above_the_task_series_limit_only_services_and_the_cluster_have_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per-task series would push the services' out of a bounded store (autoscaling reads
    those): above TASK_SERIES_LIMIT running tasks, only services and the cluster get them."""
    import pyecs.metrics._tasks as task_metrics

    monkeypatch.setattr(task_metrics, "TASK_SERIES_LIMIT", 3)
    monkeypatch.setattr(task_metrics, "CHUNK", 2)  # turns of the loop within a round too
    backend = SimulatedBackend(2, default=Behavior(cpu=128, memory=64))
    async with pyecs.Cluster(
        "c", backend=backend, metrics_resolution=10, task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(HALF_LOADED)
        svc = await cluster.create_service("w", task_definition="w", desired_count=3)
        await svc.wait_stable(timeout=60)
        await anyio.sleep(30)
        per_task = [
            m for m in cluster.metrics.list_metrics("AWS/ECS") if "TaskId" in m.dimension_map
        ]
        assert len(per_task) == 3 * 2  # CPU and memory utilization of each of 3 tasks
        await svc.update(desired_count=5)
        await svc.wait_stable(timeout=60)
        five = anyio.current_time()  # rounds from now on see 5 tasks (points stamped >= five)
        await anyio.sleep(35)

        def last_stamp(name: str, dims: dict[str, str]) -> float:
            latest = cluster.metrics.latest("AWS/ECS", name, dims)
            assert latest is not None
            return latest[0]

        task_series = [
            m for m in cluster.metrics.list_metrics("AWS/ECS") if "TaskId" in m.dimension_map
        ]
        assert task_series  # the 3 tasks' series are still there, with old points only
        assert all(last_stamp(m.metric_name, m.dimension_map) < five for m in task_series)
        dims = {"ClusterName": "c", "ServiceName": "w"}
        assert last_stamp("CPUUtilization", dims) >= five + 10
        assert cluster.metrics.latest("AWS/ECS", "CPUUtilization", dims)[1] == pytest.approx(50.0)  # type: ignore[index]


async def test_task_and_service_utilization_from_simulated_load() -> None:
    backend = SimulatedBackend(1, default=Behavior(cpu=128, memory=64))
    async with pyecs.Cluster(
        "c", backend=backend, metrics_resolution=10, task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(HALF_LOADED)
        seen: list[Any] = []
        async with cluster.metrics.subscribe() as points:
            svc = await cluster.create_service("w", task_definition="w", desired_count=2)
            await svc.wait_stable(timeout=60)
            await anyio.sleep(60)
            while True:
                try:
                    seen.append(points.receive_nowait())  # type: ignore[attr-defined]
                except anyio.WouldBlock:
                    break
        dims = {"ClusterName": "c", "ServiceName": "w"}
        cpu = cluster.metrics.latest("AWS/ECS", "CPUUtilization", dims)
        mem = cluster.metrics.latest("AWS/ECS", "MemoryUtilization", dims)
        assert cpu is not None and cpu[1] == pytest.approx(50.0)  # 128 of 256 units
        assert mem is not None and mem[1] == pytest.approx(50.0)  # 64 of 128 MiB
        running = cluster.metrics.latest("ECS/ContainerInsights", "RunningTaskCount", dims)
        assert running is not None and running[1] == 2
        assert any(p.key.metric_name == "CPUUtilization" for p in seen)
        # User metrics: plain and async callables.
        calls = []

        async def in_flight() -> float:
            calls.append(1)
            return 7.0

        cluster.add_metric("Sync", lambda: 3)
        cluster.add_metric("Async", in_flight)
        await anyio.sleep(20)
        assert cluster.metrics.latest("pyecs/Custom", "Async")[1] == 7.0  # type: ignore[index]
        assert cluster.metrics.latest("pyecs/Custom", "Sync")[1] == 3.0  # type: ignore[index]
        text = prometheus_text(cluster.metrics).decode()
        assert 'aws_ecs_cpu_utilization{cluster_name="c",service_name="w"} 50.0' in text
        assert "pyecs_custom_sync 3.0" in text


@pytest.mark.parametrize(("takes", "most"), [(0.0, 11), (2.0, 3)])
async def test_sampling_takes_at_most_a_tenth_of_the_time(takes: float, most: int) -> None:
    """Rounds that take long (a million tasks) make the next ones wait: over 58 s at a
    5 s resolution, rounds of 2 s leave room for 3 (at 5, 30 and 55 s), not 11."""
    rounds: list[float] = []

    async def slow() -> float:
        rounds.append(anyio.current_time())
        await anyio.sleep(takes)
        return 1.0

    async with pyecs.Cluster("c", backend=SimulatedBackend(1), metrics_resolution=5) as cluster:
        start = anyio.current_time()
        cluster.add_metric("Slow", slow)
        await anyio.sleep(58)  # (not 60: a round due as the cluster closes may or may not run)
    assert len(rounds) == most
    assert all(b - a >= takes * 10 for a, b in itertools.pairwise(rounds))
    assert rounds[0] - start <= 5


def test_resolution_is_checked() -> None:
    with pytest.raises(InvalidParameterError, match="1 to 60"):
        pyecs.Cluster("c", metrics_resolution=0.5)


def test_import_pyecs_does_not_need_prometheus_client() -> None:
    """prometheus-client is an optional extra: importing pyecs does not load it."""
    code = "import sys, pyecs, pyecs.metrics; assert 'prometheus_client' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
