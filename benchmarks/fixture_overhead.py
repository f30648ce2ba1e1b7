"""Time to one healthy single-container service: pyecs fixtures vs testcontainers.

One HTTP server (busybox ``httpd``, the tests' busybox image built from scratch) from
nothing to "answers ``GET /``", and back to nothing, measured:

- **pyecs fixture**: what a function-scoped fixture does: open a cluster on a new
  ``DockerBackend`` (connect, sweep leftovers, subscribe to events), ``up(http_path="/")``
  the service (register, create, wait for a steady state while probing ``GET /``: a task
  without a ``healthCheck`` that answers counts as healthy at once), then leave the
  cluster;
- **testcontainers-python** (when it is installed): ``DockerContainer(...).start()`` plus
  an HTTP readiness poll every 10 ms, then ``stop()``;
- **docker SDK**: ``containers.run`` plus the same poll, then ``remove(force=True)``;
- **pyecs fixture, process backend**: the same service as a local program (Python's
  ``http.server``), no Docker.

The contenders take turns, round by round in a shuffled order, so that the machine's
drift and the tail of the previous run's teardown hit all alike.
Then, on their own: ``up()`` and ``delete`` in a cluster that stays open (a
session-scoped fixture), and with ``--health`` a task definition with a ``healthCheck``
(ECS's shortest interval is 5 s, and Docker runs the first check one interval after the
start). Docker parts run only when an engine answers. Prints medians (and minimum).
testcontainers' Ryuk reaper is disabled (its image would have to be pulled).

Run: ``.venv/bin/python benchmarks/fixture_overhead.py [--runs 20] [--health]``
"""

from __future__ import annotations

import argparse
import os
import random
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


Contender = tuple[str, Callable[[], tuple[float, float]]]


def measure(runs: int, contenders: list[Contender]) -> None:
    """Run each contender ``runs`` times, interleaved round by round in a shuffled order
    (so that the machine's drift hits all alike), after one warm-up each; print medians,
    fastest up first."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in contenders}
    for _, one in contenders:
        one()  # warm-up: imports, first connections
    order = random.Random(7)
    for _ in range(runs):
        # A new order each round: what runs just before (a teardown the engine is still
        # finishing, programs exiting) varies for everybody alike. (Rotating would keep
        # each one's predecessor the same.)
        for name, one in order.sample(contenders, len(contenders)):
            up, down = one()
            times[name][0].append(up)
            times[name][1].append(down)
    ranked = sorted(times.items(), key=lambda item: statistics.median(item[1][0]))
    for name, (ups, downs) in ranked:
        print(
            f"{name:<56} up {statistics.median(ups):6.3f} s (min {min(ups):6.3f})   "
            f"down {statistics.median(downs):6.3f} s"
        )
    # Ratios of one round's times: the drift between rounds cancels out.
    first = contenders[0][0]
    for name, (ups, _) in times.items():
        if name == first or "process" in name:
            continue
        ratios = sorted(a / b for a, b in zip(times[first][0], ups, strict=True))
        low, high = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print(
            f"  {first} / {name}: up {statistics.median(ratios):.2f}x "
            f"(median of per-round ratios; middle half {low:.2f}-{high:.2f}x)"
        )


def main() -> None:
    """Measure everything that can run here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--health", action="store_true", help="also a service with a healthCheck (5 s each)"
    )
    args = parser.parse_args()
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    print(
        f"median of {args.runs} interleaved runs after one warm-up each; "
        "'up' ends when GET / answers"
    )
    contenders: list[Contender] = []
    why_not = docker_unavailable()
    if why_not is None:
        import docker

        from pyecs.testing.images import BUSYBOX_IMAGE, ensure_busybox_image

        client = docker.from_env()
        image = ensure_busybox_image(client, BUSYBOX_IMAGE)
        client.close()
        contenders += [
            ("pyecs fixture, Docker", lambda: pyecs_fixture(image, health=False)),
            ("docker SDK containers.run + HTTP poll", lambda: docker_sdk_run(image)),
        ]
        try:
            import testcontainers  # noqa: F401
        except ImportError:
            print("testcontainers-python is not installed: skipped (pip install testcontainers)")
        else:
            contenders.append(
                ("testcontainers DockerContainer + HTTP poll", lambda: testcontainers_run(image))
            )
    else:
        print(f"no Docker engine answered ({why_not}): Docker figures skipped")
    if sys.platform == "linux":
        contenders.append(
            (
                "pyecs fixture, process backend",
                lambda: pyecs_fixture("local/web", health=False, backend="process"),
            )
        )
    measure(args.runs, contenders)
    if why_not is None:
        print("\nalso (not interleaved):")
        with SyncClusterFixture(
            "bench-shared",
            backend=make_backend("docker", pull="never"),
            task_healthy_delay=TASK_HEALTHY_DELAY,
        ) as shared:
            measure(
                args.runs,
                [("pyecs up() in a shared cluster, Docker", lambda: pyecs_shared(shared, image))],
            )
        if args.health:
            measure(
                max(1, args.runs // 3),
                [
                    (
                        "pyecs fixture, Docker, healthCheck (5 s interval)",
                        lambda: pyecs_fixture(image, health=True),
                    )
                ],
            )


if __name__ == "__main__":
    main()
