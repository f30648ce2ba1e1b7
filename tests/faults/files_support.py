"""Helpers of the file and log-line tests: Docker fixtures (this directory has no conftest,
so the test modules import them), a loop-lag ticker, and one-container task definitions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from docker_support import busybox_image_or_skip

__all__ = ["LagTicker", "busybox_image", "no_docker_leftovers", "one_container"]


class LagTicker:
    """Sleeps 10 ms in a loop and records the longest gap: how long the loop was held."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self.ticks = 0

    async def run(self) -> None:
        while True:
            before = anyio.current_time()
            await anyio.sleep(self.period)
            self.ticks += 1
            self.worst = max(self.worst, anyio.current_time() - before)


def one_container(family: str, image: str = "local/none", **container: Any) -> dict[str, Any]:
    """A task definition of one essential container named ``main``."""
    main = {"name": "main", "image": image, "memory": 32, **container}
    return {"family": family, "containerDefinitions": [main]}


busybox_image = pytest.fixture(scope="module", name="busybox_image")(busybox_image_or_skip)


@pytest.fixture
def no_docker_leftovers(busybox_image: str) -> Iterator[None]:
    """The test leaves no container, network or volume of this process behind."""
    import docker

    from pyecs.backends.docker._cleanup import sweep
    from pyecs.backends.docker._engine import LABEL_OWNER, owner_labels

    yield
    mine = [f"{LABEL_OWNER}={owner_labels()[LABEL_OWNER]}"]
    client = docker.from_env()
    try:
        api = client.api
        found = [c["Names"][0] for c in api.containers(all=True, filters={"label": mine})]
        found += [n["Name"] for n in api.networks(filters={"label": mine})]
        if found:
            sweep(api, mine, lambda labels: True)
            pytest.fail("the test left Docker resources behind: " + ", ".join(found))
    finally:
        client.close()
