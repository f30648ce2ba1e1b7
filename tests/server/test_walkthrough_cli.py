"""The README walkthrough, through the aws command line against `pyecs serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import busybox_image_or_skip

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

busybox_image = pytest.fixture(scope="module")(busybox_image_or_skip)


class ServeProcess:
    """``pyecs serve`` in a subprocess, and the environment that points the aws CLI at it."""

    def __init__(self, *args: str) -> None:
        state = () if "--state" in args else ("--state", ":memory:")  # never the user's
        self.proc = subprocess.Popen(
            [str(BIN / "pyecs"), "serve", "--port", "0", *state, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + self.proc.stderr.read()
        self.url = line.split()[-1]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_ENDPOINT_URL_ECS": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def aws(self, *args: str, cwd: Path | None = None) -> dict[str, object]:
        done = subprocess.run(
            [str(BIN / "aws"), "ecs", *args, "--output", "json"],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=120)
        return err


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[type[ServeProcess]]:
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        server = ServeProcess(*args)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        if server.proc.poll() is None:
            server.stop()


def _walkthrough(server: ServeProcess, definition: dict[str, object], tmp_path: Path) -> None:
    (tmp_path / "task-definition.json").write_text(json.dumps(definition))
    server.aws("create-cluster", "--cluster-name", "production")
    server.aws(
        "register-task-definition", "--cli-input-json", "file://task-definition.json", cwd=tmp_path
    )
    server.aws(
        "create-service", "--cluster", "production", "--service-name", "web-app",
        "--task-definition", "web-app:1", "--desired-count", "2",
    )  # fmt: skip
    server.aws("wait", "services-stable", "--cluster", "production", "--services", "web-app")
    service = server.aws("describe-services", "--cluster", "production", "--services", "web-app")
    assert service["services"][0]["runningCount"] == 2  # type: ignore[index]
    arns = server.aws("list-tasks", "--cluster", "production")["taskArns"]
    tasks = server.aws("describe-tasks", "--cluster", "production", "--tasks", *arns)  # type: ignore[misc]
    for task in tasks["tasks"]:  # type: ignore[attr-defined]
        port = task["containers"][0]["networkBindings"][0]["hostPort"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200


def test_walkthrough_on_the_process_backend(serve: type[ServeProcess], tmp_path: Path) -> None:
    definition = json.loads((ROOT / "examples" / "web-app.process.json").read_text())
    server = serve("--backend", "process", "--task-healthy-delay", "0.5")
    _walkthrough(server, definition, tmp_path)
    server.stop()


@pytest.mark.docker
def test_walkthrough_on_docker(
    serve: type[ServeProcess], tmp_path: Path, busybox_image: str
) -> None:
    definition = json.loads((ROOT / "examples" / "web-app.docker.json").read_text())
    definition["containerDefinitions"][0]["image"] = busybox_image  # type: ignore[index]
    server = serve("--backend", "docker", "--task-healthy-delay", "0.5")
    owner = f"pyecs.owner={socket.gethostname()}:{server.proc.pid}"
    _walkthrough(server, definition, tmp_path)
    server.stop()
    import docker

    client = docker.from_env()
    try:
        # This server's containers (other runs on the engine may have a "production" too).
        assert client.containers.list(all=True, filters={"label": owner}) == []
    finally:
        client.close()
