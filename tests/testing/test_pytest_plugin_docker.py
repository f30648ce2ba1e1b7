"""The plugin on Docker: a killed run's containers, and ``--pyecs-keep`` with ``pyecs gc``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

pytestmark = pytest.mark.docker


def sleeper_td(image: str) -> dict[str, Any]:
    """A service task that only sleeps, on the busybox test image."""
    return {
        "family": "sleeper",
        "containerDefinitions": [
            {
                "name": "main",
                "image": image,
                "memory": 32,
                "command": ["sleep", "3600"],
                "stopTimeout": 1,
            }
        ],
    }


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    c = docker.from_env()
    yield c
    c.close()


def containers(client: docker.DockerClient, cluster: str) -> list[str]:
    """Names of the containers of a pyecs cluster, running or not."""
    found = client.api.containers(all=True, filters={"label": f"pyecs.cluster={cluster}"})
    return [c["Names"][0] for c in found]


def remove(client: docker.DockerClient, cluster: str) -> None:
    for c in client.api.containers(all=True, filters={"label": f"pyecs.cluster={cluster}"}):
        client.api.remove_container(c["Id"], force=True, v=True)


def test_a_killed_runs_containers_are_removed_by_the_next_session(
    pytester: pytest.Pytester, docker_engine: str, client: docker.DockerClient
) -> None:
    ready = pytester.path / "ready.json"
    pytester.makepyfile(
        test_long=f"""
        import json, pathlib, time

        def test_hangs(pyecs_cluster_session):
            pyecs_cluster_session.up({sleeper_td(docker_engine)!r})
            pathlib.Path({str(ready)!r}).write_text(json.dumps(pyecs_cluster_session.name))
            time.sleep(120)
        """,
        test_ok="def test_ok(pyecs_cluster_sync): pass",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyecs-backend=docker",
         "test_long.py"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    cluster = ""
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), "the first session did not bring its service up"
        time.sleep(0.1)
        cluster = json.loads(ready.read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert len(containers(client, cluster)) == 1, "a killed run cannot clean up"
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--pyecs-backend=docker", "test_ok.py", timeout=180
        )
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["leftovers of earlier runs: removed 1 containers: *"])
        assert containers(client, cluster) == []
    finally:
        proc.kill()
        proc.wait()
        if cluster:
            remove(client, cluster)


def test_keep_leaves_a_failing_tests_cluster_running_until_pyecs_gc(
    pytester: pytest.Pytester, docker_engine: str, client: docker.DockerClient
) -> None:
    pytester.makepyfile(
        test_fails=f"""
        def test_fails(pyecs_cluster):
            pass

        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_async_fails(pyecs_cluster):
            await pyecs_cluster.up({sleeper_td(docker_engine)!r})
            print("CLUSTER", pyecs_cluster.name)
            assert False
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--pyecs-backend=docker", "--pyecs-keep", "-k", "async",
        timeout=180,
    )  # fmt: skip
    cluster = ""
    try:
        result.assert_outcomes(failed=1, deselected=1)
        cluster = next(
            line.split()[1] for line in result.stdout.lines if line.startswith("CLUSTER ")
        )
        result.stdout.fnmatch_lines(
            ["*kept running for debugging (--pyecs-keep)*", f"kept cluster {cluster} *"]
        )
        (name,) = containers(client, cluster)
        assert client.containers.get(name.lstrip("/")).status == "running"
        gc = subprocess.run(
            [sys.executable, "-m", "pyecs.cli", "gc"], capture_output=True, text=True, timeout=60
        )
        assert gc.returncode == 0, gc.stderr
        assert "removed 1 containers" in gc.stdout
        assert containers(client, cluster) == []
    finally:
        if cluster:
            remove(client, cluster)
