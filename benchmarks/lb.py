"""Throughput and latency through the in-process load balancer vs straight to one task.

Two services of process-backend tasks behind round-robin load balancers: ``asyncio``, a
bare asyncio HTTP/1.1 server that does nothing but answer (the worst case for a proxy:
the balancer's own cost is all that shows), and ``http.server``, the standard library's
threading server (an application that does a little work per request, like the tests'
server). The load comes from another process: ``wrk`` when installed (``apt-get install
-y wrk``), else this file's own ``--generate`` mode in a subprocess. Each case runs with
keep-alive and with a new connection per request (``Connection: close``); direct and
balanced runs alternate for ``--rounds`` rounds and the median is printed, with the socket
errors wrk counted over all rounds (``http.server`` closes ``Connection: close`` sockets in
a way wrk counts as read errors, directly as through the balancer).
HAProxy (``apt-get install -y haproxy``; the benchmark installs nothing and skips the
columns when the binary is missing) balances the same tasks in the same run, round robin,
``nbthread 1`` (one core, like pyecs's balancer), twice: ``haproxy`` in HTTP mode with
keep-alive on both sides (it reuses idle target connections for new client connections),
``hap-tcp`` in TCP mode (a target connection per client connection, as pyecs's balancer).
``cpu us/req``: the proxy process's user + system CPU time per request over its runs (for
pyecs, the benchmark's own process: the balancer and the cluster around it), a second
measure that depends less on what else the machine runs than requests/s does.
``machine us/req``: the whole machine's busy CPU time (``/proc/stat``: all but idle and
iowait) per request over the path's runs. It counts everything: wrk, the server, the
kernel's loopback work, the proxy, and the benchmark process's otherwise idle cluster (which
runs in the direct runs too); so the direct figure is what wrk + server + kernel cost per
request, and a proxy's figure minus it is what the proxy adds machine-wide. Other work on
the machine counts too, so run it on an otherwise idle machine: the budget line ends with
the CPUs that processes outside this one's tree (``/proc/<pid>/stat``; kernel threads count
as the path's) used on average meanwhile (a quiet machine's daemons: a few hundredths), and a
warning follows when that is above 0.15.
Targets: with keep-alive, at least 70% of the direct requests/s and within 1.5x of
HAProxy; with a new connection per request, at least 50% of direct. The budget line under
each mode's table says what a target leaves a proxy: at the target rate the machine has
``CPUs / rate`` of CPU per request, the direct path takes its own machine us/req of that, and
a proxy may add at most the rest; beside it, what each proxy did add. When a proxy's
addition is above the budget, no tuning of its req/s reaches the target on this machine
(only using less CPU per request can). Without a readable ``/proc/stat`` (not Linux) the
column and the budget are skipped with a note.

Run: ``.venv/bin/python benchmarks/lb.py [--duration 3] [--rounds 3] [--connections 64]
[--tasks 1] [--loop asyncio|uvloop|trio] [--server both|asyncio|http.server]
[--generator wrk|python]``
(``uvloop``: asyncio on uvloop, the ``pyecs[fast]`` extra; skipped with a note when missing)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import anyio
import anyio.to_thread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyecs
from benchmarks import _haproxy
from pyecs.backends.process import ProcessBackend

#: wrk threads: one leaves the other cores of a small machine to the server and balancer.
WRK_THREADS = 1

FAST = textwrap.dedent(
    """
    import asyncio, os
    TASK = os.environ["PYECS_TASK_ARN"].rsplit("/", 1)[1].encode()

    class Http(asyncio.Protocol):
        def connection_made(self, transport):
            self.t, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while b"\\r\\n\\r\\n" in self.buf:
                head, self.buf = self.buf.split(b"\\r\\n\\r\\n", 1)
                close = b"connection: close" in head.lower()
                self.t.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n%s\\r\\n%s" % (
                    len(TASK), b"Connection: close\\r\\n" if close else b"", TASK))
                if close:
                    self.t.close()
                    return

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            Http, os.environ["PYECS_HOST"], int(os.environ["PORT"]), backlog=4096)
        await server.serve_forever()

    asyncio.run(main())
    """
)

THREADED = textwrap.dedent(
    """
    import http.server, os
    TASK = os.environ["PYECS_TASK_ARN"].rsplit("/", 1)[1].encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536  # one send per response (no Nagle / delayed-ACK stall)

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(TASK)))
            self.end_headers()
            self.wfile.write(TASK)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 4096
        daemon_threads = True

    Server((os.environ["PYECS_HOST"], int(os.environ["PORT"])), Handler).serve_forever()
    """
)

SERVERS = {"asyncio": FAST, "http.server": THREADED}

Result = tuple[float, float, float, float, float]  # req/s, p50 ms, p99 ms, errors, requests
#: A run's result, and the machine's busy CPU seconds while it ran (``None`` when unknown).
Run = tuple[Result, float | None]

#: The issue's targets, as a fraction of direct requests/s, per mode.
GOALS = {"keep-alive": 0.70, "new conn/req": 0.50}

#: How each path is named in the budget line.
LABELS = {"balancer": "pyecs", "haproxy": "haproxy", "hap-tcp": "hap-tcp"}


class Row(NamedTuple):
    """One path's figures over its runs."""

    result: Result  # medians, and errors and requests summed
    proxy_cpu: float | None  # the proxy process's CPU seconds per request
    machine_cpu: float | None  # the machine's busy CPU seconds per request
    others: float  # CPU seconds of processes outside this one's tree over the runs
    wall: float  # seconds the runs took


# -- load generators (other processes) ------------------------------------------------------


def machine_cpu_seconds() -> float | None:
    """Busy CPU time of the whole machine so far, all CPUs summed: the aggregate ``cpu``
    line of ``/proc/stat`` without idle and iowait (guest time is already in user and
    nice). ``None`` where there is no ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...
    busy = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK")


def wrk(url: str, seconds: float, connections: int, close: bool) -> Run:
    """One wrk run (wrk's own start-up, a few milliseconds, is inside the machine's CPU)."""
    cmd = ["wrk", "--latency", "-t", str(WRK_THREADS), "-c", str(connections)]
    cmd += ["-d", f"{max(1, round(seconds))}s", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    before = machine_cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    after = machine_cpu_seconds()
    busy = None if before is None or after is None else after - before

    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return match

    def percentile(p: str) -> float:
        value, unit = find(rf"\s{p}%\s+([\d.]+)(us|ms|s)").groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(bad.group(1)) if bad else 0
    rps = float(find(r"Requests/sec:\s+([\d.]+)").group(1))
    requests = float(find(r"(\d+) requests in").group(1))
    return (rps, percentile("50"), percentile("99"), errors, requests), busy


async def _generate(host: str, port: int, seconds: float, connections: int, close: bool) -> None:
    """The fallback generator (run in a subprocess): prints ``req/s p50 p99 errors
    requests busy``, ``busy`` the machine's busy CPU seconds during the load only (not this
    interpreter's start-up), ``-`` when unknown."""
    latencies: list[float] = []
    header = "Connection: close\r\n" if close else ""
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n{header}\r\n".encode()
    end = time.perf_counter() + seconds

    async def one_connection() -> None:
        stream = None
        while time.perf_counter() < end:
            began = time.perf_counter()
            if stream is None:
                stream = await anyio.connect_tcp(host, port)
            await stream.send(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 32:
                data += await stream.receive()
            latencies.append((time.perf_counter() - began) * 1000)
            if close:
                await stream.aclose()
                stream = None

    before = machine_cpu_seconds()
    async with anyio.create_task_group() as tg:
        for _ in range(connections):
            tg.start_soon(one_connection)
    after = machine_cpu_seconds()
    busy = "-" if before is None or after is None else after - before
    q = statistics.quantiles(latencies, n=100)
    print(len(latencies) / seconds, q[49], q[98], 0, len(latencies), busy)


def python_generator(url: str, seconds: float, connections: int, close: bool) -> Run:
    """One run of this file's ``--generate`` mode, in another process."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    cmd = [sys.executable, __file__, "--generate", host, port, str(seconds), str(connections)]
    out = subprocess.run(cmd + (["close"] if close else []), capture_output=True, text=True)
    *figures, busy = out.stdout.split()
    rps, p50, p99, errors, requests = map(float, figures)
    return (rps, p50, p99, errors, requests), None if busy == "-" else float(busy)


# -- the benchmark ---------------------------------------------------------------------------


async def start(cluster: pyecs.Cluster, name: str, code: str, tasks: int) -> pyecs.Service:
    """A service of ``tasks`` tasks running ``code``, behind a load balancer."""
    family = name.replace(".", "-")
    await cluster.register_task_definition(
        {
            "family": family,
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "local/web",
                    "memory": 64,
                    "entryPoint": [sys.executable, "-c", code],
                    "portMappings": [{"containerPort": 8080}],
                }
            ],
        }
    )
    check = pyecs.TargetGroupHealthCheck(interval=1, timeout=1, healthy_threshold=1)
    return await cluster.create_service(
        family,
        task_definition=f"{family}:1",
        desired_count=tasks,
        load_balancers=[pyecs.LoadBalancer("web", 8080, health_check=check)],
    )


def processes_cpu() -> dict[int, tuple[float, bool]]:
    """User + system CPU seconds of every process so far, with whether it is foreign:
    neither this process nor one of its descendants (wrk, the tasks, HAProxy) nor a
    kernel thread (the kernel's share of the load). Empty without ``/proc``."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float, bool]] = {}  # pid: parent, seconds, kernel thread
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            kernel = bool(int(fields[6]) & 0x00200000)  # PF_KTHREAD
            stats[int(entry.name)] = (
                int(fields[1]),
                (int(fields[11]) + int(fields[12])) / tick,
                kernel,
            )

    def ours(pid: int) -> bool:
        for _ in range(64):  # a process tree is never that deep
            if pid == os.getpid():
                return True
            if pid not in stats:
                return False
            pid = stats[pid][0]
        return False

    return {
        pid: (seconds, not kernel and not ours(pid)) for pid, (_, seconds, kernel) in stats.items()
    }


def foreign_cpu_seconds(
    before: dict[int, tuple[float, bool]], after: dict[int, tuple[float, bool]]
) -> float:
    """CPU seconds foreign processes used between two :func:`processes_cpu` snapshots (one
    that started and ended in between is missed)."""
    return sum(
        seconds - before.get(pid, (0.0, True))[0]
        for pid, (seconds, foreign) in after.items()
        if foreign
    )


def own_cpu_seconds() -> float:
    """User + system CPU time of this process (the balancer's) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(
    args: argparse.Namespace, urls: dict[str, str], cpu: dict[str, Callable[[], float]], close: bool
) -> dict[str, Row]:
    """Median of ``args.rounds`` runs per URL, the URLs alternating (noise hits all), with
    the CPU seconds per request of the proxy behind the URL (when ``cpu`` has it) and of
    the whole machine (when ``/proc/stat`` is readable)."""
    run = wrk if args.generator == "wrk" else python_generator
    runs: dict[str, list[Result]] = {path: [] for path in urls}
    used = dict.fromkeys(urls, 0.0)
    machine: dict[str, float | None] = dict.fromkeys(urls, 0.0)
    others = dict.fromkeys(urls, 0.0)
    wall = dict.fromkeys(urls, 0.0)
    for _ in range(args.rounds):
        for path, url in urls.items():
            before = cpu[path]() if path in cpu else 0.0
            processes, began = processes_cpu(), time.monotonic()
            result, busy = await anyio.to_thread.run_sync(
                run, url, args.duration, args.connections, close
            )
            wall[path] += time.monotonic() - began
            others[path] += foreign_cpu_seconds(processes, processes_cpu())
            used[path] += cpu[path]() - before if path in cpu else 0.0
            so_far = machine[path]
            machine[path] = None if so_far is None or busy is None else so_far + busy
            runs[path].append(result)
    rows = {}
    for path, results in runs.items():
        requests = max(1.0, sum(r[4] for r in results))
        busy = machine[path]
        rows[path] = Row(
            (
                statistics.median(r[0] for r in results),
                statistics.median(r[1] for r in results),
                statistics.median(r[2] for r in results),
                sum(r[3] for r in results),
                sum(r[4] for r in results),
            ),
            used[path] / requests if path in cpu else None,
            None if busy is None else busy / requests,
            others[path],
            wall[path],
        )
    return rows


def budget(rows: dict[str, Row], goal: float, cpus: int) -> str | None:
    """The CPU budget a proxy has at ``goal`` x direct's requests/s, against what each
    proxy added machine-wide, and the CPUs other processes used meanwhile; ``None``
    without machine figures."""
    direct = rows["direct"].machine_cpu
    rate = goal * rows["direct"].result[0]
    if direct is None or rate <= 0:
        return None
    per_request = cpus / rate * 1e6
    room = per_request - direct * 1e6
    added = ", ".join(
        f"{LABELS.get(path, path)} {(row.machine_cpu - direct) * 1e6:.1f}"
        for path, row in rows.items()
        if path != "direct" and row.machine_cpu is not None
    )
    return (
        f"(CPU budget at {goal:.0%} of direct = {rate:,.0f} req/s: {per_request:.1f} us/req "
        f"on {cpus} CPUs, of which the direct path uses {direct * 1e6:.1f} (at its own "
        f"{rows['direct'].result[0]:,.0f} req/s, {direct * rows['direct'].result[0]:.2f} of "
        f"{cpus} CPUs busy); a proxy may add {room:.1f} us/req. Added machine-wide: {added}; "
        f"other processes meanwhile: {others_cpus(rows):.2f} CPUs)"
    )


def others_cpus(rows: dict[str, Row]) -> float:
    """The CPUs processes outside this one's tree used on average during the runs."""
    return sum(row.others for row in rows.values()) / max(1e-9, sum(r.wall for r in rows.values()))


async def bench(args: argparse.Namespace) -> None:
    async with pyecs.Cluster("bench", backend=ProcessBackend(), task_healthy_delay=0) as cluster:
        services = {}
        for name, code in SERVERS.items():
            if args.server in ("both", name):
                services[name] = await start(cluster, name, code, args.tasks)
        for svc in services.values():
            await svc.wait_stable(timeout=60)
        print(
            f"pyecs load balancer: {args.generator} ({WRK_THREADS} thread) with "
            f"{args.connections} connections, {args.duration:g} s x {args.rounds} rounds per "
            f"case (median), {args.loop}, {args.tasks} task(s) behind each balancer, "
            f"{os.cpu_count()} CPUs"
        )
        print(
            f"{'server':<13}{'mode':<14}{'path':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'vs direct':>11}{'cpu us/req':>12}{'machine us/req':>16}{'sock err':>10}"
        )
        if not _haproxy.available():
            print(_haproxy.MISSING)
        if machine_cpu_seconds() is None:
            print("machine us/req and the CPU budget skipped: no readable /proc/stat")
        for name, svc in services.items():
            urls = {
                "direct": f"http://{svc.tasks[0].endpoint('web', 8080)}/",
                "balancer": f"{svc.load_balancer.url}/",
            }
            cpu: dict[str, Callable[[], float]] = {"balancer": own_cpu_seconds}
            with contextlib.ExitStack() as stack:
                if _haproxy.available():
                    targets = [t.endpoint("web", 8080) for t in svc.tasks]
                    for path, mode in (("haproxy", "http"), ("hap-tcp", "tcp")):
                        url, pid = stack.enter_context(_haproxy.haproxy(targets, mode=mode))
                        urls[path] = url
                        cpu[path] = functools.partial(_haproxy.cpu_seconds, pid)
                for mode, close in (("keep-alive", False), ("new conn/req", True)):
                    rows = await measure(args, urls, cpu, close)
                    base = rows["direct"].result[0]
                    for path, row in rows.items():
                        rps, p50, p99, errors, _ = row.result
                        used = "-" if row.proxy_cpu is None else f"{row.proxy_cpu * 1e6:.1f}"
                        whole = "-" if row.machine_cpu is None else f"{row.machine_cpu * 1e6:.1f}"
                        print(
                            f"{name:<13}{mode:<14}{path:<10}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}"
                            f"{rps / base:>10.0%}{used:>12}{whole:>16}{errors:>10.0f}"
                        )
                    if "haproxy" in rows:
                        pyecs_rps = rows["balancer"].result[0]
                        print(
                            f"{'':<13}(HAProxy / pyecs balancer: HTTP mode "
                            f"{rows['haproxy'].result[0] / pyecs_rps:.2f}x, TCP mode "
                            f"{rows['hap-tcp'].result[0] / pyecs_rps:.2f}x)"
                        )
                    line = budget(rows, GOALS[mode], os.cpu_count() or 1)
                    if line is not None:
                        print(f"{'':<13}{line}")
                    if line is not None and others_cpus(rows) > 0.15:
                        print(
                            f"{'':<13}(warning: other processes used "
                            f"{others_cpus(rows):.2f} CPUs meanwhile: machine us/req and req/s "
                            f"are off; run on an idle machine)"
                        )
            stats = svc.load_balancer.stats
            print(
                f"{'':<13}(balancer: {stats.connections} connections, {stats.retried} "
                f"retried, {stats.rejected} rejected)"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        host, port, seconds, connections = sys.argv[2:6]
        close = "close" in sys.argv[6:]
        anyio.run(_generate, host, int(port), float(seconds), int(connections), close)
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=1)
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "trio"], default="asyncio")
    parser.add_argument("--server", choices=["both", *SERVERS], default="both")
    default = "wrk" if shutil.which("wrk") else "python"
    parser.add_argument("--generator", choices=["wrk", "python"], default=default)
    args = parser.parse_args()
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            sys.exit("uvloop is not installed: pip install 'pyecs[fast]'")
        anyio.run(bench, args, backend="asyncio", backend_options={"use_uvloop": True})
    else:
        anyio.run(bench, args, backend=args.loop)


if __name__ == "__main__":
    main()
