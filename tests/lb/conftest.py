"""Load balancer tests run real processes (the process backend) and real sockets on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from lb_support import web_td

import pyecs
from pyecs.backends.process import ProcessBackend

collect_ignore: list[str] = []
if sys.platform != "linux":  # pragma: no cover - the process backend is tested on Linux
    collect_ignore = ["test_lb_process.py", "test_no_request_lost.py", "test_discovery.py"]


@pytest.fixture
def process_cluster() -> Callable[..., Any]:
    """``async with process_cluster() as cluster``: web:1 and web:2 registered."""

    @asynccontextmanager
    async def make(**kwargs: Any) -> AsyncIterator[pyecs.Cluster]:
        kwargs.setdefault("task_healthy_delay", 0.5)
        backend = ProcessBackend(health_check_time_scale=0.1)
        async with pyecs.Cluster("lb-test", backend=backend, **kwargs) as cluster:
            await cluster.register_task_definition(web_td("1"))
            await cluster.register_task_definition(web_td("2"))
            yield cluster

    return make
