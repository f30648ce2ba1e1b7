"""Fixtures of the example suite, on top of the pyecs plugin (installed with pyecs).

The plugin gives ``pyecs_cluster`` (async), ``pyecs_cluster_sync``, ``pyecs_cluster_module``,
``pyecs_cluster_session``, ``pyecs_backend_name`` and ``pyecs_backend_factory``. Here we
only add the task definition that fits the backend, and make the process backend's health
checks run at 0.3x their ECS timings (5 s is ECS's shortest interval).

    pytest                              # Docker when an engine answers, else processes
    pytest --pyecs-backend=process      # force a backend
    pytest -n 2                         # in parallel (pytest-xdist): clusters never clash
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pyecs.abc import Backend
from pyecs.testing import make_backend

HERE = Path(__file__).resolve().parent


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio (anyio's default would run them on trio too)."""
    return "asyncio"


@pytest.fixture(scope="session")
def pyecs_backend_factory(pyecs_backend_name: str) -> Callable[[], Backend]:
    """One backend per cluster; the process backend with faster health checks."""
    if pyecs_backend_name == "process":
        return lambda: make_backend("process", health_check_time_scale=0.3)
    if pyecs_backend_name == "docker":
        from pyecs.testing.images import docker_client, ensure_busybox_image

        client = docker_client()
        try:
            ensure_busybox_image(client, "pyecs-examples/busybox:latest")
        finally:
            client.close()
        return lambda: make_backend("docker", pull="never")
    return lambda: make_backend(pyecs_backend_name)


@pytest.fixture(scope="session")
def web_td(pyecs_backend_name: str) -> Path:
    """``web.docker.json`` or ``web.process.json``: the same service for either backend."""
    flavour = "docker" if pyecs_backend_name == "docker" else "process"
    return HERE / f"web.{flavour}.json"
