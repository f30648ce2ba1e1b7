"""Service tests run on trio with a MockClock: simulated minutes pass at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio.testing
from service_support import web_td

import pyecs
from pyecs.backends.simulated import SimulatedBackend


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})


@pytest.fixture
def sim_cluster() -> Callable[..., Any]:
    """``async with sim_cluster(backend) as cluster`` with web-app:1..3 registered."""

    @asynccontextmanager
    async def make(
        backend: SimulatedBackend, *images: str, **kwargs: Any
    ) -> AsyncIterator[pyecs.Cluster]:
        async with pyecs.Cluster("production", backend=backend, **kwargs) as cluster:
            for image in images or ("nginx:1",):
                await cluster.register_task_definition(web_td(image))
            yield cluster

    return make
