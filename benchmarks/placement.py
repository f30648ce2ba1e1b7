"""Placement throughput: pyecs's indexed scheduler next to a naive full scan, and a mini-C1M.

Run ``.venv/bin/python benchmarks/placement.py`` (about 2 minutes on 2 cores) or add
``--quick`` for a reduced run of a few seconds. ``--run-task`` measures ``run_task``
through ``pyecs.Cluster`` on 5,000 simulated instances (tasks/s to RUNNING) instead, and
``--c1m`` places 1,000,000 tasks of 1,000 services and run_task groups on 5,000 simulated
instances through the public API (wall time and peak memory; goal: under 60 s and 2 GiB).
``--instructions`` counts what ``--run-task``'s workload costs per task in
instructions, with valgrind's callgrind: unlike tasks/s, the same run after run whatever
the machine's speed. ``--release`` places 200,000 tasks on 5,000 instances and gives
them back in batches of 1,000, timing ``release`` per key and ``release_many`` per batch
alternately.

For each cluster size and strategy, both schedulers start from the same empty cluster of
uniform instances over 3 zones and place the same stream of tasks (50 services of mixed
sizes, one copy per call). The naive scheduler looks at every instance for every copy, the
way a straightforward implementation would (with incremental per-zone counters, so only
the scan is naive); it is timed on the first copies only, as it is slow, and its choices
are compared with pyecs's ("agree"). The mini-C1M fills 5,000 instances with 100,000 tasks
of 200 services under the ECS default service strategy and reports wall time and memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyecs.models.instance import InstanceSpec, uniform_instances
from pyecs.placement import (
    DEFAULT_SERVICE_STRATEGY,
    BinPack,
    DistinctInstance,
    PlacementConstraint,
    PlacementRequest,
    PlacementState,
    PlacementStrategy,
    Random,
    Spread,
)

ZONE_ATTR = "ecs.availability-zone"
ZONE = f"attribute:{ZONE_ATTR}"
SERVICES = 50
Scenario = tuple[str, list[PlacementStrategy], list[PlacementConstraint]]
SCENARIOS: list[Scenario] = [
    ("binpack(memory)", [BinPack("memory")], []),
    ("binpack(cpu)", [BinPack("cpu")], []),
    ("spread(instanceId)", [Spread("instanceId")], []),
    ("spread(zone)", [Spread(ZONE)], []),
    ("random", [Random(seed=1)], []),
    ("spread(zone)>binpack(mem)+distinct", [Spread(ZONE), BinPack("memory")], [DistinctInstance()]),
]


def workload(count: int, services: int = SERVICES, seed: int = 42) -> list[PlacementRequest]:
    """``count`` copies round-robin over ``services`` services of mixed, fixed sizes."""
    rng = random.Random(seed)
    kinds = [
        PlacementRequest(
            f"service:svc-{k}",
            cpu=rng.choice([64, 128, 256, 512]),
            memory=rng.choice([128, 256, 512, 1024]),
        )
        for k in range(services)
    ]
    return [kinds[i % services] for i in range(count)]


def specs_for(size: int) -> list[InstanceSpec]:
    return uniform_instances(size, zones=3, cpu=4096, memory=16384)


# -- the naive baseline ----------------------------------------------------------------------


class NaiveInstance:
    __slots__ = ("cpu", "groups", "id", "memory", "zone")

    def __init__(self, spec: InstanceSpec) -> None:
        self.id = spec.id or ""
        self.zone = spec.attributes.get(ZONE_ATTR)
        self.cpu = spec.cpu
        self.memory = spec.memory
        self.groups: Counter[str] = Counter()


class NaiveScheduler:
    """Looks at every instance for every copy: fit, constraints, then the chain's keys."""

    def __init__(self, specs: Sequence[InstanceSpec]) -> None:
        self.instances = [NaiveInstance(spec) for spec in specs]
        self.zone_counts: dict[str, Counter[str | None]] = {}

    def _key(self, level: PlacementStrategy, inst: NaiveInstance, group: str) -> float:
        if isinstance(level, BinPack):
            return inst.cpu if level.field == "cpu" else inst.memory
        assert isinstance(level, Spread)
        if level.attribute is None:
            return inst.groups[group]
        return self.zone_counts.setdefault(group, Counter())[inst.zone]

    def place(
        self,
        rq: PlacementRequest,
        chain: Sequence[PlacementStrategy],
        rules: Sequence[PlacementConstraint],
    ) -> str | None:
        distinct = any(isinstance(r, DistinctInstance) for r in rules)
        group = rq.group
        fitting = [
            inst
            for inst in self.instances
            if inst.cpu >= rq.cpu
            and inst.memory >= rq.memory
            and not (distinct and inst.groups[group])
        ]
        if not fitting:
            return None
        if chain and isinstance(chain[0], Random):
            best = chain[0].rng.choice(fitting)
        else:
            best = min(fitting, key=lambda i: (*(self._key(lv, i, group) for lv in chain), i.id))
        best.cpu -= rq.cpu
        best.memory -= rq.memory
        best.groups[group] += 1
        self.zone_counts.setdefault(group, Counter())[best.zone] += 1
        return best.id


# -- measuring -------------------------------------------------------------------------------


def run_indexed(
    state: PlacementState,
    requests: Sequence[PlacementRequest],
    chain: Sequence[PlacementStrategy],
    rules: Sequence[PlacementConstraint],
) -> tuple[float, list[str | None]]:
    chosen: list[str | None] = []
    start = time.perf_counter()
    for rq in requests:
        result = state.place(rq, 1, chain, rules)
        chosen.append(result.placements[0].instance_id if result.placements else None)
    return time.perf_counter() - start, chosen


def run_naive(
    naive: NaiveScheduler,
    requests: Sequence[PlacementRequest],
    chain: Sequence[PlacementStrategy],
    rules: Sequence[PlacementConstraint],
) -> tuple[float, list[str | None]]:
    start = time.perf_counter()
    chosen = [naive.place(rq, chain, rules) for rq in requests]
    return time.perf_counter() - start, chosen


def bench_size(size: int, placements: int, naive_budget: int) -> None:
    requests = workload(placements)
    naive_count = max(20, min(placements, naive_budget // size))
    print(f"\n{size:,} instances: {placements:,} placements (naive: first {naive_count:,})")
    print(f"  {'strategy':<36} {'pyecs/s':>10} {'naive/s':>9} {'speedup':>8}  agree")
    for name, chain, rules in SCENARIOS:
        state = PlacementState()
        state.add_instances(specs_for(size))
        seconds, chosen = run_indexed(state, requests, chain, rules)
        naive = NaiveScheduler(specs_for(size))
        naive_seconds, naive_chosen = run_naive(naive, requests[:naive_count], chain, rules)
        rate, naive_rate = placements / seconds, naive_count / naive_seconds
        if any(isinstance(s, Random) for s in chain):
            agree = "n/a"
        else:
            agree = "yes" if chosen[:naive_count] == naive_chosen else "NO"
        print(
            f"  {name:<36} {rate:>10,.0f} {naive_rate:>9,.0f} {rate / naive_rate:>7.0f}x  {agree}"
        )


def mini_c1m(instances: int, tasks: int, services: int, batch: int, traced: bool = True) -> None:
    print(
        f"\nmini-C1M: {tasks:,} tasks of {services} services onto {instances:,} instances "
        f"(ECS default service strategy, {batch} copies per call)"
    )
    rng = random.Random(7)
    kinds = [
        PlacementRequest(
            f"service:c1m-{k}", cpu=rng.choice([64, 128, 256]), memory=rng.choice([256, 512])
        )
        for k in range(services)
    ]
    per_service = tasks // services

    def fill() -> tuple[PlacementState, int, float]:
        state = PlacementState()
        state.add_instances(specs_for(instances))
        start, placed = time.perf_counter(), 0
        for rq in kinds:
            for _ in range(per_service // batch):
                placed += len(state.place(rq, batch, DEFAULT_SERVICE_STRATEGY).placements)
        return state, placed, time.perf_counter() - start

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    state, placed, seconds = fill()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    zones = Counter(
        state.instance(t.instance_id).attributes[ZONE_ATTR]
        for t in (state.task(f"task-{i}") for i in range(1, placed + 1, 97))
        if t is not None
    )
    print(f"  placed {placed:,} in {seconds:.2f} s ({placed / seconds:,.0f} placements/s)")
    print(
        f"  peak RSS of the process: {rss_after / 1024:,.0f} MiB "
        f"({rss_before / 1024:,.0f} MiB before the fill)"
    )
    print(f"  zone balance (sampled tasks): {dict(sorted(zones.items()))}")
    del state
    if not traced:
        return
    tracemalloc.start()
    _, _, traced_seconds = fill()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  peak Python heap (tracemalloc, second run, {traced_seconds:.1f} s under tracing): "
        f"{peak / 2**20:,.0f} MiB"
    )


def release_batches(instances: int, tasks: int, batch: int) -> None:
    """Place ``tasks`` copies (half binpack(memory), half spread(zone) > spread(instanceId)),
    then release them in batches of ``batch`` consecutive keys, alternately with
    ``release`` per key and with one ``release_many`` per batch on the same state."""
    print(
        f"\nrelease: {tasks:,} tasks on {instances:,} instances, in batches of {batch:,} "
        "consecutive keys, alternately release() per key and release_many() per batch"
    )
    state = PlacementState()
    state.add_instances(specs_for(instances))
    request = PlacementRequest("family:x", cpu=16, memory=32)
    halves = {
        "binpack(memory)": [BinPack("memory")],
        "spread(zone)>spread(instanceId)": [Spread(ZONE), Spread("instanceId")],
    }
    keys: dict[str, list[str]] = {}
    start = time.perf_counter()
    for name, chain in halves.items():
        keys[name] = []
        for call in range(tasks // 2 // batch):
            new = [f"{name}-{call}-{i}" for i in range(batch)]
            placed = state.place(request, batch, chain, task_keys=new).placements
            keys[name] += [p.task_key for p in placed]
    print(f"  placed {sum(map(len, keys.values())):,} in {time.perf_counter() - start:.2f} s")
    print(
        f"  {'placed with':<32} {'release µs/task':>16} {'release_many µs/task':>21} {'ratio':>6}"
    )
    for name, placed_keys in keys.items():
        spent = {"release": 0.0, "release_many": 0.0}
        count = {"release": 0, "release_many": 0}
        for number, first in enumerate(range(0, len(placed_keys), batch)):
            chunk = placed_keys[first : first + batch]
            if number % 2:
                began = time.perf_counter()
                released = state.release_many(chunk)
                spent["release_many"] += time.perf_counter() - began
                count["release_many"] += released
            else:
                release = state.release
                began = time.perf_counter()
                for key in chunk:
                    release(key)
                spent["release"] += time.perf_counter() - began
                count["release"] += len(chunk)
        per_key = {how: 1e6 * spent[how] / max(1, count[how]) for how in spent}
        print(
            f"  {name:<32} {per_key['release']:>16.2f} {per_key['release_many']:>21.2f} "
            f"{per_key['release'] / per_key['release_many']:>5.1f}x"
        )
    assert not any(state.task(k) for k in keys["binpack(memory)"][:10])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a reduced run of a few seconds")
    parser.add_argument(
        "--run-task",
        action="store_true",
        help="only run_task through pyecs.Cluster on 5,000 simulated instances (tasks/s)",
    )
    parser.add_argument(
        "--c1m",
        action="store_true",
        help="only C1M: 1,000,000 tasks of 1,000 services/groups on 5,000 simulated instances "
        "through the public API (wall time, peak memory; with --quick 10,000 tasks)",
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help="only releases: 200,000 tasks on 5,000 instances given back in batches of "
        "1,000, release() per key next to release_many() per batch (with --quick 20,000)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="only run_task's cost in instructions per task, counted by valgrind's callgrind "
        "(the same run after run, whatever the machine's speed; about 2 minutes)",
    )
    parser.add_argument("--probe", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:  # (the workload --instructions runs under valgrind)
        from benchmarks._cluster_scale import main_probe

        main_probe(*args.probe)
        return
    if args.instructions:
        from benchmarks._cluster_scale import main_instructions

        main_instructions(args.quick)
        return
    if args.release:
        if args.quick:
            release_batches(instances=500, tasks=20_000, batch=1_000)
        else:
            release_batches(instances=5_000, tasks=200_000, batch=1_000)
        return
    if args.run_task or args.c1m:
        from benchmarks._cluster_scale import main_c1m, main_run_task

        if args.run_task:
            main_run_task(args.quick)
        if args.c1m:
            main_c1m(args.quick)
        return
    print(f"python {sys.version.split()[0]}; one copy per place() call; times are wall clock")
    # The fill runs first, so that the peak RSS it reports is its own.
    if args.quick:
        mini_c1m(instances=500, tasks=10_000, services=20, batch=50, traced=False)
        for size in (100, 1000):
            bench_size(size, placements=min(4000, size * 5), naive_budget=300_000)
    else:
        mini_c1m(instances=5_000, tasks=100_000, services=200, batch=50)
        for size in (100, 1_000, 5_000, 10_000):
            bench_size(size, placements=min(20_000, size * 5), naive_budget=2_000_000)


if __name__ == "__main__":
    main()
