"""DescribeServices and DescribeTasks (100 tasks) through boto3: pyecs serve vs moto's server.

Both servers answer the same calls in one run: a cluster, a service of 2 tasks and 100
standalone tasks (10 RunTask calls of 10), then each operation is timed from one boto3
client, sequentially. pyecs runs on the simulated backend (its answers are the same on
every backend; this measures the API layer). moto's server mode is the comparison:

    .venv/bin/pip install 'pyecs[bench]'       # moto[server]
    .venv/bin/python benchmarks/api.py [--requests 300]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3

from pyecs.testing import serve_in_thread

TD = {
    "family": "bench",
    "containerDefinitions": [
        {"name": "c", "image": "busybox", "memory": 8, "cpu": 1, "essential": True}
    ],
}


def _client(url: str) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench",
    )


def _setup(ecs: Any, launch_type: str | None) -> list[str]:
    extra = {"launchType": launch_type} if launch_type else {}
    ecs.create_cluster(clusterName="bench")
    ecs.register_task_definition(**TD)
    ecs.create_service(
        cluster="bench", serviceName="web", taskDefinition="bench", desiredCount=2, **extra
    )
    arns: list[str] = []
    for _ in range(10):
        result = ecs.run_task(cluster="bench", taskDefinition="bench", count=10, **extra)
        arns.extend(t["taskArn"] for t in result["tasks"])
    assert len(arns) == 100, f"{len(arns)} tasks started"
    return arns


def _measure(call: Callable[[], object], requests: int) -> tuple[float, float]:
    for _ in range(10):
        call()
    latencies = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    p99 = statistics.quantiles(latencies, n=100)[98]
    return requests / elapsed, p99 * 1000


def _run(url: str, launch_type: str | None, requests: int) -> dict[str, tuple[float, float]]:
    ecs = _client(url)
    arns = _setup(ecs, launch_type)
    return {
        "DescribeServices": _measure(
            lambda: ecs.describe_services(cluster="bench", services=["web"]), requests
        ),
        "DescribeTasks (100)": _measure(
            lambda: ecs.describe_tasks(cluster="bench", tasks=arns), requests
        ),
    }


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with serve_in_thread(backend="simulated") as endpoint:
        results["pyecs serve"] = _run(endpoint.url, None, args.requests)
    try:
        with _moto() as url:
            results["moto server"] = _run(url, "FARGATE", args.requests)
    except ImportError:
        print("moto is not installed: pip install 'pyecs[bench]' to compare with it")
    print(f"{'operation':<22}" + "".join(f"{name:>28}" for name in results))
    for op in ("DescribeServices", "DescribeTasks (100)"):
        cells = "".join(
            f"{results[n][op][0]:>12.0f} req/s {results[n][op][1]:>7.1f} ms p99" for n in results
        )
        print(f"{op:<22}{cells}")


if __name__ == "__main__":
    main()
