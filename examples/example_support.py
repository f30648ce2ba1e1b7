"""What the examples share: picking a backend, and commands that run on it.

Every example takes ``--backend auto|docker|process`` (auto: Docker when an engine
answers, else local processes). The same ECS task definitions run on both, with two
differences this module hides:

- the image: on Docker a busybox image built locally (no registry is needed), on the
  process backend ``image`` is ignored;
- an HTTP server: busybox ``httpd`` on Docker, Python's ``http.server`` as a local process
  (which listens on ``$PORT``, the host port the process backend picked).
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from pyecs.abc import Backend

#: The image the Docker flavour runs (built from Debian's static busybox).
IMAGE = "pyecs-examples/busybox:latest"


def parse_backend(description: str | None) -> str:
    """``--backend`` from the command line: ``docker`` or ``process``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", choices=("auto", "docker", "process"), default="auto")
    wanted = parser.parse_args().backend
    if wanted == "auto":
        from pyecs.testing import resolve_backend

        return resolve_backend("auto").name
    return str(wanted)


def make(name: str) -> Backend:
    """A backend of that kind, ready for the examples.

    Built by :func:`pyecs.testing.make_backend`: the library's backend, wrapped so that it
    also keeps the last output lines of each container it removes (``backend.removed_logs``),
    as a log service would. On the process backend, health checks run at 0.3x their
    task-definition timings (ECS's shortest interval is 5 s), so that the examples
    finish in seconds.
    """
    from pyecs.testing import make_backend

    if name == "docker":
        from pyecs.testing.images import docker_client, ensure_busybox_image

        client = docker_client()
        try:
            ensure_busybox_image(client, IMAGE)
        finally:
            client.close()
        return make_backend("docker", pull="never")
    return make_backend("process", health_check_time_scale=0.3)


def http_server(backend: str, body: str, port: int = 8080) -> list[str]:
    """A command serving ``body`` at ``/`` on container port ``port``."""
    if backend == "docker":
        script = (
            f"mkdir -p /www && echo {shlex.quote(body)} > /www/index.html && "
            f"exec httpd -f -p {port} -h /www"
        )
        return ["sh", "-c", script]
    script = (
        "import http.server, os, sys\n"
        "body = sys.argv[1].encode() + b'\\n'\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n"
    )
    return ["python3", "-c", script, body]


def http_check(backend: str, port: int = 8080) -> dict[str, Any]:
    """An ECS healthCheck that GETs ``/`` inside the container."""
    if backend == "docker":
        test = f"wget -q -O /dev/null http://127.0.0.1:{port}/ || exit 1"
    else:
        test = (
            'python3 -c "import os, urllib.request; '
            "urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ['PORT'], timeout=2)\""
        )
    return {"command": ["CMD-SHELL", test], "interval": 5, "timeout": 5, "retries": 3}


def container(backend: str, name: str, command: list[str], **fields: Any) -> dict[str, Any]:
    """An ECS container definition (JSON) with the image of this backend.

    ``stopTimeout`` is 2 s (ECS: 30): a program that is PID 1 of its container, like
    ``sleep`` or busybox ``httpd`` here, ignores SIGTERM and waits for the SIGKILL.
    """
    return {
        "name": name,
        "image": IMAGE,
        "memory": 64,
        "command": command,
        "stopTimeout": 2,
        **fields,
    }
