"""Time to one healthy single-container service: pyecs fixtures vs testcontainers.

One HTTP server (busybox ``httpd``, the tests' busybox image built from scratch) from
nothing to "answers ``GET /``", and back to nothing, measured:

- **pyecs fixture**: what a function-scoped fixture does: open a cluster on a new
  ``DockerBackend`` (connect, sweep leftovers, subscribe to events), ``up()`` the service
  (register, create, wait for a steady state, wait until ``GET /`` answers), then leave the
  cluster. The task definition without a ``healthCheck`` (ready = running for the
  fixtures' 0.5 s ``task_healthy_delay``, then HTTP answers), the same with a delay of 0
  (the machinery alone), and with a ``healthCheck`` (ECS's shortest interval is 5 s, and
  Docker runs the first check one interval after the start);
- **pyecs, shared cluster**: ``up()`` and ``delete`` only, in a cluster that stays open (a
  session-scoped fixture);
- **testcontainers-python** (when it is installed): ``DockerContainer(...).start()`` plus the
  same HTTP readiness poll, then ``stop()``;
- **docker SDK**: ``containers.run`` plus the same poll, then ``remove(force=True)``;
- **pyecs fixture, process backend**: the same service as a local program (Python's
  ``http.server``), no Docker.

Docker parts run only when an engine answers. Prints medians (and minimum) over ``--runs``.
testcontainers' Ryuk reaper is disabled (its image would have to be pulled).

Run: ``.venv/bin/python benchmarks/fixture_overhead.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyecs.testing import SyncClusterFixture, make_backend
from pyecs.testing._backends import docker_unavailable
from pyecs.testing.plugin import TASK_HEALTHY_DELAY

PORT = 8080
# PID 1 ignores SIGTERM unless it handles it: a shell with a trap stops at once.
HTTPD = (
    "mkdir -p /www && echo ok > /www/index.html && trap 'exit 0' TERM; "
    f"httpd -f -p {PORT} -h /www & wait"
)
PROCESS_HTTPD = 'exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$PYECS_WWW"'


def td(image: str, *, health: bool, process: bool = False) -> dict[str, Any]:
    """The task definition of the one-container HTTP service."""
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "memory": 64,
        "command": ["sh", "-c", PROCESS_HTTPD if process else HTTPD],
        "portMappings": [{"containerPort": PORT}],
        "stopTimeout": 2,
    }
    if process:
        container["environment"] = [{"name": "PYECS_WWW", "value": "/usr/share"}]
    if health:
        check = (
            'python3 -c "import os, urllib.request; urllib.request.urlopen('
            "'http://127.0.0.1:%s/' % os.environ['PORT'], timeout=2)\""
            if process
            else f"wget -q -O /dev/null http://127.0.0.1:{PORT}/ || exit 1"
        )
        container["healthCheck"] = {
            "command": ["CMD-SHELL", check],
            "interval": 5,
            "timeout": 3,
            "retries": 3,
        }
    return {"family": "bench-web", "containerDefinitions": [container]}


def wait_http(url: str, timeout: float = 60) -> None:
    """Poll ``GET url`` every 10 ms until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def pyecs_fixture(
    image: str, *, health: bool, backend: str = "docker", delay: float = TASK_HEALTHY_DELAY
) -> tuple[float, float]:
    """(up, down) seconds of one function-scoped fixture's life."""
    options: dict[str, Any] = {"pull": "never"} if backend == "docker" else {}
    started = time.perf_counter()
    cluster = SyncClusterFixture(
        "bench-fixture",
        backend=make_backend(backend, **options),
        task_healthy_delay=delay,
    )
    cluster.open()
    try:
        up = cluster.up(td(image, health=health, process=backend == "process"), http_path="/")
        ready = time.perf_counter()
        wait_http(up.url)  # answered already: a check that the endpoint is real
    finally:
        before_close = time.perf_counter()
        cluster.close()
    return ready - started, time.perf_counter() - before_close


def pyecs_shared(cluster: SyncClusterFixture, image: str) -> tuple[float, float]:
    """(up, down) seconds of one service in a cluster that stays open."""
    started = time.perf_counter()
    up = cluster.up(td(image, health=False), http_path="/", service_name="bench")
    ready = time.perf_counter()
    up.service.delete(force=True).wait_inactive(timeout=60)
    return ready - started, time.perf_counter() - ready


def testcontainers_run(image: str) -> tuple[float, float]:
    """(up, down) seconds with testcontainers' DockerContainer and the same poll."""
    from testcontainers.core.container import DockerContainer

    started = time.perf_counter()
    container = DockerContainer(image).with_command(["sh", "-c", HTTPD]).with_exposed_ports(PORT)
    container.start()
    try:
        host = container.get_container_host_ip()
        host = "127.0.0.1" if host in ("localhost", "0.0.0.0") else host
        wait_http(f"http://{host}:{container.get_exposed_port(PORT)}/")
        ready = time.perf_counter()
    finally:
        before = time.perf_counter()
        container.stop()
    return ready - started, time.perf_counter() - before


def docker_sdk_run(image: str) -> tuple[float, float]:
    """(up, down) seconds with the bare docker SDK and the same poll."""
    import docker

    started = time.perf_counter()
    client = docker.from_env()
    container = client.containers.run(
        image,
        ["sh", "-c", HTTPD],
        detach=True,
        ports={f"{PORT}/tcp": ("127.0.0.1", None)},
        labels={"pyecs.benchmark": "fixture_overhead"},
    )
    try:
        container.reload()
        host_port = container.ports[f"{PORT}/tcp"][0]["HostPort"]
        wait_http(f"http://127.0.0.1:{host_port}/")
        ready = time.perf_counter()
    finally:
        before = time.perf_counter()
        container.remove(force=True)
        client.close()
    return ready - started, time.perf_counter() - before


def measure(name: str, runs: int, one: Callable[[], tuple[float, float]]) -> None:
    """Run ``one`` ``runs`` times and print the medians."""
    ups, downs = [], []
    one()  # warm-up: imports, first connections
    for _ in range(runs):
        up, down = one()
        ups.append(up)
        downs.append(down)
    print(
        f"{name:<56} up {statistics.median(ups):6.3f} s (min {min(ups):6.3f})   "
        f"down {statistics.median(downs):6.3f} s"
    )


def main() -> None:
    """Measure everything that can run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    print(f"median of {args.runs} runs after one warm-up; 'up' ends when GET / answers")
    why_not = docker_unavailable()
    if why_not is None:
        import docker

        from pyecs.testing.images import BUSYBOX_IMAGE, ensure_busybox_image

        client = docker.from_env()
        image = ensure_busybox_image(client, BUSYBOX_IMAGE)
        client.close()
        measure(
            "pyecs fixture, Docker, no healthCheck",
            args.runs,
            lambda: pyecs_fixture(image, health=False),
        )
        measure(
            "  the same with task_healthy_delay=0 (machinery only)",
            args.runs,
            lambda: pyecs_fixture(image, health=False, delay=0.0),
        )
        measure(
            "pyecs fixture, Docker, healthCheck (5 s interval)",
            max(1, args.runs // 2),
            lambda: pyecs_fixture(image, health=True),
        )
        with SyncClusterFixture(
            "bench-shared",
            backend=make_backend("docker", pull="never"),
            task_healthy_delay=TASK_HEALTHY_DELAY,
        ) as shared:
            measure(
                "pyecs up() in a shared cluster, Docker, no healthCheck",
                args.runs,
                lambda: pyecs_shared(shared, image),
            )
        try:
            import testcontainers  # noqa: F401
        except ImportError:
            print("testcontainers-python is not installed: skipped (pip install testcontainers)")
        else:
            measure(
                "testcontainers DockerContainer + HTTP poll",
                args.runs,
                lambda: testcontainers_run(image),
            )
        measure("docker SDK containers.run + HTTP poll", args.runs, lambda: docker_sdk_run(image))
    else:
        print(f"no Docker engine answered ({why_not}): Docker figures skipped")
    if sys.platform == "linux":
        measure(
            "pyecs fixture, process backend, no healthCheck",
            args.runs,
            lambda: pyecs_fixture("local/web", health=False, backend="process"),
        )


if __name__ == "__main__":
    main()
