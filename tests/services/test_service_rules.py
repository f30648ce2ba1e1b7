"""The ECS service scheduler's rules, on the simulated backend (deterministic)."""

from __future__ import annotations

import anyio
import pytest
from service_support import ClusterFactory, web_td

import pyecs
from pyecs.backends.simulated import Behavior, SimulatedBackend
from pyecs.exceptions import InvalidParameterError
from pyecs.models.service import circuit_breaker_threshold, deployment_bounds

pytestmark = pytest.mark.anyio

DC = pyecs.DeploymentConfiguration


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "bounds"),
    [(4, 50, 200, (2, 8)), (2, 75, 200, (2, 4)), (3, 100, 125, (3, 3)), (0, 100, 200, (0, 0))],
)
def test_ecs_rounding_examples(
    desired: int, minimum: int, maximum: int, bounds: tuple[int, int]
) -> None:
    config = DC(minimum_healthy_percent=minimum, maximum_percent=maximum)
    assert deployment_bounds(desired, config) == bounds


@pytest.mark.parametrize(("desired", "threshold"), [(1, 3), (6, 3), (8, 4), (1000, 200)])
def test_circuit_breaker_threshold(desired: int, threshold: int) -> None:
    assert circuit_breaker_threshold(desired) == threshold


def messages(svc: pyecs.Service) -> list[str]:
    return [e.message for e in reversed(svc.events)]


async def test_reaches_steady_state_with_ecs_events(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(3)) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=2)
        await svc.wait_stable(timeout=30)
        assert (svc.running_count, svc.pending_count, svc.desired_count) == (2, 0, 2)
        assert all(t.group == "service:web-app" for t in svc.tasks)
        assert all(t.started_by == svc.deployments[0].id for t in svc.tasks)
        assert svc.deployments[0].id.startswith("ecs-svc/")
        assert svc.deployments[0].rollout_state == "COMPLETED"
        ids = " ".join(f"(task {t.id})" for t in svc.tasks)
        assert messages(svc)[0] == f"(service web-app) has started 2 tasks: {ids}."
        assert messages(svc)[-1] == "(service web-app) has reached a steady state."


@pytest.mark.parametrize(("desired", "minimum", "maximum"), [(2, 75, 100), (3, 100, 125)])
async def test_unable_to_stop_or_start_event(
    sim_cluster: ClusterFactory, desired: int, minimum: int, maximum: int
) -> None:
    async with sim_cluster(SimulatedBackend(3), "nginx:1", "nginx:2") as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web-app:1",
            desired_count=desired,
            deployment_configuration=DC(minimum_healthy_percent=minimum, maximum_percent=maximum),
        )
        await svc.wait_stable(timeout=30)
        await svc.update(task_definition="web-app:2")
        await anyio.sleep(30)
        assert (
            "service web-app was unable to stop or start tasks during a deployment because of "
            "the service deployment configuration. Update the minimumHealthyPercent or "
            "maximumPercent value and try again."
        ) in messages(svc)
        assert {t.task_definition_arn.rsplit(":", 1)[1] for t in svc.tasks} == {"1"}


@pytest.mark.parametrize(("minimum", "maximum"), [(100, 200), (50, 200), (50, 100), (0, 100)])
async def test_rolling_update_never_drops_below_minimum_healthy(
    sim_cluster: ClusterFactory, minimum: int, maximum: int
) -> None:
    backend = SimulatedBackend(4, behaviors={"nginx:2": Behavior(start_delay=2.0)})
    async with sim_cluster(backend, "nginx:1", "nginx:2") as cluster:
        config = DC(minimum_healthy_percent=minimum, maximum_percent=maximum)
        svc = await cluster.create_service(
            "web-app", task_definition="web-app:1", desired_count=4, deployment_configuration=config
        )
        await svc.wait_stable(timeout=30)
        lower, upper = deployment_bounds(4, config)
        low_water, high_water = 99, 0
        async with cluster.subscribe() as events:
            await svc.update(task_definition="web-app:2")
            with anyio.fail_after(300):
                async for _ in events:
                    tasks = [
                        t
                        for t in cluster.describe_tasks(cluster.list_tasks()).tasks
                        if t.group == "service:web-app"
                    ]
                    healthy = sum(
                        1
                        for t in tasks
                        if t.last_status == "RUNNING" and t.health_status == "HEALTHY"
                    )
                    low_water = min(low_water, healthy)
                    high_water = max(high_water, len(tasks))
                    if svc.is_stable() and svc.task_definition.revision == 2:
                        break
        assert low_water >= lower
        assert high_water <= upper
        assert {t.task_definition_arn[-1] for t in svc.tasks} == {"2"}
        assert svc.deployments[0].rollout_state == "COMPLETED"


async def test_scale_out_and_in_use_the_strategy(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(3)) as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web-app:1",
            desired_count=3,
            placement_strategy=[pyecs.BinPack("memory")],
        )
        await svc.wait_stable(timeout=30)
        # binpack puts everything on the first instance that fits
        assert len({t.container_instance_id for t in svc.tasks}) == 1
        await svc.update(desired_count=1, placement_strategy=[pyecs.Spread("instanceId")])
        await svc.wait_stable(timeout=30)
        assert svc.running_count == 1
        assert any("has stopped 2 running tasks" in m for m in messages(svc))


async def test_default_strategy_spreads_over_zones(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(6, zones=3)) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=3)
        await svc.wait_stable(timeout=30)
        zones = [
            cluster.describe_container_instance(t.container_instance_id).attributes[
                "ecs.availability-zone"
            ]
            for t in svc.tasks
        ]
        assert sorted(zones) == ["us-east-1a", "us-east-1b", "us-east-1c"]


async def test_killed_task_is_replaced(sim_cluster: ClusterFactory) -> None:
    backend = SimulatedBackend(2)
    async with sim_cluster(backend) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=2)
        await svc.wait_stable(timeout=30)
        victim = svc.tasks[0]
        backend.kill(str(victim.containers[0].runtime_id))
        await anyio.sleep(0.1)
        await svc.wait_stable(timeout=30)
        assert victim.arn not in [t.arn for t in svc.tasks]
        stopped = cluster.describe_task(victim.arn)
        assert stopped.stop_code == "EssentialContainerExited"
        assert stopped.container("web").exit_code == 137


async def test_unhealthy_task_is_replaced_after_grace_period(sim_cluster: ClusterFactory) -> None:
    backend = SimulatedBackend(2)
    async with sim_cluster(backend) as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web-app:1", desired_count=1, health_check_grace_period=60
        )
        await svc.wait_stable(timeout=30)
        victim = svc.tasks[0]
        started = anyio.current_time()
        backend.set_health(str(victim.containers[0].runtime_id), "UNHEALTHY")
        await cluster.wait_tasks_stopped([victim.arn], timeout=120)
        assert anyio.current_time() - started >= 59  # the grace period was honoured
        stopped = cluster.describe_task(victim.arn)
        assert stopped.stop_code == "ServiceSchedulerInitiated"
        assert stopped.stopped_reason == "Task failed container health checks"
        assert f"(service web-app) (task {victim.id}) failed container health checks." in (
            messages(svc)
        )
        await svc.wait_stable(timeout=30)


async def test_circuit_breaker_trips_at_threshold_and_rolls_back(
    sim_cluster: ClusterFactory,
) -> None:
    backend = SimulatedBackend(3, behaviors={"bad:2": Behavior(pull_error="manifest unknown")})
    async with sim_cluster(backend, "nginx:1", "bad:2") as cluster:
        breaker = pyecs.CircuitBreaker(enable=True, rollback=True)
        svc = await cluster.create_service(
            "web-app",
            task_definition="web-app:1",
            desired_count=2,
            deployment_configuration=DC(circuit_breaker=breaker),
        )
        await svc.wait_stable(timeout=30)
        completed = svc.deployments[0].id
        old = {t.arn for t in svc.tasks}
        failures_before_trip = 0
        async with cluster.subscribe() as events:
            await svc.update(task_definition="web-app:2")
            with anyio.fail_after(600):
                async for event in events:
                    if isinstance(event, pyecs.TaskStateChange):
                        t = event.task
                        if t.last_status == "STOPPED" and t.stop_code == "TaskFailedToStart":
                            failures_before_trip += 1
                    elif "deployment failed: tasks failed to start." in event.message:
                        break
        # threshold: clamp(ceil(2 / 2), 3, 200) consecutive failures
        assert failures_before_trip == 3
        with anyio.fail_after(600):
            while not (svc.is_stable() and svc.task_definition.revision == 1):
                await anyio.sleep(1)
        assert (
            f"(service web-app) ECS deployment circuit breaker: rolling back to deploymentId "
            f"{completed}."
        ) in messages(svc)
        assert {t.arn for t in svc.tasks} == old  # the running revision was never stopped
        assert len(svc.deployments) == 1
        stopped = cluster.describe_tasks(cluster.list_tasks(desired_status="STOPPED")).tasks
        pulls = [t for t in stopped if str(t.stopped_reason).startswith("CannotPull")]
        assert len(pulls) >= 3
        # Anything else is a revision-2 task the rollback stopped while it was pending.
        assert all(t.stop_code == "ServiceSchedulerInitiated" for t in stopped if t not in pulls)


async def test_start_throttling_grows_and_a_new_revision_resets_it(
    sim_cluster: ClusterFactory,
) -> None:
    backend = SimulatedBackend(2, behaviors={"bad:1": Behavior(start_error="exec format error")})
    async with sim_cluster(backend, "bad:1", "nginx:2") as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=1)
        start = anyio.current_time()
        await anyio.sleep(600)
        started_at = [e.created_at for e in reversed(svc.events) if "has started" in e.message]
        # Without throttling there would be hundreds of attempts in 10 minutes.
        assert 4 <= len(started_at) <= 12
        assert "(service web-app) is unable to consistently start tasks successfully." in (
            messages(svc)
        )
        assert anyio.current_time() - start >= 600
        await svc.update(task_definition="web-app:2")
        await svc.wait_stable(timeout=5)  # at once: the new revision reset the delay


async def test_daemon_follows_instances(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(2)) as cluster:
        svc = await cluster.create_service(
            "agent", task_definition="web-app:1", scheduling_strategy="DAEMON"
        )
        await svc.wait_stable(timeout=30)
        assert svc.desired_count == 2
        new = await cluster.register_container_instance(pyecs.InstanceSpec(cpu=1024, memory=2048))
        await anyio.sleep(1)
        await svc.wait_stable(timeout=30)
        assert new.id in {t.container_instance_id for t in svc.tasks}
        await cluster.update_container_instances_state([new.id], "DRAINING")
        await anyio.sleep(1)
        await svc.wait_stable(timeout=30)
        assert svc.desired_count == 2
        assert new.id not in {t.container_instance_id for t in svc.tasks}


async def test_draining_instance_tasks_move_elsewhere(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(3)) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=3)
        await svc.wait_stable(timeout=30)
        drained = svc.tasks[0].container_instance_id
        await cluster.update_container_instances_state([drained], "DRAINING")
        await anyio.sleep(1)
        await svc.wait_stable(timeout=30)
        assert drained not in {t.container_instance_id for t in svc.tasks}
        assert svc.running_count == 3


async def test_unplaceable_task_event_and_retry_when_capacity_appears(
    sim_cluster: ClusterFactory,
) -> None:
    async with pyecs.Cluster("production", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web_td(memory=3000))
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=2)
        await anyio.sleep(10)
        assert svc.running_count == 1
        assert any(
            "was unable to place a task because no container instance met all of its "
            "requirements. The closest matching container-instance"
            in m
            and "has insufficient memory available." in m
            for m in messages(svc)
        )
        await cluster.register_container_instance(pyecs.InstanceSpec(cpu=2048, memory=4096))
        await svc.wait_stable(timeout=30)


async def test_tasks_without_health_checks_are_healthy_after_the_delay(
    sim_cluster: ClusterFactory,
) -> None:
    async with pyecs.Cluster("production", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(web_td(health=False))
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=1)
        started = anyio.current_time()
        await svc.wait_stable(timeout=120)
        assert anyio.current_time() - started >= 40  # ECS's 40 s default


async def test_delete_rules(sim_cluster: ClusterFactory) -> None:
    async with sim_cluster(SimulatedBackend(1)) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=1)
        await svc.wait_stable(timeout=30)
        with pytest.raises(InvalidParameterError, match="force=True"):
            await svc.delete()
        await svc.delete(force=True)
        assert svc.status in ("DRAINING", "INACTIVE")
        if svc.status == "DRAINING":
            with pytest.raises(InvalidParameterError, match="already exists"):
                await cluster.create_service("web-app", task_definition="web-app:1")
        await svc.wait_inactive(30)
        assert cluster.list_services() == []
        again = await cluster.create_service("web-app", task_definition="web-app:1")
        assert cluster.list_services() == [again.arn]
        result = cluster.describe_services(["web-app", "nope"])
        assert result.services == (again,)
        assert [f.reason for f in result.failures] == ["MISSING"]


async def test_bad_arguments_are_refused_before_anything_starts(
    sim_cluster: ClusterFactory,
) -> None:
    async with sim_cluster(SimulatedBackend(1)) as cluster:
        with pytest.raises(InvalidParameterError, match="desired_count"):
            await cluster.create_service("a", task_definition="web-app:1", desired_count=-1)
        with pytest.raises(InvalidParameterError, match="maximum_percent"):
            DC(maximum_percent=300)
        with pytest.raises(InvalidParameterError, match="minimum_healthy_percent"):
            DC(minimum_healthy_percent=-1)
        with pytest.raises(InvalidParameterError, match="DAEMON"):
            await cluster.create_service(
                "a",
                task_definition="web-app:1",
                scheduling_strategy="DAEMON",
                deployment_configuration=DC(maximum_percent=200),
            )
        with pytest.raises(pyecs.TaskDefinitionNotFoundError):
            await cluster.create_service("a", task_definition="nope:1")
        with pytest.raises(pyecs.PlacementError):
            await cluster.create_service(
                "a", task_definition="web-app:1", placement_strategy=[{"type": "nope"}]
            )
        with pytest.raises(InvalidParameterError, match="service name"):
            await cluster.create_service("bad name", task_definition="web-app:1")
        assert cluster.list_services() == []
        assert cluster.list_tasks() == []


async def test_wait_stable_timeout_includes_last_events(sim_cluster: ClusterFactory) -> None:
    backend = SimulatedBackend(1, behaviors={"nginx:1": Behavior(start_delay=1000)})
    async with sim_cluster(backend) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=1)
        with pytest.raises(pyecs.TimeoutError, match="has started 1 tasks"):
            await svc.wait_stable(timeout=10)


async def test_cancellation_still_stops_everything() -> None:
    backend = SimulatedBackend(1)
    with anyio.move_on_after(5):
        async with pyecs.Cluster("c", backend=backend) as cluster:
            await cluster.register_task_definition(web_td())
            svc = await cluster.create_service(
                "web-app", task_definition="web-app:1", desired_count=2
            )
            await svc.wait_stable(timeout=30)
            await anyio.sleep_forever()
    assert backend.running == []


async def test_leaving_the_cluster_starts_no_replacements(sim_cluster: ClusterFactory) -> None:
    backend = SimulatedBackend(2)
    async with sim_cluster(backend) as cluster:
        svc = await cluster.create_service("web-app", task_definition="web-app:1", desired_count=2)
        await svc.wait_stable(timeout=30)
        before = set(cluster.list_tasks())
    after = set(cluster.list_tasks(desired_status="STOPPED"))
    assert after == before  # the two tasks stopped, and nothing was started to replace them
