"""HAProxy in front of the same tasks, for the load-balancer benchmark's comparison column.

Debian's package: ``apt-get install -y haproxy``. The benchmark never installs it; without
the ``haproxy`` binary the column is skipped with a message saying so.
"""

from __future__ import annotations

import contextlib
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


def _config(port: int, targets: Sequence[str], threads: int) -> str:
    servers = "\n".join(f"    server t{i} {t}" for i, t in enumerate(targets))
    return f"""global
    nbthread {threads}
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend bench
    bind 127.0.0.1:{port}
    default_backend tasks

backend tasks
    balance roundrobin
{servers}
"""


@contextlib.contextmanager
def haproxy(targets: Sequence[str], threads: int = 1) -> Iterator[str]:
    """Run HAProxy (HTTP mode, round robin, keep-alive both ways) in front of ``targets``
    (``host:port``); yields its URL and stops it on the way out.

    ``threads`` is HAProxy's ``nbthread``: 1 gives it one core, as pyecs's balancer has.
    """
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="pyecs-bench-haproxy-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(_config(port, targets, threads))
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
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
