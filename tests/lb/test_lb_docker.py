"""The load balancer in front of Docker containers (busybox httpd), when an engine answers."""

from __future__ import annotations

import collections
from typing import Any

import anyio
import pytest
from docker_support import busybox_image_or_skip
from lb_support import fast_lb, load

import pyecs

pytestmark = [pytest.mark.anyio, pytest.mark.docker, pytest.mark.slow]


busybox_image = pytest.fixture(scope="module", name="busybox_image")(busybox_image_or_skip)


def httpd_td(image: str, rev: str) -> dict[str, Any]:
    """busybox httpd on 8080 serving ``<hostname> <rev>`` (the hostname is the container id)."""
    script = (
        'mkdir -p /www && echo "$(hostname) $0" > /www/index.html && exec httpd -f -p 8080 -h /www'
    )
    return {
        "family": "httpd",
        "containerDefinitions": [
            {
                "name": "web",
                "image": image,
                "memory": 32,
                "command": ["sh", "-c", script, rev],
                "portMappings": [{"containerPort": 8080}],
                "stopTimeout": 2,
            }
        ],
    }


async def test_docker_tasks_behind_the_balancer_through_a_deployment(busybox_image: str) -> None:
    from pyecs.backends.docker import DockerBackend

    backend = DockerBackend(reconcile_interval=1.0)
    async with pyecs.Cluster("lb-docker", backend=backend, task_healthy_delay=0.5) as cluster:
        await cluster.register_task_definition(httpd_td(busybox_image, "1"))
        await cluster.register_task_definition(httpd_td(busybox_image, "2"))
        lb = fast_lb(health_check={"path": "/index.html", "interval": 0.3, "timeout": 0.3})
        svc = await cluster.create_service(
            "web-app", task_definition="httpd:1", desired_count=2, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=60)
        hosts = {(t.container("web").runtime_id or "")[:12] for t in svc.tasks}
        async with load(svc.load_balancer.address, workers=2) as seen:
            await seen.more(40)
            await svc.update(task_definition="httpd:2")
            await svc.wait_stable(timeout=90)
            await seen.more(40)
        assert seen.errors == [], seen.errors[:5]
        by_host = collections.Counter(body.split()[0] for body in seen.answers.elements())
        assert hosts <= set(by_host)  # both first tasks answered
        assert seen.revisions() == {"1", "2"}
        with anyio.fail_after(10):
            assert {e.task_arn for e in cluster.discover("web-app")} == {t.arn for t in svc.tasks}


async def test_a_docker_task_failing_its_target_checks_is_replaced(busybox_image: str) -> None:
    import docker

    from pyecs.backends.docker import DockerBackend

    # busybox httpd serving / and, for the balancer's checks, /health.html.
    td = httpd_td(busybox_image, "1")
    web = td["containerDefinitions"][0]
    web["command"][2] = web["command"][2].replace(
        "&& exec httpd", "&& echo ok > /www/health.html && exec httpd"
    )
    backend = DockerBackend(reconcile_interval=1.0)
    async with pyecs.Cluster("lb-docker-sick", backend=backend, task_healthy_delay=0.5) as cluster:
        await cluster.register_task_definition(td)
        lb = fast_lb(health_check={"path": "/health.html"})
        svc = await cluster.create_service(
            "web-app", task_definition="httpd:1", desired_count=2, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=60)
        sick = svc.tasks[0]
        client = docker.from_env()
        try:
            container = client.containers.get(sick.container("web").runtime_id)
            async with load(svc.load_balancer.address, workers=2) as seen:
                await seen.more(10)
                # Its checks now get 404; what clients ask for (/) still answers.
                code, out = container.exec_run(["rm", "/www/health.html"])
                assert code == 0, out
                (stopped,) = await cluster.wait_tasks_stopped([sick.arn], timeout=60)
                await svc.wait_stable(timeout=60)
                await seen.more(20)
        finally:
            client.close()
        assert seen.errors == [], seen.errors[:5]
        tg = svc.load_balancer.target_group_arn
        assert stopped.stop_code == "ServiceSchedulerInitiated"
        assert stopped.stopped_reason == f"Task failed ELB health checks in (target-group {tg})"
        events = [e.message for e in svc.events]
        assert (
            f"(service web-app) (task {sick.id}) (port {sick.host_port('web', 8080)}) is unhealthy "
            f"in (target-group {tg}) due to (reason Health checks failed with these codes: [404])."
        ) in events
        assert len(svc.tasks) == 2 and sick.arn not in {t.arn for t in svc.tasks}
