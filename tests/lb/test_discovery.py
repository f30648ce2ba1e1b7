"""Service discovery: `cluster.discover`, `cluster.watch_endpoints`, and how tasks find others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from lb_support import fast_lb, get, web_td

import pyecs
from pyecs.abc import TaskLaunch
from pyecs.backends.simulated import SimulatedBackend
from pyecs.exceptions import ServiceNotFoundError

pytestmark = pytest.mark.anyio

ClusterFactory = Callable[..., Any]


async def test_discover_lists_the_load_balanced_port_of_healthy_tasks(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=2, load_balancers=[fast_lb()]
        )
        assert cluster.discover("web-app") == []
        await svc.wait_stable(timeout=30)
        found = cluster.discover("web-app")
        assert sorted(e.task_arn for e in found) == sorted(t.arn for t in svc.tasks)
        for e in found:
            assert (e.service, e.container_name, e.container_port) == ("web-app", "web", 8080)
            assert e.address == cluster.describe_task(e.task_arn).endpoint("web", 8080)
            assert (await get(e.address))[1].startswith(e.task_id)
        with pytest.raises(ServiceNotFoundError, match="no service 'nope'"):
            cluster.discover("nope")


async def test_without_a_load_balancer_every_published_port_is_listed(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        td = web_td("1", family="two-ports")
        td["containerDefinitions"][0]["portMappings"].append({"containerPort": 9090})
        await cluster.register_task_definition(td)
        svc = await cluster.create_service("two", task_definition="two-ports:1")
        await svc.wait_stable(timeout=30)
        found = cluster.discover("two")
        assert [e.container_port for e in found] == [8080, 9090]
        task = svc.tasks[0]
        assert [e.port for e in found] == [task.host_port("web", 8080), task.host_port("web", 9090)]


async def test_watch_endpoints_follows_scaling_and_ends_with_the_service(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=1, load_balancers=[fast_lb()]
        )
        seen: list[int] = []
        with anyio.fail_after(60):
            async for endpoints in cluster.watch_endpoints("web-app"):
                seen.append(len(endpoints))
                if seen == [0, 1]:
                    await svc.update(desired_count=2)
                elif seen == [0, 1, 2]:
                    await svc.update(desired_count=1)
                elif seen == [0, 1, 2, 1]:
                    await svc.delete(force=True)
        assert seen == [0, 1, 2, 1, 0]
        assert svc.status == "INACTIVE"


async def test_tasks_find_load_balanced_services_in_their_environment(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        api = await cluster.create_service(
            "orders-api", task_definition="web:1", load_balancers=[fast_lb()]
        )
        web = await cluster.create_service(
            "web-app", task_definition="web:2", load_balancers=[fast_lb()]
        )
        await web.wait_stable(timeout=30)
        await api.wait_stable(timeout=30)
        url = (await get(web.load_balancer.address, "/env/PYECS_SERVICE_ORDERS_API_URL"))[1]
        assert url == api.load_balancer.url
        addr = (await get(web.load_balancer.address, "/env/PYECS_SERVICE_ORDERS_API_ADDR"))[1]
        assert (await get(addr))[1].split()[1] == "1"  # through the other service's balancer


class RecordingBackend(SimulatedBackend):
    """Keeps the TaskLaunch of every task it sets up."""

    def __init__(self) -> None:
        super().__init__(1)
        self.launches: list[TaskLaunch] = []

    async def setup_task(self, task: TaskLaunch) -> None:
        self.launches.append(task)
        await super().setup_task(task)


async def test_service_tasks_carry_the_service_label() -> None:
    backend = RecordingBackend()
    async with pyecs.Cluster("labels", backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(web_td("1"))
        await cluster.create_service("web-app", task_definition="web:1")
        await cluster.run_task("web:1")
        with anyio.fail_after(10):
            while len(backend.launches) < 2:
                await anyio.sleep(0.01)
        labels = {launch.labels.get("pyecs.service") for launch in backend.launches}
        assert labels == {"web-app", None}
