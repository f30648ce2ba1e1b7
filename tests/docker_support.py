"""Docker helpers shared by the test suites: the busybox test image, built from scratch.

No registry is reachable where the tests run, so the one image they use is built locally
by :mod:`pyecs.testing.images` (``FROM scratch`` + Debian's static busybox).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyecs.testing.images import BUSYBOX_IMAGE, busybox_binary, ensure_busybox_image

__all__ = ["BUSYBOX_IMAGE", "busybox_binary", "busybox_image_or_skip", "ensure_busybox_image"]


def busybox_image_or_skip() -> Iterator[str]:
    """The busybox test image, or a skip when no engine answers (a failure in CI).

    Make it a fixture of a module: ``busybox_image = pytest.fixture(scope="module")(...)``.
    """
    import docker
    import docker.errors
    import requests

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        if os.environ.get("PYECS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"no Docker engine answers ({exc}) (PYECS_REQUIRE_DOCKER=1)")
        pytest.skip(f"no Docker engine answers ({exc}); run scripts/docker-up.sh")
    try:
        yield ensure_busybox_image(client)
    finally:
        client.close()
