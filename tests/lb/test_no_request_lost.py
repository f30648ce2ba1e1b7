"""No request lost: a client hammering the load balancer through deployments and scale-in.

Every request opens a new connection, so each one is routed afresh: while at least one
healthy target exists, none may fail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lb_support import fast_lb, get, load

import pyecs

pytestmark = pytest.mark.anyio

ClusterFactory = Callable[..., Any]
#: Requests answered after the change is complete (the load runs all along).
AFTER = 100


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_rolling_deployment_loses_no_request(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=3, load_balancers=[fast_lb()]
        )
        await svc.wait_stable(timeout=30)
        old = {t.arn for t in svc.tasks}
        async with load(svc.load_balancer.address) as seen:
            await seen.more(300)
            await svc.update(task_definition="web:2")
            await svc.wait_stable(timeout=60)
            await seen.more(max(AFTER, 2000 - seen.done))  # 2,000 requests at least
        assert seen.errors == [], seen.errors[:5]
        assert seen.done >= 2000
        assert seen.revisions() == {"1", "2"}
        assert not old & {t.arn for t in svc.tasks}
        after = {(await get(svc.load_balancer.address))[1].split()[1] for _ in range(30)}
        assert after == {"2"}
        assert "(service web-app) has begun draining connections on" in " ".join(
            e.message for e in svc.events
        )


async def test_stop_first_deployment_loses_no_request(process_cluster: ClusterFactory) -> None:
    """minimumHealthyPercent 50, maximumPercent 100: old tasks go before new ones start."""
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app",
            task_definition="web:1",
            desired_count=2,
            load_balancers=[fast_lb()],
            deployment_configuration=pyecs.DeploymentConfiguration(
                minimum_healthy_percent=50, maximum_percent=100
            ),
        )
        await svc.wait_stable(timeout=30)
        async with load(svc.load_balancer.address) as seen:
            await seen.more()
            await svc.update(task_definition="web:2")
            await svc.wait_stable(timeout=60)
            await seen.more(AFTER)
        assert seen.errors == [], seen.errors[:5]
        assert {t.task_definition_arn.rsplit(":", 1)[1] for t in svc.tasks} == {"2"}


async def test_scale_in_loses_no_request(process_cluster: ClusterFactory) -> None:
    async with process_cluster() as cluster:
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=4, load_balancers=[fast_lb()]
        )
        await svc.wait_stable(timeout=30)
        async with load(svc.load_balancer.address) as seen:
            await seen.more()
            await svc.update(desired_count=1)
            await svc.wait_stable(timeout=60)
            await seen.more(AFTER)
        assert seen.errors == [], seen.errors[:5]
        assert len(seen.answers) == 4 and len(svc.tasks) == 1
        assert "(service web-app) has begun draining connections on 3 tasks." in [
            e.message for e in svc.events
        ]


async def test_least_outstanding_deployment_loses_no_request(
    process_cluster: ClusterFactory,
) -> None:
    async with process_cluster() as cluster:
        lb = fast_lb(algorithm="least_outstanding_requests")
        svc = await cluster.create_service(
            "web-app", task_definition="web:1", desired_count=2, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=30)
        async with load(svc.load_balancer.address, workers=6) as seen:
            await seen.more()
            await svc.update(task_definition="web:2")
            await svc.wait_stable(timeout=60)
            await seen.more(AFTER)
        assert seen.errors == [], seen.errors[:5]
        assert seen.revisions() == {"1", "2"}
