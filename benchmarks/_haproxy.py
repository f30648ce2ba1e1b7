"""HAProxy in front of the same tasks, for the load-balancer benchmark's comparison column.

Debian's package: ``apt-get install -y haproxy``. The benchmark never installs it; without
the ``haproxy`` binary the column is skipped with a message saying so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

#: Why the HAProxy column is missing, when it is.
MISSING = (
    "HAProxy column skipped: no haproxy binary on PATH "
    "(install it with `apt-get install -y haproxy` to compare)"
)


def available() -> bool:
    """Whether the haproxy binary is installed."""
    return shutil.which("haproxy") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, targets: Sequence[str], threads: int, mode: str) -> str:
    servers = "\n".join(f"    server t{i} {t}" for i, t in enumerate(targets))
    keep_alive = "    option http-keep-alive\n" if mode == "http" else ""
    return f"""global
    nbthread {threads}
    maxconn 4096

defaults
    mode {mode}
{keep_alive}    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend bench
    bind 127.0.0.1:{port}
    default_backend tasks

backend tasks
    balance roundrobin
{servers}
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def haproxy(
    targets: Sequence[str], threads: int = 1, mode: str = "http"
) -> Iterator[tuple[str, int]]:
    """Run HAProxy (round robin) in front of ``targets`` (``host:port``); yields its URL
    and process id, and stops it on the way out.

    ``threads`` is HAProxy's ``nbthread``: 1 gives it one core, as pyecs's balancer has.
    ``mode``: ``http`` parses requests and keeps connections alive on both sides (so a
    client's new connection need not be a new connection to the target: HAProxy reuses
    idle ones); ``tcp`` forwards each client connection over a connection of its own to
    the target, as pyecs's balancer does.
    """
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="pyecs-bench-haproxy-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(_config(port, targets, threads, mode))
        proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"haproxy exited with {proc.returncode}: {err}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.2),
                ):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("haproxy did not listen within 10 s")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}/", proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
