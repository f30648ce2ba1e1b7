"""Services on real Docker: steady state, replacement, rollback, health, chaos."""

from __future__ import annotations

import random
import subprocess
from typing import Any

import anyio
import pytest

import pyecs
from pyecs.backends.docker import DockerBackend

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

SERVE = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"


def web(image: str, *, health: bool = True, script: str = SERVE) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "memory": 32,
        "command": ["sh", "-c", script],
        "portMappings": [{"containerPort": 80}],
        "stopTimeout": 2,
    }
    if health:
        container["healthCheck"] = {
            "command": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/ || exit 1"],
            "interval": 5,
            "timeout": 2,
            "retries": 1,
        }
    return {"family": "web-app", "containerDefinitions": [container]}


def docker_kill(runtime_id: str) -> None:
    subprocess.run(["docker", "kill", runtime_id], check=True, capture_output=True)


def containers_of(cluster: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=pyecs.cluster={cluster}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


async def test_three_task_service_is_steady_and_a_killed_task_is_replaced(
    busybox_image: str,
) -> None:
    async with pyecs.Cluster(
        "svc-docker", backend=DockerBackend(pull="never"), task_healthy_delay=1
    ) as cluster:
        await cluster.register_task_definition(web(busybox_image, health=False))
        svc = await cluster.create_service("web-app", task_definition="web-app", desired_count=3)
        await svc.wait_stable(timeout=90)
        assert svc.running_count == 3
        victim = svc.tasks[0]
        docker_kill(str(victim.containers[0].runtime_id))
        (stopped,) = await cluster.wait_tasks_stopped([victim.arn], timeout=10)
        assert stopped.stop_code == "EssentialContainerExited"
        assert stopped.container("web").exit_code == 137
        await anyio.sleep(0.2)
        await svc.wait_stable(timeout=90)
        assert victim.arn not in {t.arn for t in svc.tasks}
    assert containers_of("svc-docker") == []


async def test_missing_image_trips_the_breaker_and_rolls_back(busybox_image: str) -> None:
    async with pyecs.Cluster(
        "svc-docker-cb", backend=DockerBackend(pull="if-not-present"), task_healthy_delay=1
    ) as cluster:
        await cluster.register_task_definition(web(busybox_image, health=False))
        await cluster.register_task_definition(web("pyecs-test/does-not-exist:1", health=False))
        breaker = pyecs.CircuitBreaker(enable=True, rollback=True)
        svc = await cluster.create_service(
            "web-app",
            task_definition="web-app:1",
            desired_count=2,
            deployment_configuration=pyecs.DeploymentConfiguration(circuit_breaker=breaker),
        )
        await svc.wait_stable(timeout=90)
        old = {t.arn for t in svc.tasks}
        low_water = 2
        await svc.update(task_definition="web-app:2")
        with anyio.fail_after(180):
            while not (svc.is_stable() and svc.task_definition.revision == 1):
                running_old = [t for t in svc.tasks if t.arn in old and t.last_status == "RUNNING"]
                low_water = min(low_water, len(running_old))
                await anyio.sleep(0.05)
        assert low_water == 2  # the old tasks were never stopped below the minimum (100%)
        assert {t.arn for t in svc.tasks} == old
        messages = [e.message for e in svc.events]
        assert any("rolling back to deploymentId" in m for m in messages)
        failed = cluster.describe_tasks(cluster.list_tasks(desired_status="STOPPED")).tasks
        pulls = [t for t in failed if str(t.stopped_reason).startswith("CannotPullContainerError")]
        assert len(pulls) >= 3  # the breaker's threshold
        # Anything else stopped is a revision-2 task the rollback stopped while it was pending.
        assert all(t.stop_code == "ServiceSchedulerInitiated" for t in failed if t not in pulls)


async def test_failing_health_check_gets_the_task_replaced(busybox_image: str) -> None:
    # The page disappears after 8 s: the health check starts failing.
    script = (
        "mkdir -p /www && echo ok > /www/index.html && (sleep 8; rm /www/index.html) & "
        "exec httpd -f -p 80 -h /www"
    )
    async with pyecs.Cluster("svc-docker-hc", backend=DockerBackend(pull="never")) as cluster:
        await cluster.register_task_definition(web(busybox_image, script=script))
        svc = await cluster.create_service("web-app", task_definition="web-app", desired_count=1)
        await svc.wait_stable(timeout=60)
        first = svc.tasks[0]
        (stopped,) = await cluster.wait_tasks_stopped([first.arn], timeout=60)
        assert stopped.stopped_reason == "Task failed container health checks"
        assert any(
            f"(task {first.id}) failed container health checks." in e.message for e in svc.events
        )


async def test_chaos_kills_are_always_repaired_and_nothing_leaks(busybox_image: str) -> None:
    rng = random.Random(7)
    async with pyecs.Cluster(
        "svc-docker-chaos", backend=DockerBackend(pull="never"), task_healthy_delay=0.5
    ) as cluster:
        await cluster.register_task_definition(web(busybox_image, health=False))
        svc = await cluster.create_service("web-app", task_definition="web-app", desired_count=3)
        await svc.wait_stable(timeout=90)
        for _ in range(5):
            victim = rng.choice(svc.tasks)
            docker_kill(str(victim.containers[0].runtime_id))
            await cluster.wait_tasks_stopped([victim.arn], timeout=10)
            await svc.wait_stable(timeout=30)  # back to desired and healthy within a bound
            assert svc.running_count == 3
        await svc.delete(force=True)
        await svc.wait_inactive(timeout=60)
    assert containers_of("svc-docker-chaos") == []


async def test_task_stats_and_logs_of_a_running_task(busybox_image: str) -> None:
    async with pyecs.Cluster("svc-docker-stats", backend=DockerBackend(pull="never")) as cluster:
        await cluster.register_task_definition(
            web(busybox_image, health=False, script=f"echo started; {SERVE}")
        )
        (task,) = (await cluster.run_task("web-app")).tasks
        await cluster.wait_tasks_running([task.arn], timeout=30)
        stats = await cluster.task_stats(task.arn, "web")
        assert stats["memory_mib"] > 0
        assert stats["memory_limit_mib"] == 32
        lines = [line async for line in cluster.task_logs(task.arn, "web")]
        assert "started" in lines
