"""Fixtures for backend tests that need a Docker engine.

Without an engine the Docker tests are skipped, unless ``PYECS_REQUIRE_DOCKER=1`` (CI sets
it): then they fail, so that a broken engine setup can't pass unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import anyio
import docker
import docker.errors
import pytest
import requests
from docker_support import ensure_busybox_image

from pyecs.backends.docker import cleanup
from pyecs.backends.docker._cleanup import sweep
from pyecs.backends.docker._engine import LABEL_OWNER, owner_labels


def _require() -> bool:
    return os.environ.get("PYECS_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of the environment's engine, or a skip (a failure under
    ``PYECS_REQUIRE_DOCKER=1``)."""
    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        message = f"no Docker engine answers ({exc}); run scripts/docker-up.sh"
        if _require():
            pytest.fail(message + " (PYECS_REQUIRE_DOCKER=1)")
        pytest.skip(message)
    # Leftovers of earlier, crashed runs (dead owner processes only): remove them.
    anyio.run(cleanup)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: docker.DockerClient) -> str:
    """The tag of the busybox test image (built from scratch on first use)."""
    return ensure_busybox_image(docker_client)


def _mine() -> list[str]:
    """The label filter for what this test process created (other processes, such as a
    developer's cluster or a second test run, may use the same engine meanwhile)."""
    return [f"{LABEL_OWNER}={owner_labels()[LABEL_OWNER]}"]


def _leftovers(client: docker.DockerClient) -> list[str]:
    api = client.api
    filters = {"label": _mine()}
    found = [f"container {c['Names'][0]}" for c in api.containers(all=True, filters=filters)]
    found += [f"network {n['Name']}" for n in api.networks(filters=filters)]
    volumes = api.volumes(filters=filters).get("Volumes") or []
    found += [f"volume {v['Name']}" for v in volumes]
    return found


@pytest.fixture(autouse=True)
def _no_docker_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every Docker test leaves no container, network or volume of its own behind."""
    if request.node.get_closest_marker("docker") is None:
        yield
        return
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    yield
    leftovers = _leftovers(client)
    if leftovers:
        sweep(client.api, _mine(), lambda labels: True)
        pytest.fail("the test left Docker resources behind: " + ", ".join(leftovers))
