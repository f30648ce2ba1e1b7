"""Task definitions and helpers shared by the plugin tests (ECS JSON for the process backend)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: A tiny HTTP server on $PORT that prints a line first; for the process backend.
WEB_COMMAND = (
    'echo web-started-$PYECS_CONTAINER_NAME; exec python3 -c "import http.server, os; '
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), "
    'http.server.SimpleHTTPRequestHandler).serve_forever()"'
)


def web_td(family: str = "web", **container: Any) -> dict[str, Any]:
    """A one-container web service on the process backend, container port 8080."""
    return {
        "family": family,
        "containerDefinitions": [
            {
                "name": "web",
                "image": "local/web",
                "memory": 64,
                "command": ["sh", "-c", WEB_COMMAND],
                "workingDirectory": "/",
                "portMappings": [{"containerPort": 8080}],
                **container,
            }
        ],
    }


def job_td(family: str, command: str) -> dict[str, Any]:
    """A one-container job running ``sh -c command``."""
    return {
        "family": family,
        "containerDefinitions": [
            {"name": "job", "image": "local/job", "memory": 32, "command": ["sh", "-c", command]}
        ],
    }


def owned_processes(owner_pid: int) -> list[int]:
    """Processes whose environment says the pyecs process ``owner_pid`` started them."""
    marker = f"PYECS_OWNER={owner_pid}-".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
