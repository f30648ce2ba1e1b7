"""What a service keeps per task and per pass, so that it scales, without changing ECS's rules:
launches in batches, counts kept at each task snapshot, passes skipped while tasks are
only pending, and freed capacity waking only the services that wait for it."""

from __future__ import annotations

import anyio
import pytest
from service_support import ClusterFactory, web_td

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.models.instance import uniform_instances
from pyecs.runtime._tasks import LAUNCH_BATCH
from pyecs.service._service import PLACEMENT_RETRY
from pyecs.service.features._discovery import DiscoveryEnvironment

pytestmark = pytest.mark.anyio

PENDING = ("PROVISIONING", "PENDING", "ACTIVATING")


def messages(svc: pyecs.Service) -> list[str]:
    return [e.message for e in reversed(svc.events)]


def big_backend() -> SimulatedBackend:
    return SimulatedBackend(uniform_instances(20, cpu=4096, memory=16384))


def tiny_td() -> dict[str, object]:
    return web_td(memory=32, health=False)


def assert_counts_match(svc: pyecs.Service) -> None:
    tasks = svc.tasks
    assert svc.running_count == sum(1 for t in tasks if t.last_status == "RUNNING")
    assert svc.pending_count == sum(1 for t in tasks if t.last_status in PENDING)
    assert all(t.last_status != "STOPPED" for t in tasks)


async def test_a_large_shortfall_is_launched_in_batches_with_one_event_each() -> None:
    desired = 2 * LAUNCH_BATCH + 50
    async with pyecs.Cluster("production", backend=big_backend()) as cluster:
        await cluster.register_task_definition(tiny_td())
        svc = await cluster.create_service(
            "web-app", task_definition="web-app:1", desired_count=desired
        )
        await svc.wait_stable(timeout=120)
        assert (svc.running_count, svc.pending_count, len(svc.tasks)) == (desired, 0, desired)
        started = [m for m in messages(svc) if " has started " in m]
        assert [m.split(" has started ")[1].split(" ")[0] for m in started] == [
            str(LAUNCH_BATCH),
            str(LAUNCH_BATCH),
            "50",
        ]
        assert messages(svc)[-1] == "(service web-app) has reached a steady state."
        assert [t.arn for t in svc.tasks] == cluster.list_tasks(service_name="web-app")


async def test_running_and_pending_counts_follow_every_task_snapshot() -> None:
    async with pyecs.Cluster("production", backend=big_backend()) as cluster:
        await cluster.register_task_definition(tiny_td())
        svc = await cluster.create_service(
            "web-app", task_definition="web-app:1", desired_count=LAUNCH_BATCH + 20
        )
        with anyio.fail_after(120):
            while not svc.is_stable():
                changed = svc.change_event
                assert_counts_match(svc)
                await changed.wait()
        assert_counts_match(svc)
        await svc.update(desired_count=30)
        await svc.wait_stable(timeout=120)
        assert_counts_match(svc)
        assert (svc.running_count, len(svc.tasks)) == (30, 30)


async def test_an_update_while_batches_are_owed_is_planned_again() -> None:
    """A change of desired count (or task definition) during a large launch is not
    overtaken by the launches the first plan still owed."""
    async with pyecs.Cluster("production", backend=big_backend()) as cluster:
        await cluster.register_task_definition(tiny_td())
        await cluster.register_task_definition(web_td("nginx:2", memory=32, health=False))
        svc = await cluster.create_service(
            "web-app", task_definition="web-app:1", desired_count=3 * LAUNCH_BATCH
        )
        await svc.update(desired_count=LAUNCH_BATCH // 2)
        await svc.wait_stable(timeout=300)
        assert (svc.running_count, len(svc.tasks)) == (LAUNCH_BATCH // 2, LAUNCH_BATCH // 2)
        started = sum(
            int(m.split(" has started ")[1].split(" ")[0])
            for m in messages(svc)
            if " has started " in m
        )
        assert started < 3 * LAUNCH_BATCH  # the owed batches were dropped, not launched
        await svc.update(desired_count=2 * LAUNCH_BATCH)
        await anyio.sleep(0)
        await svc.update(task_definition="web-app:2")
        await svc.wait_stable(timeout=300)
        assert len(svc.tasks) == 2 * LAUNCH_BATCH
        assert {t.task_definition_arn.rsplit("/", 1)[1] for t in svc.tasks} == {"web-app:2"}
        assert_counts_match(svc)


async def test_a_task_run_by_hand_in_the_services_group_is_not_the_services(
    sim_cluster: ClusterFactory,
) -> None:
    async with sim_cluster(SimulatedBackend(3)) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=2)
        await svc.wait_stable(timeout=60)
        result = await cluster.run_task("web-app:1", group="service:web-app")
        await cluster.wait_tasks_running([t.arn for t in result.tasks], timeout=60)
        assert result.tasks[0].arn not in {t.arn for t in svc.tasks}
        assert (svc.running_count, len(svc.tasks)) == (2, 2)
        assert svc.is_stable()


async def test_a_stopped_task_wakes_the_service_waiting_for_capacity_at_once() -> None:
    """Freed capacity is retried at once by the service that could not place a task,
    not PLACEMENT_RETRY later; services with nothing to place are left alone."""
    async with pyecs.Cluster("production", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web_td(memory=3000))
        await cluster.register_task_definition(web_td("nginx:2", memory=32))
        other = await cluster.create_service("other", task_definition="web-app:2", desired_count=1)
        await other.wait_stable(timeout=120)
        hog = await cluster.run_task("web-app:1")
        await cluster.wait_tasks_running([t.arn for t in hog.tasks], timeout=60)
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=1)
        await anyio.sleep(1)
        assert svc.running_count + svc.pending_count == 0
        assert any("was unable to place a task" in m for m in messages(svc))
        events_of_other = len(other.events)
        stopped_at = anyio.current_time()
        await cluster.stop_task(hog.tasks[0].arn)
        with anyio.fail_after(60):
            while not svc.tasks:
                await svc.change_event.wait()
        assert anyio.current_time() - stopped_at < PLACEMENT_RETRY  # virtual time
        await svc.wait_stable(timeout=120)
        assert len(other.events) == events_of_other
        assert other.is_stable()


async def test_a_scale_out_splits_by_provider_from_the_tasks_the_service_has() -> None:
    """The service's per-provider counts (kept at each snapshot) make the second launch
    continue the base-then-weights split instead of starting it over."""
    backend = SimulatedBackend(uniform_instances(1, id_prefix="plain-"))
    async with pyecs.Cluster("c", backend=backend) as cluster:
        for name in ("asg-a", "asg-b"):
            await cluster.create_capacity_provider(name)
            for spec in uniform_instances(2, id_prefix=name[-1] + "-"):
                await cluster.register_container_instance(spec, capacity_provider=name)
        await cluster.put_cluster_capacity_providers(["asg-a", "asg-b"])
        await cluster.register_task_definition(tiny_td())
        svc = await cluster.create_service(
            "web-app",
            task_definition="web-app:1",
            desired_count=2,
            capacity_provider_strategy=[
                {"capacityProvider": "asg-a", "base": 2, "weight": 1},
                {"capacityProvider": "asg-b", "weight": 3},
            ],
        )
        await svc.wait_stable(timeout=120)
        assert {t.capacity_provider_name for t in svc.tasks} == {"asg-a"}
        await svc.update(desired_count=10)
        await svc.wait_stable(timeout=120)
        by = [t.capacity_provider_name for t in svc.tasks]
        assert (by.count("asg-a"), by.count("asg-b")) == (4, 6)


async def test_the_discovery_environment_names_the_current_load_balanced_services() -> None:
    """Only services created with a load balancer are looked at, and one replaced under
    its name by a service without one is not named any more."""
    td = web_td(memory=32, health=False)
    td["containerDefinitions"][0]["portMappings"] = [{"containerPort": 8080}]
    lb = pyecs.LoadBalancer(container_name="web", container_port=8080)
    async with pyecs.Cluster("production", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(td)
        api = await cluster.create_service(
            "orders-api", task_definition="web-app:1", desired_count=0, load_balancers=[lb]
        )
        web = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=0)
        (discovery,) = [f for f in web.features if isinstance(f, DiscoveryEnvironment)]
        assert discovery.directory() == {
            "PYECS_SERVICE_ORDERS_API_ADDR": api.load_balancer.address,
            "PYECS_SERVICE_ORDERS_API_URL": api.load_balancer.url,
        }
        await api.delete()
        await api.wait_inactive(timeout=60)
        await cluster.create_service("orders-api", task_definition="web-app:1", desired_count=0)
        assert discovery.directory() == {}


async def test_deployment_counts_match_the_tasks_throughout_a_rolling_update(
    sim_cluster: ClusterFactory,
) -> None:
    async with sim_cluster(SimulatedBackend(3), "nginx:1", "nginx:2") as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=4)
        await svc.wait_stable(timeout=120)
        await svc.update(task_definition="web-app:2")
        seen = set()
        with anyio.fail_after(300):
            while not svc.is_stable():
                changed = svc.change_event
                tasks = svc.tasks
                for d in svc.deployments:
                    mine = [t for t in tasks if t.started_by == d.id]
                    running = sum(1 for t in mine if t.last_status == "RUNNING")
                    assert (d.running_count, d.pending_count) == (running, len(mine) - running)
                seen.add(len(svc.deployments))
                await changed.wait()
        assert 2 in seen  # the counts were checked with both deployments in flight
