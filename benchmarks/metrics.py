"""What metrics cost, and how fast auto scaling reacts: pyecs next to the references.

1. **Collecting for Docker tasks.** ``--tasks`` (default 50; 10 with ``--quick``) busybox
   tasks that sleep, on the Docker backend. The CPU this process (the supervisor: the
   cluster, its docker SDK threads and the metrics) uses, as a fraction of one core, over
   a window with task metrics switched off (the baseline), at ``metrics_resolution=1``
   and at ``metrics_resolution=60`` (a 60 s window: it holds one round). Next to it, in
   the same run and for the same containers, ``docker stats --no-stream``: its wall time
   and the CPU of the docker CLI for one call, i.e. what polling it every second would
   cost. The engine's own CPU (dockerd, from /proc) over each window is shown too; it is
   shared by everything on this machine. Goals: the metrics' share under 5% of a core at
   1 s and under 0.5% at 60 s.

2. **Threshold to desired count.** A simulated service's CPU jumps above a target
   tracking policy's target at a random moment; the time until its desired count
   changes, next to AWS's alarm rule (three datapoints above the target: the alarm is in
   ALARM at the end of the third period at the earliest, counting the period of the jump
   when its average is already above). Goal: within one evaluation period of the rule.
   On a real clock with 1 s periods (``alarm_period=1``), and on trio's MockClock with
   AWS's 60 s periods (virtual time, exact).

Run: ``.venv/bin/python benchmarks/metrics.py [--quick] [--tasks 50] [--trials 10]``
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import attrs
import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _raw_docker import SLEEP

import pyecs
from pyecs.autoscaling import PredefinedMetricSpecification
from pyecs.backends.docker import DockerBackend
from pyecs.backends.simulated import SimulatedBackend
from pyecs.metrics import TaskUsage
from pyecs.testing.images import ensure_busybox_image

TICK = os.sysconf("SC_CLK_TCK")


@attrs.define
class Window:
    """CPU over a wall-clock window: this process and dockerd, fractions of one core."""

    wall: float
    own: float
    engine: float | None


def dockerd_ticks() -> int | None:
    """utime + stime of the engine at /var/run/docker.sock, in clock ticks."""
    try:
        pid = Path("/var/run/docker.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


async def measure(seconds: float) -> Window:
    t0, c0, d0 = time.perf_counter(), time.process_time(), dockerd_ticks()
    await anyio.sleep(seconds)
    wall = time.perf_counter() - t0
    own = (time.process_time() - c0) / wall
    d1 = dockerd_ticks()
    engine = None if d0 is None or d1 is None else (d1 - d0) / TICK / wall
    return Window(wall, own, engine)


def docker_stats_once(ids: list[str]) -> tuple[float, float]:
    """One ``docker stats --no-stream`` for ``ids``: (wall s, CPU s of the CLI)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.MemUsage}}", *ids],
        check=True,
        capture_output=True,
        timeout=120,
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x * 100:5.2f}%"


async def docker_phase(
    image: str, n: int, resolution: int, window: float, baseline: float
) -> dict[str, Any]:
    """Run ``n`` sleeping tasks at ``resolution``; measure windows; ``docker stats``."""
    out: dict[str, Any] = {}
    async with pyecs.Cluster(
        f"bench-metrics-{resolution}",
        backend=DockerBackend(pull="never"),
        metrics_resolution=resolution,
    ) as cluster:
        await cluster.register_task_definition(
            {
                "family": "bench-sleep",
                "containerDefinitions": [
                    {
                        "name": "main",
                        "image": image,
                        "memory": 16,
                        "command": SLEEP,
                        "stopTimeout": 2,
                    }
                ],
            }
        )
        usage = [s for s in cluster._collector._sources if isinstance(s, TaskUsage)]
        for u in usage:
            u.enabled = False
        arns: list[str] = []
        while len(arns) < n:
            result = await cluster.run_task("bench-sleep", count=min(10, n - len(arns)))
            if result.failures:
                raise RuntimeError(f"could not place every task: {result.failures}")
            arns += [t.arn for t in result.tasks]
        await cluster.wait_tasks_running(arns, timeout=300)
        await anyio.sleep(2)  # the last events and snapshots settle
        if baseline:
            out["baseline"] = await measure(baseline)
        for u in usage:
            u.enabled = True
        for _ in range(2):  # streams open at the first round, answer from the second
            await cluster.metrics.wait_round()
        out["metrics"] = await measure(window)
        ids = [
            c.runtime_id
            for t in cluster.describe_tasks(arns).tasks
            for c in t.containers
            if c.runtime_id
        ]
        out["sampled"] = len(
            {
                k.dimension_map.get("TaskId")
                for k in cluster.metrics.list_metrics(
                    namespace="AWS/ECS", metric_name="CPUUtilization"
                )
            }
            - {None}
        )
        calls = [await anyio.to_thread.run_sync(docker_stats_once, ids) for _ in range(3)]
        out["docker_stats"] = min(calls)
    return out


async def reaction_times(trials: int, period: float) -> list[tuple[float, float]]:
    """(seconds from the jump to the desired count changing, phase of the jump in its
    period) for ``trials`` jumps; the metrics resolution is ``period`` too."""
    backend = SimulatedBackend(seed=1)
    out = []
    async with pyecs.Cluster(
        "bench-react", backend=backend, metrics_resolution=period, task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(
            {
                "family": "web",
                "cpu": "256",
                "containerDefinitions": [{"name": "web", "image": "web:1", "memory": 64}],
            }
        )
        svc = await cluster.create_service("web", task_definition="web", desired_count=1)
        await svc.wait_stable(timeout=600)
        resource_id = "service/bench-react/web"
        cluster.autoscaling.register_scalable_target(
            resource_id=resource_id, min_capacity=1, max_capacity=10
        )
        cluster.autoscaling.put_scaling_policy(
            policy_name="cpu50",
            resource_id=resource_id,
            target_tracking_scaling_policy_configuration=pyecs.TargetTrackingScalingPolicyConfiguration(
                target_value=50,
                predefined_metric_specification=PredefinedMetricSpecification(
                    "ECSServiceAverageCPUUtilization"
                ),
                alarm_period=period,
                scale_out_cooldown=0,
                disable_scale_in=True,
            ),
        )
        rng = random.Random(7)
        for _ in range(trials):
            await cluster.metrics.wait_round()
            start = cluster.metrics.last_round or 0.0
            await anyio.sleep(rng.uniform(0.05, 0.95) * period)
            jump = anyio.current_time()
            backend.set_load("web:1", cpu=230)  # 90% of 256 units
            with anyio.fail_after(10 * period):
                while svc.desired_count == 1:
                    await svc.change_event.wait()
            out.append((anyio.current_time() - jump, (jump - start) / period))
            backend.set_load("web:1", cpu=0)
            await svc.update(desired_count=1)
            await anyio.sleep(4 * period)  # the next jump starts from three quiet periods
    return out


def rule(phase: float) -> float:
    """AWS's earliest ALARM after a jump at ``phase`` (0-1) of a period, in periods: the
    end of the third period above 50% of the target, counting the jump's own period when
    its average (90% for the rest of it) is already above 50."""
    own_counts = (1 - phase) * 90 > 50
    return (2 if own_counts else 3) + (1 - phase)


def report_reactions(label: str, period: float, rows: list[tuple[float, float]]) -> None:
    print(f"\n{label}: jump to desired count changed, in periods of {period:g} s")
    print("  trial   phase   pyecs   AWS rule (earliest ALARM)   pyecs - rule")
    worst = 0.0
    for i, (took, phase) in enumerate(rows, 1):
        r = rule(phase)
        worst = max(worst, took / period - r)
        late = took / period - r
        print(f"  {i:5d}   {phase:5.2f}   {took / period:5.2f}   {r:25.2f}   {late:+12.2f}")
    verdict = "within one period" if worst < 1 else "LATER than one period"
    print(f"  worst: {worst:+.2f} periods after the rule ({verdict})")


async def docker_part(n: int, quick: bool) -> None:
    client = docker.from_env()
    try:
        image = ensure_busybox_image(client)
    finally:
        client.close()
    print(f"1. collecting metrics for {n} Docker tasks (fractions of one core)")
    fast = await docker_phase(image, n, 1, window=10 if quick else 30, baseline=10 if quick else 30)
    slow = await docker_phase(image, n, 60, window=60, baseline=0)
    base = fast["baseline"]
    print(f"  tasks sampled: {fast['sampled']} at 1 s, {slow['sampled']} at 60 s")
    print("  window                         wall    supervisor  metrics share  dockerd")
    print(
        f"  baseline (task metrics off)  {base.wall:5.0f} s   {pct(base.own)}       -       "
        f"  {pct(base.engine)}"
    )
    for label, phase, goal in (("resolution 1 s", fast, 0.05), ("resolution 60 s", slow, 0.005)):
        w = phase["metrics"]
        share = w.own - base.own
        ok = "ok" if share < goal else "ABOVE GOAL"
        print(
            f"  {label:<28} {w.wall:5.0f} s   {pct(w.own)}      {pct(share)}     {pct(w.engine)}"
            f"   goal < {goal * 100:g}% ({ok})"
        )
    wall, cpu = fast["docker_stats"]
    print(
        f"  docker stats --no-stream, {n} containers: {wall:.2f} s wall, {cpu:.3f} s CPU of the "
        f"CLI per call -> polling every 1 s: {pct(cpu / 1)} of a core (CLI alone), every 60 s: "
        f"{pct(cpu / 60)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10 tasks, 3 trials, short windows")
    parser.add_argument("--tasks", type=int)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--skip-docker", action="store_true")
    args = parser.parse_args()
    n = args.tasks or (10 if args.quick else 50)
    trials = args.trials or (3 if args.quick else 10)
    if not args.skip_docker:
        anyio.run(docker_part, n, args.quick)
    print("\n2. threshold crossed -> desired count changed (target tracking, CPU 90% vs 50%)")
    real = anyio.run(reaction_times, trials, 1.0)
    report_reactions("real clock (asyncio), alarm_period=1, metrics_resolution=1", 1.0, real)
    import trio.testing

    mock = anyio.run(
        reaction_times,
        trials,
        60.0,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    report_reactions("MockClock (trio), AWS's 60 s periods", 60.0, mock)


if __name__ == "__main__":
    main()
