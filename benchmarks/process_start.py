"""Processes started per second: ProcessBackend next to a bare ``anyio.open_process``.

Each "start" is create + start + wait (+ remove) of ``true`` through the backend, or
``open_process`` + read the output to its end + ``wait`` of the same command with the same
stdio, session, working directory and size of environment (what the backend does for every
container: stdin ``/dev/null``, stdout and stderr one pipe, read to its end, a session of
its own); with 1 and 10 running at once. Target: the backend within 1.2x of the bare spawn
one at a time.

Rounds alternate which of the two goes first; the per-round ratio (bare rate / backend
rate, so above 1 means the backend is slower) compares two measurements taken seconds
apart, which a machine shared with other work needs: its median is the figure to quote,
the best-of rates beside it show the spread.

Run: ``.venv/bin/python benchmarks/process_start.py [--count 300] [--rounds 5]
[--concurrency 1,10] [--loop asyncio|trio]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyecs.abc import ClusterContext, ContainerLaunch, TaskLaunch
from pyecs.backends.process import ProcessBackend
from pyecs.models.task_definition import TaskDefinition

TRUE = shutil.which("true") or "/bin/true"
CWD = os.getcwd()
# The backend's environment for this container: its base (PATH, HOME, LANG, ... as set
# here), then PYECS_HOST, PYECS_CONTAINER_NAME, PYECS_TASK_ARN and PYECS_OWNER.
BARE_ENV = {
    k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if k in os.environ
} | {
    "PYECS_HOST": "127.0.0.1",
    "PYECS_CONTAINER_NAME": "true",
    "PYECS_TASK_ARN": "arn:aws:ecs:local-1:000000000000:task/bench/0",
    "PYECS_OWNER": f"{os.getpid()}-0123456789abcdef",
}


async def measure(one: Callable[[], Awaitable[None]], count: int, concurrency: int) -> float:
    """Starts per second of ``count`` runs of ``one``, ``concurrency`` at a time."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return count / (time.perf_counter() - began)


async def bare() -> None:
    process = await anyio.open_process(
        [TRUE],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=CWD,
        env=BARE_ENV,
        start_new_session=True,
    )
    async with process:
        assert process.stdout is not None
        async for _ in process.stdout:  # to the end, as the backend's log reader does
            pass
        await process.wait()


def make_launch() -> ContainerLaunch:
    td = TaskDefinition.from_dict(
        {
            "family": "bench",
            "containerDefinitions": [
                {"name": "true", "image": "none", "memory": 16, "command": [TRUE]}
            ],
        }
    )
    task = TaskLaunch("arn:aws:ecs:local-1:000000000000:task/bench/0", "0" * 32, "local", td)
    return ContainerLaunch(task, td.containers[0])


async def main(count: int, rounds: int, concurrencies: list[int]) -> None:
    backend = ProcessBackend()
    await backend.open(ClusterContext("bench", "arn:aws:ecs:local-1:000000000000:cluster/bench"))
    launch = make_launch()

    async def through_backend() -> None:
        rid = await backend.create_container(launch)
        await backend.start_container(rid)
        await backend.wait_container(rid)
        await backend.remove_container(rid)

    try:
        await measure(bare, 20, 1)  # warm up both paths
        await measure(through_backend, 20, 1)
        print(
            f"{count} starts of {TRUE!r} per measurement, {rounds} rounds, "
            f"loop={anyio_backend_name()}, load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        print(
            "both: stdin /dev/null, stdout+stderr one pipe read to its end, a new session, "
            f"{len(BARE_ENV)} environment variables"
        )
        print(
            f"{'concurrency':>11}  {'ratio median (min-max)':>22}  {'best bare':>10}  "
            f"{'best backend':>12}  {'best-of ratio':>13}"
        )
        for concurrency in concurrencies:
            # Best of `rounds`, alternating which goes first: process creation on a shared
            # machine is noisy. Each round's pair also gives a ratio.
            bare_rates: list[float] = []
            backend_rates: list[float] = []
            for r in range(rounds):
                pair = [(bare, bare_rates), (through_backend, backend_rates)]
                for one, rates in pair if r % 2 == 0 else pair[::-1]:
                    rates.append(await measure(one, count, concurrency))
            bare_rate, backend_rate = max(bare_rates), max(backend_rates)
            ratios = [b / p for b, p in zip(bare_rates, backend_rates, strict=True)]
            spread = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"
            print(
                f"{concurrency:>11}  {spread:>22}  {bare_rate:>8.0f}/s  {backend_rate:>10.0f}/s"
                f"  {bare_rate / backend_rate:>12.2f}x"
            )
    finally:
        await backend.aclose()


def anyio_backend_name() -> str:
    import sniffio

    return sniffio.current_async_library()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", default="1,10", help="comma-separated, e.g. 1,10,50")
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    anyio.run(main, args.count, args.rounds, levels, backend=args.loop)
