"""Tasks RUNNING on Docker: ``cluster.run_task`` next to the raw docker SDK, and idle CPU.

For N = 1, 10 and 30 single-container busybox tasks that sleep until stopped
(``pull="never"``; with ``--port`` each publishes a dynamic host port), the wall time from
``run_task`` to every task RUNNING, next to the docker SDK doing the same creates and
starts (``APIClient.create_container`` + ``start``) from a thread pool as large as the
backend's SDK concurrency (``max_pool_size - 1``: the event stream holds one connection).
``--rounds`` rounds (default 5), interleaved (the order of the four reverses each round);
medians, and each one's spread (best-worst). Targets: ``run_task`` within 1.10x of the raw
SDK on the default bridge (where pyecs starts tasks nobody finds by name); awsvpc tasks,
which pyecs puts on the cluster network (found by their address) once there are two,
within 1.05x of the raw SDK on a user-defined network. A lone awsvpc task (N=1) needs no
network and starts on the bridge: its row compares unlike things, and says so. The
engine's own create+start dominates and varies a lot on a busy machine: compare the
medians, and mind the spread.

Then the CPU the Python process uses while 50 tasks run and nothing happens, over ~10 s
(``time.process_time`` and ``resource.getrusage`` deltas over wall time). Target: under 2%
of one core.

Everything started is removed at the end (the cluster's containers by the cluster, the raw
ones by their label), also on Ctrl-C.

Run: ``.venv/bin/python benchmarks/docker_start.py [--quick] [--rounds 5] [--port]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _raw_docker import RAW_LABEL, RUN, SLEEP, RawDocker

import pyecs
from pyecs.backends.docker import DockerBackend
from pyecs.testing.images import ensure_busybox_image

MEMORY_MIB = 16
#: Seconds to let the engine finish the previous round's removals before measuring.
SETTLE = 0.5


def task_definition(image: str, port: bool, family: str = "bench-sleep") -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "memory": MEMORY_MIB,
        "command": SLEEP,
        "stopTimeout": 2,
    }
    if port:
        container["portMappings"] = [{"containerPort": 8080}]
    td: dict[str, Any] = {"family": family, "containerDefinitions": [container]}
    if family == VPC:
        td["networkMode"] = "awsvpc"  # found by address: on the cluster network
    return td


#: The family of the awsvpc variant, whose tasks join the cluster network.
VPC = "bench-vpc"
NETWORK_CONFIGURATION = {"awsvpcConfiguration": {"subnets": ["subnet-bench"]}}


# -- the raw SDK ----------------------------------------------------------------------------


# -- pyecs ----------------------------------------------------------------------------------


async def run_tasks(
    cluster: pyecs.Cluster, n: int, family: str = "bench-sleep"
) -> tuple[float, list[str]]:
    """``run_task`` ``n`` copies; return the time until all are RUNNING, and their ARNs."""
    began = time.perf_counter()
    vpc = NETWORK_CONFIGURATION if family == VPC else None
    result = await cluster.run_task(family, count=n, network_configuration=vpc)
    if result.failures:
        raise RuntimeError(f"could not place every task: {result.failures}")
    arns = [t.arn for t in result.tasks]
    await cluster.wait_tasks_running(arns, timeout=300)
    return time.perf_counter() - began, arns


async def stop_tasks(cluster: pyecs.Cluster, arns: list[str]) -> None:
    for arn in arns:
        await cluster.stop_task(arn, reason="benchmark round done")
    await cluster.wait_tasks_stopped(arns, timeout=300)


async def idle_cpu(cluster: pyecs.Cluster, n: int, seconds: float) -> tuple[float, float]:
    """CPU use (fraction of one core) by this process while ``n`` tasks run idle:
    ``(process_time based, getrusage based)``."""
    _, arns = await run_tasks(cluster, n)
    try:
        await anyio.sleep(1.0)  # let the last snapshots and events settle
        wall0, cpu0 = time.perf_counter(), time.process_time()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        await anyio.sleep(seconds)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter() - wall0
        by_process_time = (time.process_time() - cpu0) / wall
        by_rusage = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / wall
        return by_process_time, by_rusage
    finally:
        with anyio.CancelScope(shield=True):
            await stop_tasks(cluster, arns)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:5.0f} ms"


def span(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms"


async def main(sizes: list[int], rounds: int, port: bool, idle_n: int, idle_s: float) -> None:
    client = docker.from_env()
    image = ensure_busybox_image(client)
    # pyecs starts tasks nobody finds by name (these) on the default bridge, and tasks
    # found by name or address (a service's, awsvpc: the second pyecs column) on a
    # user-defined network of the cluster; the engine takes longer to attach a container
    # there, so the raw SDK is measured both ways.
    network = client.networks.create(f"pyecs-bench-net-{RUN}", labels={RAW_LABEL: RUN})
    client.close()
    backend = DockerBackend(pull="never")
    threads = backend.max_pool_size - 1
    raw = RawDocker(image, threads, memory_mib=MEMORY_MIB, port=port)
    raw_net = RawDocker(image, threads, memory_mib=MEMORY_MIB, port=port, network=str(network.name))
    try:
        async with pyecs.Cluster(f"bench-start-{RUN}", backend=backend) as cluster:
            await cluster.register_task_definition(task_definition(image, port))
            await cluster.register_task_definition(task_definition(image, port, VPC))
            # Warm up every path (first use of the image, connections, thread pools).
            await anyio.to_thread.run_sync(raw.start, 2)
            await anyio.to_thread.run_sync(raw_net.start, 2)
            for family in ("bench-sleep", VPC):
                _, arns = await run_tasks(cluster, 2, family)
                await stop_tasks(cluster, arns)

            what = "a dynamic host port each" if port else "no port"
            print(
                f"time to N tasks RUNNING (busybox sleep, {what}), {rounds} rounds; raw SDK "
                f"with {threads} threads (the backend's max_pool_size {backend.max_pool_size}"
                " - 1), on the default bridge and on a user-defined network like pyecs's"
            )
            print(
                f"{'N':>4}  {'raw, default bridge':>20}  {'raw, user network':>18}  "
                f"{'pyecs run_task':>15}  {'ratio to bridge':>15}  "
                f"{'pyecs awsvpc':>13}  {'ratio to user network':>21}  (medians)"
            )
            for n in sizes:
                samples: dict[str, list[float]] = {"raw": [], "net": [], "pyecs": [], "vpc": []}
                for r in range(rounds):
                    order = ("raw", "pyecs", "net", "vpc")
                    for which in order if r % 2 == 0 else order[::-1]:
                        await anyio.sleep(SETTLE)
                        if which in ("pyecs", "vpc"):
                            family = VPC if which == "vpc" else "bench-sleep"
                            elapsed, arns = await run_tasks(cluster, n, family)
                            await stop_tasks(cluster, arns)
                        else:
                            runner = raw if which == "raw" else raw_net
                            elapsed = await anyio.to_thread.run_sync(runner.start, n)
                        samples[which].append(elapsed)
                med = {k: statistics.median(v) for k, v in samples.items()}
                alone = "  (one awsvpc task: on the bridge)" if n == 1 else ""
                print(
                    f"{n:>4}  {ms(med['raw']):>20}  {ms(med['net']):>18}  "
                    f"{ms(med['pyecs']):>15}  {med['pyecs'] / med['raw']:>14.2f}x  "
                    f"{ms(med['vpc']):>13}  {med['vpc'] / med['net']:>20.2f}x{alone}"
                )
                print(
                    f"{'':>4}  {span(samples['raw']):>20}  {span(samples['net']):>18}  "
                    f"{span(samples['pyecs']):>15}  {'':>15}  {span(samples['vpc']):>13}"
                    "  (best-worst)"
                )

            by_cpu, by_rusage = await idle_cpu(cluster, idle_n, idle_s)
            print(
                f"idle CPU of this process with {idle_n} tasks running, over {idle_s:.0f} s: "
                f"{by_cpu * 100:.2f}% of one core (process_time), "
                f"{by_rusage * 100:.2f}% (getrusage); target < 2%"
            )
    finally:
        await anyio.to_thread.run_sync(raw.close)
        await anyio.to_thread.run_sync(raw_net.close)
        await anyio.to_thread.run_sync(network.remove)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1 and 10, one round, 3 s idle")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", action="store_true", help="publish a dynamic host port")
    args = parser.parse_args()
    if args.quick:
        anyio.run(main, [1, 10], 1, args.port, 20, 3.0)
    else:
        anyio.run(main, [1, 10, 30], args.rounds, args.port, 50, 10.0)
