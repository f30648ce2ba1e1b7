"""Fixtures for the tests of pyecs's pytest plugin, CLI helpers and examples."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[str]:
    """The busybox test image's tag on the environment's engine, or a skip (a failure under
    ``PYECS_REQUIRE_DOCKER=1``)."""
    from docker_support import ensure_busybox_image

    from pyecs.testing._backends import docker_unavailable

    why_not = docker_unavailable()
    if why_not is not None:
        message = f"no Docker engine answers ({why_not}); run scripts/docker-up.sh"
        if os.environ.get("PYECS_REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (PYECS_REQUIRE_DOCKER=1)")
        pytest.skip(message)
    import docker

    client = docker.from_env()
    try:
        yield ensure_busybox_image(client)
    finally:
        client.close()
