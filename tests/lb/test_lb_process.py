"""The load balancer in front of real processes (process backend): traffic, health, life cycle."""

from __future__ import annotations

import collections
import os
import signal
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from lb_support import fast_lb, get, load, web_td

import pyecs
from pyecs.backends.process import ProcessBackend
from pyecs.exceptions import InvalidParameterError

pytestmark = pytest.mark.anyio

ClusterFactory = Callable[..., Any]


def messages(svc: pyecs.Service) -> list[str]:
    return [e.message for e in reversed(svc.events)]


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.05)


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_round_robin_spreads_requests_evenly(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=3, load_balancers=[fast_lb()]
        )
        assert svc.load_balancer.address.startswith("127.0.0.1:")
        assert svc.load_balancer.url == f"http://{svc.load_balancer.address}"
        await svc.wait_stable(timeout=30)
        assert {t.state for t in svc.load_balancer.targets()} == {"healthy"}
        answers = collections.Counter()
        for _ in range(30):
            status, body = await get(svc.load_balancer.address)
            assert status == 200
            answers[body.split()[0]] += 1
        assert sorted(answers) == sorted(t.id for t in svc.tasks)
        assert set(answers.values()) == {10}
        tg = svc.load_balancer.target_group_arn
        assert tg.startswith("arn:aws:elasticloadbalancing:local:000000000000:targetgroup/")
        registered = [m for m in messages(svc) if "registered" in m]
        assert registered and all(m.endswith(f"targets in (target-group {tg})") for m in registered)


async def test_least_outstanding_avoids_the_busy_target(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        lb = fast_lb(algorithm="least_outstanding_requests")
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=2, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=30)
        async with anyio.create_task_group() as tg:
            slow: list[str] = []

            async def hold() -> None:
                slow.append((await get(svc.load_balancer.address, "/slow/1.5"))[1].split()[0])

            tg.start_soon(hold)
            await wait_for(lambda: sum(t.connections for t in svc.load_balancer.targets()) == 1)
            fast = {(await get(svc.load_balancer.address))[1].split()[0] for _ in range(6)}
        busy = slow[0]
        assert fast == {t.id for t in svc.tasks} - {busy}


async def test_ecs_dict_form_and_validation(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web:1",
            load_balancers=[
                {
                    "targetGroupArn": "arn:aws:elasticloadbalancing:local:0:targetgroup/web-tg/1",
                    "containerName": "web",
                    "containerPort": 8080,
                    "deregistrationDelay": 1,
                    "healthCheck": {
                        "intervalSeconds": 0.2,
                        "timeoutSeconds": 0.1,
                        "healthyThresholdCount": 1,
                    },
                }
            ],
        )
        assert svc.load_balancer.target_group_name == "web-tg"
        assert svc.load_balancer.config.health_check.protocol == "TCP"
        await svc.wait_stable(timeout=30)
        assert (await get(svc.load_balancer.address))[0] == 200
        with pytest.raises(InvalidParameterError, match="containerPort 80 is not in the portMap"):
            await cluster.create_service(
                "other",
                task_definition="web:1",
                load_balancers=[{"containerName": "web", "containerPort": 80}],
            )
        with pytest.raises(InvalidParameterError, match="'db' is not a container"):
            await cluster.create_service(
                "other", task_definition="web:1", load_balancers=[fast_lb(container_name="db")]
            )
        taken = svc.load_balancer.port
        with pytest.raises(InvalidParameterError, match=r"cannot listen on 127\.0\.0\.1"):
            await cluster.create_service(
                "other", task_definition="web:1", load_balancers=[fast_lb(listener_port=taken)]
            )
        no_port = web_td("3")
        no_port["containerDefinitions"][0]["portMappings"] = [{"containerPort": 9090}]
        await cluster.register_task_definition(no_port)
        with pytest.raises(InvalidParameterError, match="containerPort 8080 is not in the"):
            await svc.update(task_definition="web:3")
        assert svc.task_definition.revision == 1
        # The failed creations left nothing behind: the name is free.
        other = await cluster.create_service("other", task_definition="web:1", desired_count=0)
        assert other.status == "ACTIVE"


async def test_unhealthy_target_gets_no_traffic_and_is_replaced(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=2, load_balancers=[fast_lb()]
        )
        await svc.wait_stable(timeout=30)
        sick = svc.tasks[0]
        async with load(svc.load_balancer.address, workers=2) as seen:
            await get(sick.endpoint("web", 8080), "/fail")  # its /health answers 503 now
            stopped = await cluster.wait_tasks_stopped([sick.arn], timeout=30)
            await svc.wait_stable(timeout=30)
            before = seen.answers.copy()
            await anyio.sleep(0.5)
        assert seen.errors == []
        assert seen.answers[f"{sick.id} 1"] == before[f"{sick.id} 1"]  # nothing after it stopped
        tg = svc.load_balancer.target_group_arn
        assert stopped[0].stop_code == "ServiceSchedulerInitiated"
        assert stopped[0].stopped_reason == f"Task failed ELB health checks in (target-group {tg})"
        assert (
            f"(service web-app) (task {sick.id}) (port {sick.host_port('web', 8080)}) is unhealthy "
            f"in (target-group {tg}) due to (reason Health checks failed with these codes: [503])."
        ) in messages(svc)
        assert "(service web-app) has begun draining connections on 1 tasks." in messages(svc)
        assert f"(service web-app) deregistered 1 targets in (target-group {tg})" in messages(svc)
        assert sick.arn not in {t.arn for t in svc.tasks} and len(svc.tasks) == 2


async def test_grace_period_keeps_an_unhealthy_task_but_sends_it_nothing(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web:1",
            desired_count=2,
            load_balancers=[fast_lb()],
            health_check_grace_period=3,
        )
        await svc.wait_stable(timeout=30)
        sick = svc.tasks[0]
        await get(sick.endpoint("web", 8080), "/fail")
        await wait_for(lambda: svc.load_balancer.state_of(sick.arn) == "unhealthy")
        bodies = {(await get(svc.load_balancer.address))[1] for _ in range(6)}
        assert bodies == {f"{t.id} 1" for t in svc.tasks if t.arn != sick.arn}
        assert cluster.describe_task(sick.arn).desired_status == "RUNNING"  # within the grace
        await cluster.wait_tasks_stopped([sick.arn], timeout=30)


async def test_a_killed_task_fails_no_later_request(process_cluster: ClusterFactory) -> None:
    """Its target is refused (then retried elsewhere) or already deregistered."""
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=2, load_balancers=[fast_lb()]
        )
        await svc.wait_stable(timeout=30)
        victim = svc.tasks[0]
        backend = cluster.backend
        assert isinstance(backend, ProcessBackend)
        pid = backend.pid(victim.container("web").runtime_id or "")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await anyio.sleep(0.1)  # dead; the balancer may still list it: nobody may notice
        bodies = [(await get(svc.load_balancer.address))[1] for _ in range(10)]
        assert all(not b.startswith(victim.id) for b in bodies)
        await svc.wait_stable(timeout=30)


async def test_draining_lets_an_open_request_finish(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=1, load_balancers=[fast_lb()]
        )
        await svc.wait_stable(timeout=30)
        task = svc.tasks[0]
        async with anyio.create_task_group() as tg:
            answer: list[tuple[int, str]] = []

            async def slow() -> None:
                answer.append(await get(svc.load_balancer.address, "/slow/1.5"))

            tg.start_soon(slow)
            await wait_for(lambda: svc.load_balancer.targets()[0].connections == 1)
            await svc.update(desired_count=0)
            await wait_for(lambda: cluster.describe_task(task.arn).last_status == "DEACTIVATING")
            assert svc.load_balancer.targets()[0].state == "draining"
        assert answer == [(200, f"{task.id} 1 slow")]
        stopped = await cluster.wait_tasks_stopped([task.arn], timeout=30)
        assert stopped[0].stopping_at is not None


async def test_deregistration_delay_bounds_the_drain(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web:1",
            desired_count=1,
            load_balancers=[fast_lb(deregistration_delay=0.3)],
        )
        await svc.wait_stable(timeout=30)
        async with await anyio.connect_tcp("127.0.0.1", svc.load_balancer.port) as idle:
            await wait_for(lambda: svc.load_balancer.targets()[0].connections == 1)
            start = anyio.current_time()
            await svc.update(desired_count=0)
            await cluster.wait_tasks_stopped([svc.tasks[0].arn], timeout=30)
            assert anyio.current_time() - start < 5
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                await idle.send(b"GET / HTTP/1.1\r\n\r\n")
                await idle.receive()


async def test_listener_closes_with_the_service_and_the_cluster(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=1, load_balancers=[fast_lb()]
        )
        other = await cluster.create_service(
            "api",
            task_definition="web:1",
            desired_count=1,
            load_balancers=[fast_lb(deregistration_delay=300)],
        )
        await svc.wait_stable(timeout=30)
        await svc.delete(force=True)
        await svc.wait_inactive(timeout=30)
        await wait_for(lambda: not svc.load_balancer.is_listening)
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", svc.load_balancer.port)
        await other.wait_stable(timeout=30)
        address = other.load_balancer.address
        idle = await anyio.connect_tcp("127.0.0.1", other.load_balancer.port)
        await wait_for(lambda: other.load_balancer.targets()[0].connections == 1)
        leaving = anyio.current_time()
    # An open connection does not hold up leaving the cluster (no 300 s drain then).
    assert anyio.current_time() - leaving < 10
    with pytest.raises(OSError):
        await get(address)
    with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
        await idle.send(b"GET / HTTP/1.1\r\n\r\n")
        await idle.receive()
    await idle.aclose()
