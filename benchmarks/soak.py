"""Soak test: minutes of churn on one cluster; is memory flat, are fds flat, is the loop quick?

For ``--minutes`` (default 30) one cluster runs, side by side:

- a healthy service ``soak-web`` (``--tasks``, default 4) of tasks that sleep until stopped,
- a crash-looping service ``soak-crash`` (1 task) whose tasks exit with 1 after ~0.5 s: it
  runs into the restart backoff (``pyecs.RestartBackoff()``: 1 s doubling to 60 s),
- random kills of ``soak-web``'s tasks from outside, about every ``--kill-every`` seconds
  (process backend: SIGKILL to the container's process group, ``backend.pid(runtime_id)``;
  docker: ``docker kill``; simulated: ``SimulatedBackend.kill``),
- a rolling deployment of ``soak-web`` every ``--deploy-every`` seconds (the first after
  half of that), alternately a new revision (the previous one is then deregistered and
  deleted, so that the registry stays bounded) and ``force_new_deployment``,
- a one-off ``run_task`` (sleeps 0.2 s) every ``--run-task-every`` seconds.

``Cluster(task_healthy_delay=--healthy-delay)`` (1 s), so that deployments take seconds.

Every ``--report-every`` seconds one row: elapsed time, RSS of this process (VmRSS), its
open fds, its child processes (process backend; zombies in brackets), tasks desired
RUNNING, ``soak-web``'s running count (its lowest since the last row, sampled every
100 ms), retained tasks (``list_tasks`` RUNNING + STOPPED), the events each service
keeps, tasks started so far, and the worst event-loop lag since the last row (a ticker
sleeps 10 ms in a loop and records the worst extra delay). At the end a summary compares
the first row after ``--warmup`` with the last one and gives a verdict against the goals:
flat RSS (growth at most ``--rss-tolerance`` MiB) and fds (at most ``--fd-tolerance``: a
row sees the pipes of whatever task is starting), max lag under 100 ms, the healthy
service stable again once the churn stops, and nothing left behind. The naive baseline
is a scheduler that restarts a crashing task at once: it would have made (duration /
crash-task lifetime) restarts, next to what the backoff made.

STOPPED tasks stay describable for an hour (up to 5,000): bounded, but in a 30 minute run
that would look like growth. ``--stopped-tasks-kept`` (default 100) lowers the bound, so
that retention reaches its plateau in minutes and any growth left is a leak.

Everything started is stopped at the end (leaving the ``Cluster`` block), also on Ctrl-C;
then the script checks that no process (or container) of the cluster is left.

Run: ``.venv/bin/python benchmarks/soak.py [--minutes 30] [--report-every 60]
[--backend process|docker|simulated] [--loop asyncio|trio]``
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyecs
from pyecs.backends import DockerBackend, ProcessBackend, SimulatedBackend
from pyecs.backends.simulated import Behavior

WEB, CRASH, ONEOFF = "soak-web", "soak-crash", "soak-oneoff"
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
#: The crash-looping task's lifetime, in seconds.
CRASH_AFTER = 0.5
CRASH_CMD = ["sh", "-c", f"sleep {CRASH_AFTER}; exit 1"]
ONEOFF_CMD = ["sh", "-c", "sleep 0.2"]
#: The ticker's sleep, in seconds.
TICK = 0.01
LAG_GOAL_MS = 100.0
MIB = 1024 * 1024


def task_definition(family: str, image: str, command: list[str], version: int = 1) -> Any:
    return {
        "family": family,
        "containerDefinitions": [
            {
                "name": family,
                "image": image,
                "memory": 16,
                "command": command,
                "environment": [{"name": "VERSION", "value": str(version)}],
                "stopTimeout": 2,
            }
        ],
    }


# -- what this process holds -------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children() -> tuple[int, int]:
    """Child processes of this process, and how many of them are zombies."""
    me = os.getpid()
    count = zombies = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == me:
            count += 1
            zombies += fields[0] == "Z"
    return count, zombies


def processes_of(cluster_name: str) -> list[str]:
    """Processes that carry a task ARN of this cluster in their environment."""
    needle = b"PYECS_TASK_ARN=arn:aws:ecs:"
    marker = f":task/{cluster_name}/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        for var in env.split(b"\0"):
            if var.startswith(needle) and marker in var:
                found.append(f"pid {entry}: {cmd}")
                break
    return found


# -- bookkeeping -------------------------------------------------------------------------


@attrs.define
class Row:
    elapsed: float
    rss: int
    fds: int
    children: int
    zombies: int
    running: int
    web: int
    web_min: int
    retained: int
    events: tuple[int, int]
    started: int
    lag: float


@attrs.define
class Stats:
    began: float = attrs.field(factory=time.perf_counter)
    rows: list[Row] = attrs.field(factory=list)
    #: Tasks that reached RUNNING, by kind (web, crash, one-off).
    started: collections.Counter[str] = attrs.field(factory=collections.Counter)
    #: Tasks not STOPPED yet (bounded by the live tasks): counted as started yet?
    live: dict[str, bool] = attrs.field(factory=dict)
    stop_codes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    crash_lifetimes: float = 0.0
    crash_exits: int = 0
    #: When the crash-looping service was created, and how long it crash-looped.
    crash_began: float | None = None
    crash_since: float | None = None
    completed: bool = False
    backoff_events: collections.Counter[str] = attrs.field(factory=collections.Counter)
    kills: int = 0
    deploys: int = 0
    deploy_times: list[float] = attrs.field(factory=list)
    oneoffs: int = 0
    oneoff_failures: int = 0
    oneoff_bad_exits: int = 0
    #: The healthy service's running count: lowest since the last row, lowest overall,
    #: and seconds spent below the desired count and at 0.
    web_min: int | None = None
    web_min_all: int | None = None
    web_below: float = 0.0
    web_zero: float = 0.0
    lag: float = 0.0
    lag_max: float = 0.0
    lag_max_at: float = 0.0
    problems: list[str] = attrs.field(factory=list)
    stable_at_end: bool | None = None
    shutdown: float | None = None
    leftovers: list[str] | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def problem(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(f"{self.elapsed():6.0f} s  {text}")


def kind(group: str) -> str:
    return {f"service:{WEB}": "web", f"service:{CRASH}": "crash"}.get(group, "one-off")


# -- the churn ---------------------------------------------------------------------------


async def watch_events(cluster: pyecs.Cluster, events: Any, stats: Stats) -> None:
    async for event in events:
        task = getattr(event, "task", None)
        if task is None:
            if "restart backoff" in event.message:
                stats.backoff_events[event.service] += 1
            continue
        k = kind(task.group)
        counted = stats.live.get(task.arn)  # None: not seen yet, or seen STOPPED already
        if task.last_status == "STOPPED":
            if counted is None:
                continue
            del stats.live[task.arn]
            stats.stop_codes[f"{k}: {task.stop_code}"] += 1
            if task.started_at is not None and not counted:
                stats.started[k] += 1  # it ran and stopped between two snapshots we saw
            if k == "crash" and task.started_at and task.stop_code == "EssentialContainerExited":
                end = task.execution_stopped_at or task.stopped_at
                if end is not None:
                    stats.crash_lifetimes += (end - task.started_at).total_seconds()
                    stats.crash_exits += 1
            codes = [c.exit_code for c in task.containers]
            if k == "one-off" and task.stop_code == "EssentialContainerExited" and codes != [0]:
                stats.oneoff_bad_exits += 1
                stats.problem(f"one-off task exited {codes}")
            continue
        started = task.started_at is not None
        if started and not counted:
            stats.started[k] += 1
        stats.live[task.arn] = started or bool(counted)


async def ticker(stats: Stats) -> None:
    while True:
        before = time.perf_counter()
        await anyio.sleep(TICK)
        lag = time.perf_counter() - before - TICK
        stats.lag = max(stats.lag, lag)
        if lag > stats.lag_max:
            stats.lag_max, stats.lag_max_at = lag, stats.elapsed()


async def sample_web(web: pyecs.Service, desired: int, stats: Stats) -> None:
    """Every 100 ms: how many of the healthy service's tasks are RUNNING."""
    while True:
        running = web.running_count
        stats.web_min = running if stats.web_min is None else min(stats.web_min, running)
        if stats.web_min_all is None or running < stats.web_min_all:
            stats.web_min_all = running
        stats.web_below += 0.1 if running < desired else 0.0
        stats.web_zero += 0.1 if running == 0 else 0.0
        await anyio.sleep(0.1)


async def kill(backend: Any, docker_api: Any, runtime_id: str) -> None:
    """Kill one container from outside, as an OOM killer or an operator would."""
    if isinstance(backend, ProcessBackend):
        pid = backend.pid(runtime_id)
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
    elif isinstance(backend, SimulatedBackend):
        backend.kill(runtime_id)
    else:
        await anyio.to_thread.run_sync(docker_kill, docker_api, runtime_id)


def docker_kill(api: Any, runtime_id: str) -> None:
    try:
        api.kill(runtime_id)
    finally:
        # docker-py keeps a connection pool per URL (up to 25), and each kill has a URL of
        # its own: drop them, so that this script's fds stay flat and only pyecs's show.
        api.close()


async def killer(
    web: pyecs.Service, backend: Any, docker_api: Any, every: float, stats: Stats
) -> None:
    rng = random.Random()
    while True:
        await anyio.sleep(every * rng.uniform(0.5, 1.5))
        victims = [
            t.containers[0].runtime_id
            for t in web.tasks
            if t.last_status == "RUNNING" and t.containers and t.containers[0].runtime_id
        ]
        if not victims:
            continue
        try:
            await kill(backend, docker_api, rng.choice(victims))
            stats.kills += 1
        except (ProcessLookupError, OSError) as exc:
            stats.problem(f"kill failed: {exc!r}")
        except Exception as exc:  # docker.errors.NotFound: it exited meanwhile
            if "404" not in str(exc) and "409" not in str(exc):
                stats.problem(f"kill failed: {exc!r}")


async def deployer(
    cluster: pyecs.Cluster, web: pyecs.Service, image: str, every: float, stats: Stats
) -> None:
    version = 1
    await anyio.sleep(every / 2)  # (a short run sees a deployment too)
    while True:
        previous = web.task_definition
        began = time.perf_counter()
        try:
            if stats.deploys % 2 == 1:
                await web.update(force_new_deployment=True)
            else:
                version += 1
                td = await cluster.register_task_definition(
                    task_definition(WEB, image, SLEEP, version)
                )
                await web.update(task_definition=f"{WEB}:{td.revision}")
            stats.deploys += 1
            await web.wait_stable(timeout=max(30.0, every * 0.9))
            stats.deploy_times.append(time.perf_counter() - began)
            if previous.task_definition_arn != web.task_definition.task_definition_arn:
                ref = f"{WEB}:{previous.revision}"
                await cluster.deregister_task_definition(ref)
                result = await cluster.delete_task_definitions([ref])
                if result.failures:
                    stats.problem(f"delete {ref}: {result.failures}")
        except pyecs.PyecsError as exc:
            stats.problem(f"deployment {stats.deploys}: {str(exc).splitlines()[0]}")
        await anyio.sleep(every)


async def one_offs(cluster: pyecs.Cluster, every: float, stats: Stats) -> None:
    while True:
        await anyio.sleep(every)
        try:
            result = await cluster.run_task(ONEOFF)
        except pyecs.PyecsError as exc:
            stats.problem(f"run_task: {exc}")
            continue
        stats.oneoffs += 1
        if result.failures:
            stats.oneoff_failures += 1
            stats.problem(f"run_task failures: {result.failures}")


# -- reporting ---------------------------------------------------------------------------

HEADER = (
    f"{'elapsed':>8} {'RSS MiB':>8} {'fds':>5} {'children':>9} {'running':>8} {'web (min)':>9} "
    f"{'retained':>9} {'events web/crash':>17} {'started':>8} {'max lag ms':>11}"
)


def fmt_row(r: Row) -> str:
    kids = f"{r.children}" + (f" [{r.zombies}Z]" if r.zombies else "")
    return (
        f"{r.elapsed:7.0f}s {r.rss / MIB:8.1f} {r.fds:>5} {kids:>9} {r.running:>8} "
        f"{f'{r.web} ({r.web_min})':>9} "
        f"{r.retained:>9} {f'{r.events[0]}/{r.events[1]}':>17} {r.started:>8} "
        f"{r.lag * 1000:11.1f}"
    )


async def report(
    cluster: pyecs.Cluster, services: tuple[pyecs.Service, pyecs.Service], stats: Stats, proc: bool
) -> None:
    kids, zombies = await anyio.to_thread.run_sync(children) if proc else (0, 0)
    running = len(cluster.list_tasks())
    row = Row(
        elapsed=stats.elapsed(),
        rss=rss_bytes(),
        fds=open_fds(),
        children=kids,
        zombies=zombies,
        running=running,
        web=services[0].running_count,
        web_min=services[0].running_count if stats.web_min is None else stats.web_min,
        retained=running + len(cluster.list_tasks(desired_status="STOPPED")),
        events=(len(services[0].events), len(services[1].events)),
        started=sum(stats.started.values()),
        lag=stats.lag,
    )
    stats.lag = 0.0
    stats.web_min = None
    stats.rows.append(row)
    print(fmt_row(row), flush=True)


def summary(stats: Stats, warmup: float, rss_tolerance: float, fd_tolerance: int) -> bool:
    """Print the comparison and the verdict; return whether every goal is met."""
    print(flush=True)
    rows = stats.rows
    if len(rows) < 2:
        print("too few reports for a summary (run longer than two --report-every periods)")
        return False
    first = next((r for r in rows if r.elapsed >= warmup), rows[0])
    if first is rows[-1]:
        first = rows[-2]
    last = rows[-1]
    span = last.elapsed - first.elapsed
    growth = (last.rss - first.rss) / MIB
    per_hour = growth / span * 3600 if span > 0 else math.nan
    fd_growth = last.fds - first.fds
    lag_ms = stats.lag_max * 1000
    mem_ok = growth <= rss_tolerance
    fd_ok = fd_growth <= fd_tolerance
    lag_ok = lag_ms < LAG_GOAL_MS
    yes = {True: "yes", False: "NO", None: "?"}
    print(
        f"summary: the first report after warm-up ({first.elapsed:.0f} s) vs the last "
        f"({last.elapsed:.0f} s), {span / 60:.1f} min apart"
    )
    print(
        f"  RSS        {first.rss / MIB:7.1f} -> {last.rss / MIB:7.1f} MiB  {growth:+.1f} MiB "
        f"({per_hour:+.1f} MiB/hour)   flat (<= {rss_tolerance:g} MiB): {yes[mem_ok]}"
    )
    print(
        f"  open fds   {first.fds:7} -> {last.fds:7}      {fd_growth:+d}"
        f"{'':20}flat (<= +{fd_tolerance}): {yes[fd_ok]}"
    )
    print(f"  children   {first.children:7} -> {last.children:7}")
    print(f"  retained   {first.retained:7} -> {last.retained:7} tasks")
    print(
        f"  max event-loop lag {lag_ms:.1f} ms (at {stats.lag_max_at:.0f} s)"
        f"{'':17}< {LAG_GOAL_MS:g} ms: {yes[lag_ok]}"
    )
    started = stats.started
    times = sorted(stats.deploy_times)
    median = f"median {times[len(times) // 2]:.1f} s to stable" if times else "none done"
    print(
        f"  tasks started: {sum(started.values())} ({started['web']} web, {started['crash']} "
        f"crash-loop, {started['one-off']} one-off); {stats.kills} kills, {stats.deploys} "
        f"deployments ({median}), "
        f"{stats.oneoffs} run_task ({stats.oneoff_failures} with failures)"
    )
    print("  stop codes: " + ", ".join(f"{k} {n}" for k, n in sorted(stats.stop_codes.items())))
    print(
        "  restart backoff events: "
        + (", ".join(f"{k} {n}" for k, n in sorted(stats.backoff_events.items())) or "none")
    )
    # The naive baseline: a scheduler that restarts a crashing task at once.
    if stats.crash_since is not None:
        duration = stats.crash_since
        restarts = max(0, started["crash"] - 1)
        period = stats.crash_lifetimes / stats.crash_exits if stats.crash_exits else CRASH_AFTER
        naive = duration / period
        saved = 1 - restarts / naive if naive else math.nan
        print(
            f"  crash-looping service: {restarts} restarts in {duration:.0f} s; a restart-at-once "
            f"scheduler: ~{naive:.0f} (duration / {period:.2f} s crash-task lifetime): the "
            f"backoff saved {saved:.1%} of the starts"
        )
    print(
        f"  healthy service: lowest running count {stats.web_min_all}; below its desired "
        f"count {stats.web_below:.0f} s ({stats.web_below / max(1.0, last.elapsed):.0%} of "
        f"the run), at 0 running {stats.web_zero:.0f} s"
    )
    stable_ok = stats.stable_at_end
    print(f"  healthy service stable again after the churn: {yes[stable_ok]}")
    if stats.shutdown is not None:
        print(f"  cluster shutdown took {stats.shutdown:.1f} s")
    left_ok = stats.leftovers is not None and not stats.leftovers
    if stats.leftovers is None:
        print("  leftovers: not checked")
    else:
        print(f"  left behind after the cluster closed: {len(stats.leftovers)}")
        for item in stats.leftovers[:10]:
            print(f"    {item}")
    for p in stats.problems:
        print(f"  problem at {p}")
    ok = mem_ok and fd_ok and lag_ok and bool(stable_ok) and left_ok
    verdict = "PASS" if ok else "FAIL"
    if not stats.completed:
        verdict = f"INCOMPLETE (interrupted after {stats.elapsed():.0f} s)"
        ok = False
    print(
        f"verdict: {verdict} (goals: flat memory and fds, max lag "
        f"< {LAG_GOAL_MS:g} ms, service stable after churn, nothing left behind)"
    )
    return ok


# -- main --------------------------------------------------------------------------------


def make_backend(name: str) -> tuple[Any, str, Any]:
    """The backend, the image to run, and a docker client for ``docker kill`` (or None)."""
    if name == "process":
        return ProcessBackend(), "none", None
    if name == "simulated":
        behaviors = {
            CRASH: Behavior(exit_code=1, exit_after=CRASH_AFTER),
            ONEOFF: Behavior(exit_code=0, exit_after=0.2),
        }
        return SimulatedBackend(behaviors=behaviors), "busybox", None
    import docker

    from pyecs.testing.images import ensure_busybox_image

    client = docker.from_env()
    image = ensure_busybox_image(client)
    return DockerBackend(pull="never"), image, client


def leftovers(backend: Any, cluster_name: str, client: Any) -> list[str]:
    if isinstance(backend, SimulatedBackend):
        return [f"simulated container {rid}" for rid in backend.running]
    if client is None:
        found = processes_of(cluster_name)
        kids, zombies = children()
        if kids:
            found.append(f"{kids} child processes ({zombies} zombies)")
        return found
    label = {"label": f"pyecs.cluster={cluster_name}"}
    found = [
        f"container {c.short_id} {c.name}" for c in client.containers.list(True, filters=label)
    ]
    found += [f"network {n.name}" for n in client.networks.list(filters=label)]
    return found


async def main(args: argparse.Namespace) -> bool:
    duration = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(300.0, duration / 3)
    backend, image, client = make_backend(args.backend)
    name = f"soak-{uuid.uuid4().hex[:8]}"
    proc = isinstance(backend, ProcessBackend)
    stats = Stats()
    print(
        f"soak: {args.minutes:g} min on the {args.backend} backend ({anyio_backend_name()}), "
        f"cluster {name}; {args.tasks} healthy tasks, 1 crash-looping (exits after "
        f"{CRASH_AFTER:g} s), a kill every ~{args.kill_every:g} s, a deployment every "
        f"{args.deploy_every:g} s, a run_task every {args.run_task_every:g} s; "
        f"stopped_tasks_kept={args.stopped_tasks_kept}, warm-up {warmup:.0f} s",
        flush=True,
    )
    try:
        async with pyecs.Cluster(
            name,
            backend=backend,
            task_healthy_delay=args.healthy_delay,
            stopped_tasks_kept=args.stopped_tasks_kept,
        ) as cluster:
            for family, command in ((WEB, SLEEP), (CRASH, CRASH_CMD), (ONEOFF, ONEOFF_CMD)):
                await cluster.register_task_definition(task_definition(family, image, command))
            async with cluster.subscribe() as events, anyio.create_task_group() as tg:
                tg.start_soon(watch_events, cluster, events, stats)
                tg.start_soon(ticker, stats)
                web = await cluster.create_service(
                    WEB, task_definition=WEB, desired_count=args.tasks
                )
                crash = await cluster.create_service(
                    CRASH,
                    task_definition=CRASH,
                    desired_count=1,
                    restart_backoff=pyecs.RestartBackoff(),
                )
                stats.crash_began = time.perf_counter()
                await web.wait_stable(timeout=120)
                tg.start_soon(sample_web, web, args.tasks, stats)
                api = None if client is None else client.api
                tg.start_soon(killer, web, backend, api, args.kill_every, stats)
                tg.start_soon(deployer, cluster, web, image, args.deploy_every, stats)
                tg.start_soon(one_offs, cluster, args.run_task_every, stats)
                print(HEADER, flush=True)
                periods = max(1, math.ceil(duration / args.report_every))
                for i in range(1, periods + 1):
                    due = stats.began + min(i * args.report_every, duration)
                    await anyio.sleep(max(0.0, due - time.perf_counter()))
                    await report(cluster, (web, crash), stats, proc)
                stats.crash_since = time.perf_counter() - stats.crash_began
                stats.completed = True
                tg.cancel_scope.cancel()
            # The churn is over: the healthy service must get back to its desired count.
            try:
                await web.wait_stable(timeout=90)
                stats.stable_at_end = True
            except pyecs.PyecsError as exc:
                stats.stable_at_end = False
                stats.problem(f"after the churn: {str(exc).splitlines()[0]}")
            closing = time.perf_counter()
        stats.shutdown = time.perf_counter() - closing
    finally:
        if stats.crash_since is None and stats.crash_began is not None:
            stats.crash_since = time.perf_counter() - stats.crash_began
        try:
            stats.leftovers = leftovers(backend, name, client)
        finally:
            if client is not None:
                client.close()
        ok = summary(stats, warmup, args.rss_tolerance, args.fd_tolerance)
    return ok


def anyio_backend_name() -> str:
    import sniffio

    return sniffio.current_async_library()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--report-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--backend", choices=("process", "docker", "simulated"), default="process")
    parser.add_argument("--loop", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--tasks", type=int, default=4, help="the healthy service's tasks")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds, on average")
    parser.add_argument("--deploy-every", type=float, default=120.0, help="seconds")
    parser.add_argument("--run-task-every", type=float, default=5.0, help="seconds")
    parser.add_argument(
        "--healthy-delay", type=float, default=1.0, help="Cluster(task_healthy_delay=...)"
    )
    parser.add_argument("--stopped-tasks-kept", type=int, default=100)
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds (default: a third, at most 300)"
    )
    parser.add_argument("--rss-tolerance", type=float, default=2.0, help="MiB")
    parser.add_argument("--fd-tolerance", type=int, default=8)
    args = parser.parse_args()
    try:
        passed = anyio.run(main, args, backend=args.loop)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0 if passed else 1)
