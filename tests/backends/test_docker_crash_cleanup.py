"""A process killed with SIGKILL leaves its containers; pyecs removes them afterwards.

A child Python process opens a cluster on Docker, runs a service of two tasks of two
containers each (so each task also has a network of its own, besides the cluster network,
on which the service's tasks answer to its name) and is killed
with SIGKILL once they run: nothing of its own cleanup runs. The next ``Cluster`` of that
name removes the leftovers when it opens; ``pyecs.backends.docker.cleanup`` removes them on
demand.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import pyecs
from pyecs.backends.docker import DockerBackend, cleanup

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

CHILD = """
import sys

import anyio

import pyecs
from pyecs.backends.docker import DockerBackend

NAME, IMAGE = sys.argv[1], sys.argv[2]
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


async def main() -> None:
    backend = DockerBackend(pull="never")
    async with pyecs.Cluster(NAME, backend=backend, task_healthy_delay=0) as cluster:
        await cluster.register_task_definition(
            {
                "family": "crashy",
                "containerDefinitions": [
                    {"name": "app", "image": IMAGE, "memory": 16, "command": SLEEP},
                    {"name": "sidecar", "image": IMAGE, "memory": 16, "command": SLEEP},
                ],
            }
        )
        svc = await cluster.create_service("crashy", task_definition="crashy", desired_count=2)
        await svc.wait_stable(timeout=60)
        print("ready", flush=True)
        await anyio.sleep_forever()


anyio.run(main)
"""


def docker_lines(*argv: str) -> list[str]:
    out = subprocess.run(["docker", *argv], check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def containers(cluster: str, *, running_only: bool = False) -> list[str]:
    """Names of the cluster's containers (``docker ps``)."""
    flags = [] if running_only else ["-a"]
    return docker_lines(
        "ps", *flags, "--filter", f"label=pyecs.cluster={cluster}", "--format", "{{.Names}}"
    )


def networks(cluster: str) -> list[str]:
    """Names of the cluster's networks (``docker network ls``)."""
    return docker_lines(
        "network", "ls", "--filter", f"label=pyecs.cluster={cluster}", "--format", "{{.Name}}"
    )


class Crashed:
    """A child process that ran a cluster's tasks, then was killed with SIGKILL."""

    def __init__(self, cluster: str, image: str, log: Path) -> None:
        self.cluster = cluster
        self.image = image
        self.log = log
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 90.0) -> None:
        """Start the child; return once it printed ``ready`` (its tasks RUNNING)."""
        with self.log.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", CHILD, self.cluster, self.image],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while not line and time.monotonic() < deadline and self.process.poll() is None:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.kill()
            pytest.fail(
                f"the child did not get its tasks RUNNING (said {line!r}); its stderr:\n"
                + self.log.read_text()
            )

    def kill(self) -> None:
        """SIGKILL the child and reap it: its pid is then dead."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def crashed(busybox_image: str, tmp_path: Path) -> Iterator[Crashed]:
    """A child process running two tasks (four containers; two task networks and the
    cluster network); tests kill it."""
    child = Crashed(f"crashy-{uuid.uuid4().hex[:8]}", busybox_image, tmp_path / "child.log")
    try:
        child.start()
        yield child
    finally:
        child.kill()
        # Whatever a failed test left of that (uniquely named) cluster: remove it.
        anyio.run(lambda: cleanup(cluster=child.cluster, all_owners=True))


def owners(cluster: str) -> set[str]:
    """The ``pyecs.owner`` labels (``hostname:pid``) of the cluster's containers."""
    return set(
        docker_lines(
            "ps",
            "-a",
            "--filter",
            f"label=pyecs.cluster={cluster}",
            "--format",
            '{{.Label "pyecs.owner"}}',
        )
    )


async def test_next_cluster_of_that_name_removes_the_leftovers(crashed: Crashed) -> None:
    assert crashed.process is not None
    # The containers belong to the child, not to this test process.
    assert {o.rpartition(":")[2] for o in owners(crashed.cluster)} == {str(crashed.process.pid)}
    crashed.kill()
    assert crashed.process is not None and crashed.process.returncode == -signal.SIGKILL
    left = containers(crashed.cluster, running_only=True)
    assert len(left) == 4  # SIGKILL ran no cleanup: the containers still run
    left_networks = networks(crashed.cluster)
    assert len(left_networks) == 3  # the two tasks' networks and the cluster network

    backend = DockerBackend(pull="never")
    async with pyecs.Cluster(crashed.cluster, backend=backend):
        removed = backend.removed_leftovers
        assert sorted(removed.containers) == sorted(left)
        assert sorted(removed.networks) == sorted(left_networks)
        assert containers(crashed.cluster) == []
        assert networks(crashed.cluster) == []


async def test_cleanup_removes_the_leftovers_of_dead_owners_on_demand(crashed: Crashed) -> None:
    # While the owner lives, its containers are not leftovers.
    assert (await cleanup(cluster=crashed.cluster)).empty
    assert len(containers(crashed.cluster, running_only=True)) == 4

    crashed.kill()
    left, left_networks = containers(crashed.cluster), networks(crashed.cluster)
    removed = await cleanup(cluster=crashed.cluster)
    assert sorted(removed.containers) == sorted(left)
    assert sorted(removed.networks) == sorted(left_networks)
    assert len(removed.containers) == 4 and len(removed.networks) == 3
    assert containers(crashed.cluster) == []
    assert networks(crashed.cluster) == []
