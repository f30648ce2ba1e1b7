"""Processes started per second: ProcessBackend next to a bare ``anyio.open_process``.

Each "start" is create + start + wait (+ remove) of ``true`` through the backend, or
``open_process`` + read the output to its end + ``wait`` of the same command with the same
stdio, session, working directory and size of environment (what the backend does for every
container: stdin ``/dev/null``, stdout and stderr one pipe, read to its end, a session of
its own); with 1 and 10 running at once. Target: the backend within 1.2x of the bare spawn
one at a time.

Both run in alternating blocks of ``--block`` starts (by default one per worker: at
concurrency 1 they alternate start by start; which goes first alternates too), so that a
machine shared with other work slows both alike. Each pair of blocks gives a ratio, the
backend's time over the bare spawn's (above 1: the backend is slower); the median of these
ratios, with its interquartile range, is the figure to quote. The best-of rates (of whole
rounds) and the CPU time this process spent per start show the rest.

Run: ``.venv/bin/python benchmarks/process_start.py [--count 300] [--block N]
[--rounds 5] [--concurrency 1,10] [--loop asyncio|trio]``
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


async def measure(
    one: Callable[[], Awaitable[None]], count: int, concurrency: int
) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all its threads) of ``count`` runs of
    ``one``, ``concurrency`` at a time."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    began, cpu = time.perf_counter(), time.process_time()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return time.perf_counter() - began, time.process_time() - cpu


async def interleaved(
    a: Callable[[], Awaitable[None]],
    b: Callable[[], Awaitable[None]],
    count: int,
    block: int,
    concurrency: int,
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """``count`` starts each of ``a`` and ``b`` in alternating blocks of ``block`` (which
    goes first alternates too), so that both see the same moments of a busy machine.

    Returns:
        The (wall, cpu) seconds of each block of ``a``, then of ``b``.
    """
    blocks: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for i in range(max(1, count // block)):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            blocks[which].append(await measure((a, b)[which], block, concurrency))
    return blocks


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


async def main(count: int, block: int, rounds: int, concurrencies: list[int]) -> None:
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
            f"{rounds} rounds of {count} starts of {TRUE!r} each way; "
            f"loop={anyio_backend_name()}, Python {sys.version.split()[0]}, load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print(
            "both: stdin /dev/null, stdout+stderr one pipe read to its end, a new session, "
            f"{len(BARE_ENV)} environment variables"
        )
        print(
            "ratio = backend time / bare time, block by block (above 1: the backend is "
            "slower); CPU = this process's CPU time per start"
        )
        print(
            f"{'concurrency':>11}  {'block':>5}  {'ratio median (IQR)':>22}  {'best bare':>9}  "
            f"{'best backend':>12}  {'best-of':>7}  {'CPU bare/backend':>16}"
        )
        for concurrency in concurrencies:
            size = block or concurrency  # one start per worker by default
            bare_rates: list[float] = []
            backend_rates: list[float] = []
            ratios: list[float] = []
            cpu: tuple[list[float], list[float]] = ([], [])
            for _ in range(rounds):
                bare_blocks, backend_blocks = await interleaved(
                    bare, through_backend, count, size, concurrency
                )
                starts = size * len(bare_blocks)
                bare_rates.append(starts / sum(wall for wall, _ in bare_blocks))
                backend_rates.append(starts / sum(wall for wall, _ in backend_blocks))
                ratios.extend(
                    theirs[0] / ours[0]
                    for ours, theirs in zip(bare_blocks, backend_blocks, strict=True)
                )
                cpu[0].append(sum(c for _, c in bare_blocks) / starts)
                cpu[1].append(sum(c for _, c in backend_blocks) / starts)
            bare_rate, backend_rate = max(bare_rates), max(backend_rates)
            q1, median, q3 = statistics.quantiles(ratios, n=4)
            spread = f"{median:.2f}x ({q1:.2f}-{q3:.2f}x)"
            cpu_bare, cpu_backend = (statistics.median(c) * 1e6 for c in cpu)
            print(
                f"{concurrency:>11}  {size:>5}  {spread:>22}  {bare_rate:>7.0f}/s  "
                f"{backend_rate:>10.0f}/s  {bare_rate / backend_rate:>6.2f}x  "
                f"{cpu_bare:>6.0f}/{cpu_backend:.0f} µs"
            )
    finally:
        await backend.aclose()


def anyio_backend_name() -> str:
    import sniffio

    return sniffio.current_async_library()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="starts each way per round")
    parser.add_argument(
        "--block", type=int, default=0, help="starts in a row of one kind (default: concurrency)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", default="1,10", help="comma-separated, e.g. 1,10,50")
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    anyio.run(main, args.count, args.block, args.rounds, levels, backend=args.loop)
