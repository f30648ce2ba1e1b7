"""Processes started per second: ProcessBackend next to a bare ``anyio.open_process``.

Each "start" is create + start + wait (+ remove) of ``true`` through the backend, or
``open_process`` + ``wait`` of the same command; with 1 and 10 running at once.
Target: at least 100/s, and the backend within 1.5x of the bare spawn.

Run: ``.venv/bin/python benchmarks/process_start.py [--count 300] [--rounds 3]
[--loop asyncio|trio]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
    process = await anyio.open_process([TRUE])
    async with process:
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


async def main(count: int, rounds: int) -> None:
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
            f"{count} starts of {TRUE!r} per measurement, best of {rounds}, "
            f"loop={anyio_backend_name()}"
        )
        print(
            f"{'concurrency':>11}  {'bare open_process':>18}  {'ProcessBackend':>15}  ratio"
            "  (per-round ratios: median, min-max)"
        )
        for concurrency in (1, 10):
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
            print(
                f"{concurrency:>11}  {bare_rate:>16.0f}/s  {backend_rate:>13.0f}/s  "
                f"{bare_rate / backend_rate:.2f}x  ({statistics.median(ratios):.2f}x, "
                f"{min(ratios):.2f}-{max(ratios):.2f}x)"
            )
    finally:
        await backend.aclose()


def anyio_backend_name() -> str:
    import sniffio

    return sniffio.current_async_library()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args.count, args.rounds, backend=args.loop)
