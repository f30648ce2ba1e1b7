"""Waits that time out say why, with pyecs's own TimeoutError."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing
from fault_support import td

import pyecs
from pyecs.backends.simulated import Behavior, SimulatedBackend


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


@pytest.mark.anyio
async def test_wait_inactive_times_out_with_the_service_events() -> None:
    # Tasks that ignore SIGTERM take their whole stopTimeout (120 s) to stop.
    backend = SimulatedBackend(1, default=Behavior(ignore_sigterm=True))
    async with pyecs.Cluster("prod", backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(td("web", stopTimeout=120))
        svc = await cluster.create_service("web", task_definition="web", desired_count=1)
        await svc.wait_stable(timeout=60)
        await svc.delete(force=True)
        with pytest.raises(pyecs.TimeoutError) as caught:
            await svc.wait_inactive(timeout=10)
        message = str(caught.value)
        assert "service 'web' not INACTIVE after 10 s" in message
        assert "status DRAINING" in message
        assert "has reached a steady state" in message  # the last events are listed
        await svc.wait_inactive(timeout=600)
        assert svc.status == "INACTIVE"


@pytest.mark.anyio
async def test_wait_inactive_on_an_active_service_says_to_delete_it_first() -> None:
    async with pyecs.Cluster("prod", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(td("web"))
        svc = await cluster.create_service("web", task_definition="web", desired_count=0)
        with pytest.raises(pyecs.TimeoutError, match="it is ACTIVE: delete it first"):
            await svc.wait_inactive(timeout=1)
