"""Placement through the public API on a SimulatedBackend: run_task throughput and C1M.

Used by ``benchmarks/placement.py`` (``--run-task`` and ``--c1m``). Everything goes
through ``pyecs.Cluster``: ``run_task`` and ``create_service``, so the figures include
the task life cycle (PROVISIONING to RUNNING), the events and the services, not only the
scheduler.
"""

from __future__ import annotations

import gc
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio

import pyecs
from pyecs.backends import SimulatedBackend
from pyecs.models.instance import uniform_instances
from pyecs.placement import PlacementRequest, PlacementState

#: A task small enough for 200 of them per instance (C1M: 1,000,000 on 5,000 instances).
TINY_TASK = {
    "family": "c1m",
    "containerDefinitions": [
        {"name": "app", "image": "busybox", "cpu": 16, "memory": 32, "essential": True}
    ],
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend(instances: int) -> SimulatedBackend:
    return SimulatedBackend(uniform_instances(instances, zones=3, cpu=4096, memory=16384))


def scheduler_rate(instances: int, calls: int, count: int) -> float:
    """The same placements as :func:`run_task_rate` on a bare ``PlacementState``: the
    scheduler alone, for comparison (no tasks, no backend, no events)."""
    state = PlacementState()
    state.add_instances(uniform_instances(instances, zones=3, cpu=4096, memory=16384))
    request = PlacementRequest("family:c1m", cpu=16, memory=32)
    strategy = [pyecs.BinPack("memory")]
    start = time.perf_counter()
    placed = 0
    for _ in range(calls + 1):
        placed += len(state.place(request, count, strategy).placements)
    return placed / (time.perf_counter() - start)


async def run_task_rate(instances: int, calls: int, count: int, freeze: bool = False) -> float:
    """``calls`` run_task calls of ``count`` copies with binpack(memory); tasks/s to RUNNING.

    With ``freeze``, ``gc.freeze()`` after the set-up: the collector then leaves the
    objects made before the timed part alone (the imports, the 5,000 instances), as a
    long-running process that simulates at scale may choose to do.
    """
    stop_start = 0.0
    async with pyecs.Cluster("bench", backend=_backend(instances)) as cluster:
        await cluster.register_task_definition(TINY_TASK)
        # One warm-up call, so that first-call costs (imports, caches) are not timed.
        warm = await cluster.run_task("c1m", count=count)
        await cluster.wait_tasks_running([t.arn for t in warm.tasks], timeout=60)
        if freeze:
            gc.freeze()
        arns: list[str] = []
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            result = await cluster.run_task(
                "c1m", count=count, placement_strategy=[pyecs.BinPack("memory")]
            )
            arns.extend(t.arn for t in result.tasks)
        returned = time.perf_counter() - start
        await cluster.wait_tasks_running(arns, timeout=math.inf)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        stop_start = time.perf_counter()
    stopping = time.perf_counter() - stop_start
    if freeze:
        gc.unfreeze()
    placed = len(arns)
    gc_note = "gc.freeze() after set-up" if freeze else "default garbage collection"
    print(
        f"  [{gc_note}] "
        f"run_task x{calls:,} (count={count}, binpack(memory)) on {instances:,} instances: "
        f"{placed:,} tasks RUNNING in {seconds:.2f} s = {placed / seconds:,.0f} tasks/s "
        f"(CPU time {cpu:.2f} s = {placed / cpu:,.0f} tasks/s; the calls returned after "
        f"{returned:.2f} s)"
    )
    print(f"  leaving the cluster (stopping all {placed + count:,} tasks) took {stopping:.2f} s")
    return placed / seconds


async def c1m(instances: int, services: int, per_service: int) -> None:
    """``services`` groups of ``per_service`` tasks: half services, half run_task groups."""
    total = services * per_service
    print(
        f"\nC1M: {total:,} tasks of {services:,} groups onto {instances:,} simulated instances "
        f"through the public API ({services - services // 2:,} services with desired_count "
        f"{per_service:,}; {services // 2:,} run_task groups of {per_service:,})"
    )
    rss_before = _peak_rss_mib()
    backend = _backend(instances)
    start, cpu = time.perf_counter(), time.process_time()
    async with pyecs.Cluster(
        "c1m", backend=backend, task_healthy_delay=0, max_tasks_per_service=per_service
    ) as cluster:
        await cluster.register_task_definition(TINY_TASK)
        svcs = []
        arns: list[str] = []
        for k in range(services):
            if k % 2 == 0:
                svc = await cluster.create_service(
                    f"svc-{k}", task_definition="c1m", desired_count=per_service
                )
                svcs.append(svc)
            else:
                for done in range(0, per_service, 1000):
                    result = await cluster.run_task(
                        "c1m", count=min(1000, per_service - done), group=f"batch-{k}"
                    )
                    arns.extend(t.arn for t in result.tasks)
        submitted = time.perf_counter() - start
        for svc in svcs:
            await svc.wait_stable(timeout=math.inf)
        await cluster.wait_tasks_running(arns, timeout=math.inf)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        running = sum(svc.running_count for svc in svcs) + len(arns)
        rss = _peak_rss_mib()
        print(
            f"  {running:,} tasks RUNNING in {seconds:.1f} s wall, {cpu:.1f} s CPU "
            f"({running / seconds:,.0f} tasks/s; every create_service/run_task returned "
            f"after {submitted:.1f} s)"
        )
        print(f"  peak RSS of the process: {rss:,.0f} MiB ({rss_before:,.0f} MiB before)")
        stop_start = time.perf_counter()
    stopping = time.perf_counter() - stop_start
    print(f"  leaving the cluster (stopping every task) took {stopping:.1f} s")


def main_run_task(quick: bool) -> None:
    print("\nrun_task through pyecs.Cluster on SimulatedBackend (to every task RUNNING)")
    calls = 200 if quick else 2000
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(1 if quick else 3):
        for freeze in (False, True):
            rates[freeze].append(anyio.run(run_task_rate, 5000, calls, 10, freeze))
    for freeze, got in rates.items():
        what = "with gc.freeze() after set-up" if freeze else "default garbage collection"
        print(f"  median of {len(got)}, {what}: {sorted(got)[len(got) // 2]:,.0f} tasks/s")
    alone = scheduler_rate(5000, calls, 10)
    print(f"  the scheduler alone, same placements on a bare PlacementState: {alone:,.0f} tasks/s")


def main_c1m(quick: bool) -> None:
    if quick:
        anyio.run(c1m, 500, 100, 100)
    else:
        anyio.run(c1m, 5000, 1000, 1000)


async def _probe(calls: int, count: int) -> None:
    """The timed part of :func:`run_task_rate` with nothing else: set up, one warm-up
    call, ``calls`` calls and the wait; then the process ends at once (leaving the
    cluster is not counted)."""
    async with pyecs.Cluster("bench", backend=_backend(5000)) as cluster:
        await cluster.register_task_definition(TINY_TASK)
        warm = await cluster.run_task("c1m", count=count)
        await cluster.wait_tasks_running([t.arn for t in warm.tasks], timeout=60)
        arns: list[str] = []
        for _ in range(calls):
            result = await cluster.run_task(
                "c1m", count=count, placement_strategy=[pyecs.BinPack("memory")]
            )
            arns.extend(t.arn for t in result.tasks)
        await cluster.wait_tasks_running(arns, timeout=math.inf)
        sys.stdout.flush()
        os._exit(0)


def main_probe(calls: int, count: int) -> None:
    anyio.run(_probe, calls, count)


def _instructions(calls: int, count: int) -> int:
    """Instructions the interpreter ran for :func:`_probe` (valgrind's callgrind)."""
    script = Path(__file__).resolve().parent / "placement.py"
    out = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            str(script),
            "--probe",
            str(calls),
            str(count),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main_instructions(quick: bool) -> None:
    """run_task's cost in instructions per task: a measure that, unlike tasks/s, does not
    move with the machine's speed (callgrind counts what the CPU is asked to do; it is
    the same for the same code and inputs, run after run). Two runs under valgrind, with
    0 and with N calls of :func:`run_task_rate`'s workload: the difference over the
    tasks is the cost of one task to RUNNING, its share of the calls and the wait
    included, the set-up not."""
    calls, count = (200, 10) if quick else (2000, 10)
    print(f"\nrun_task instructions per task (callgrind; {calls:,} calls of count={count})")
    if shutil.which("valgrind") is None:
        print("  skipped: valgrind is not installed (apt-get install -y valgrind)")
        return
    base = _instructions(0, count)
    full = _instructions(calls, count)
    per_task = (full - base) / (calls * count)
    print(
        f"  {per_task:,.0f} instructions per task ({full:,} with the calls, {base:,} for "
        "the set-up alone)"
    )
