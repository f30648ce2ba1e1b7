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


def hostname_td(image: str, rev: str) -> dict[str, Any]:
    """busybox httpd on 8080, the container's first and only process: ``GET /hostname``
    answers the hostname (the container id).

    Nothing runs before httpd binds its port: Docker's userland proxy accepts connections on
    a published port as soon as the container starts, so a TCP health check passes then,
    and traffic follows at once.
    """
    return {
        "family": "hostname",
        "containerDefinitions": [
            {
                "name": "web",
                "image": image,
                "memory": 32,
                "command": ["httpd", "-f", "-p", "8080", "-h", "/etc"],
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "REV", "value": rev}],
                "stopTimeout": 2,
            }
        ],
    }


async def test_default_target_group_settings_steady_within_one_interval_and_lose_nothing(
    busybox_image: str,
) -> None:
    """pyecs's target group defaults (a TCP check every 30 s, ELB's thresholds 5 and 2, a
    300 s deregistration delay): steady within about one interval, then a rolling deployment
    fails no request.

    "After your target is registered, it must pass one health check to be considered
    healthy" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):
    the check sent at registration is enough, not five 30 s apart. And "If a deregistering
    target has no in-flight requests and no active connections, Elastic Load Balancing
    immediately completes the deregistration process, without waiting for the deregistration
    delay to elapse": the old tasks do not wait 300 s.
    """
    from pyecs.backends.docker import DockerBackend

    lb = pyecs.LoadBalancer(container_name="web", container_port=8080)
    assert lb.health_check == pyecs.TargetGroupHealthCheck()
    assert (lb.health_check.interval, lb.health_check.healthy_threshold) == (30, 5)
    assert lb.deregistration_delay == 300
    within = lb.health_check.interval + 15  # one interval, and a margin
    # ECS counts a load-balanced task without container health checks as healthy once its
    # target is ("the service scheduler will wait for the load balancer target group health
    # check to return a healthy status",
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html):
    # no 40 s wait on top: the cluster keeps its default task_healthy_delay (40 s).
    backend = DockerBackend(reconcile_interval=1.0)
    async with pyecs.Cluster("lb-docker-defaults", backend=backend) as cluster:
        assert cluster.task_healthy_delay == 40.0
        await cluster.register_task_definition(hostname_td(busybox_image, "1"))
        await cluster.register_task_definition(hostname_td(busybox_image, "2"))
        svc = await cluster.create_service(
            "web-app", task_definition="hostname:1", desired_count=2, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=within)
        assert [t.state for t in svc.load_balancer.targets()] == ["healthy", "healthy"]
        revision = {(t.container("web").runtime_id or "")[:12]: "1" for t in svc.tasks}
        async with load(svc.load_balancer.address, workers=2, path="/hostname") as seen:
            await seen.more(40)
            await svc.update(task_definition="hostname:2")
            await svc.wait_stable(timeout=within)
            revision.update({(t.container("web").runtime_id or "")[:12]: "2" for t in svc.tasks})
            await seen.more(40)
        assert seen.errors == [], seen.errors[:5]
        assert [(d.status, d.rollout_state) for d in svc.deployments] == [("PRIMARY", "COMPLETED")]
        assert svc.deployments[0].task_definition.endswith("task-definition/hostname:2")
        assert len(svc.tasks) == 2
        assert {t.task_definition_arn for t in svc.tasks} == {svc.deployments[0].task_definition}
        assert {revision[body.strip()] for body in seen.answers} == {"1", "2"}
        assert [t.state for t in svc.load_balancer.targets()] == ["healthy", "healthy"]


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
