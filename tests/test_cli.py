"""The ``pyecs`` command line, run as a subprocess with the process backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")

ENV = {**os.environ, "PYECS_BACKEND": "process", "PYTHONUNBUFFERED": "1"}
COMMANDS = ["validate", "run", "up", "gc"]


def pyecs(*args: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m pyecs.cli ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "pyecs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        **kwargs,
    )


def write_td(path: Path, command: str, **container: Any) -> Path:
    """A one-container task definition running ``sh -c COMMAND``."""
    td = {
        "family": path.stem,
        "containerDefinitions": [
            {
                "name": "app",
                "image": "local/app",
                "memory": 32,
                "command": ["sh", "-c", command],
                **container,
            }
        ],
    }
    path.write_text(json.dumps(td))
    return path


def owned_processes(owner_pid: int) -> list[int]:
    """Processes started by the pyecs process ``owner_pid`` (its containers)."""
    marker = f"PYECS_OWNER={owner_pid}-".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command: str | None) -> None:
    args = ["--help"] if command is None else [command, "--help"]
    out = pyecs(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: pyecs")


def test_the_installed_script_is_pyecs() -> None:
    script = Path(sys.executable).with_name("pyecs")
    assert script.exists(), "pip install -e . installs the `pyecs` script"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("pyecs ")


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    good = write_td(tmp_path / "good.json", "true")
    out = pyecs("validate", str(good))
    assert out.returncode == 0
    assert f"{good}: ok" in out.stdout


def test_validate_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "family": "bad",
                "containerDefinitions": [
                    {"name": "a", "image": "x", "portMappings": [{"containerPort": 99999}]},
                    {
                        "name": "b",
                        "image": "y",
                        "memory": 8,
                        "dependsOn": [{"containerName": "a", "condition": "HEALTHY"}],
                    },
                ],
            }
        )
    )
    good = write_td(tmp_path / "good.json", "true")
    out = pyecs("validate", str(good), str(bad), str(tmp_path / "missing.json"))
    assert out.returncode == 1
    assert "containerDefinitions[0].portMappings[0].containerPort:" in out.stdout
    assert "containerDefinitions[1].dependsOn[0].condition:" in out.stdout
    assert "containerDefinitions[0].memory:" in out.stdout
    assert "missing.json: cannot read" in out.stdout
    as_json = json.loads(pyecs("validate", "--json", str(bad)).stdout)
    assert as_json[0]["valid"] is False
    assert len(as_json[0]["problems"]) == 3


def test_validate_points_at_malformed_json(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"family": "x",\n  "containerDefinitions": [}')
    out = pyecs("validate", str(broken))
    assert out.returncode == 1
    assert "line 2" in out.stdout


def test_validate_reports_a_lone_surrogate_in_command(tmp_path: Path) -> None:
    td = write_td(tmp_path / "surrogate.json", "true")
    # JSON text "\\ud800" decodes to a lone surrogate, which no process argument can hold.
    td.write_text(td.read_text().replace('"true"', '"tr\\ud800ue"'))
    out = pyecs("validate", str(td))
    assert out.returncode == 1, out.stdout
    assert (
        "containerDefinitions[0].command[2]: is not valid Unicode (lone surrogate \\ud800 at "
        "offset 2)" in out.stdout
    )
    as_json = json.loads(pyecs("validate", "--json", str(td)).stdout)
    assert as_json[0]["problems"][0]["path"] == "containerDefinitions[0].command[2]"


def test_validate_shows_a_lone_surrogate_in_a_key_escaped(tmp_path: Path) -> None:
    """An unknown key quoted in a problem may hold one: it is printed, never a crash."""
    td = tmp_path / "key.json"
    td.write_text('{"fam\\ud800ily": "x", "containerDefinitions": []}')
    out = pyecs("validate", str(td))
    assert out.returncode == 1, out.stderr
    assert "  fam\\ud800ily: unknown field 'fam\\ud800ily'; did you mean 'family'?" in out.stdout
    assert out.stderr == ""


def test_run_streams_output_and_exits_with_the_essential_exit_code(tmp_path: Path) -> None:
    td = write_td(tmp_path / "job.json", "echo out; echo err >&2; exit 3")
    out = pyecs("run", str(td))
    assert out.returncode == 3, out.stderr
    assert out.stdout.splitlines() == ["out", "err"]
    assert "backend process (PYECS_BACKEND)" in out.stderr


def test_run_prefixes_lines_of_several_tasks(tmp_path: Path) -> None:
    td = write_td(tmp_path / "job.json", "echo hello")
    out = pyecs("run", str(td), "--count", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.endswith(" app | hello") for line in lines)
    assert len({line.split()[0] for line in lines}) == 3


def test_run_applies_overrides(tmp_path: Path) -> None:
    td = write_td(tmp_path / "job.json", "exit 9")
    overrides = {"containerOverrides": [{"name": "app", "command": ["sh", "-c", "echo hi"]}]}
    out = pyecs("run", str(td), "--overrides", json.dumps(overrides))
    assert (out.returncode, out.stdout) == (0, "hi\n")


def test_run_reports_a_task_that_cannot_start(tmp_path: Path) -> None:
    td = tmp_path / "nope.json"
    td.write_text(
        json.dumps(
            {
                "family": "nope",
                "containerDefinitions": [
                    {"name": "app", "image": "x", "memory": 8, "command": ["no-such-program-x"]}
                ],
            }
        )
    )
    out = pyecs("run", str(td))
    assert out.returncode == 125
    assert "could not start" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.json"], "missing.json: no such file"),
        (["run", "{bad}", "--count", "0"], "--count must be 1 or more"),
        (["up", "{bad}"], "invalid task definition"),
        (["run", "{good}", "--overrides", "[1]"], "--overrides must be a JSON object"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"family": "bad", "containerDefinitions": []}))
    good = write_td(tmp_path / "good.json", "true")
    args = [a.format(bad=bad, good=good) for a in args]
    out = pyecs(*args, cwd=tmp_path)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, out.stderr
    assert message in errors[0]
    assert errors[0].startswith("pyecs: error: ")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "{good}", "--timeout", "-5"], "argument --timeout: must be a number of seconds"),
        (["run", "{good}", "--timeout", "nan"], "got 'nan'"),
        (["run", "{good}", "--timeout", "soon"], "got 'soon'"),
        (["up", "{good}", "--healthy-delay", "-1"], "argument --healthy-delay: must be a number"),
        (["up", "{good}", "--healthy-delay", "nan"], "got 'nan'"),
        (["up", "{good}", "--healthy-delay", "inf"], "got 'inf'"),
    ],
)
def test_bad_seconds_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    """As argparse reports a bad option: exit code 2, before anything runs."""
    good = write_td(tmp_path / "good.json", "echo ran")
    out = pyecs(*[a.format(good=good) for a in args])
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert out.stderr.splitlines()[0].startswith("usage: pyecs")
    assert out.stdout == ""


def test_run_accepts_an_infinite_timeout(tmp_path: Path) -> None:
    td = write_td(tmp_path / "job.json", "echo ok")
    out = pyecs("run", str(td), "--timeout", "inf")
    assert (out.returncode, out.stdout) == (0, "ok\n"), out.stderr


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_run_stops_its_tasks_on_a_signal_and_exits_128_plus_its_number(
    tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    td = write_td(tmp_path / "sleepy.json", "echo started; exec sleep 60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyecs.cli", "run", str(td)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        assert owned_processes(proc.pid)
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == code
        assert "stopping the tasks" in (proc.stderr.read() if proc.stderr else "")
    finally:
        proc.kill()
        proc.wait()
    assert owned_processes(proc.pid) == []


WEB = (
    "exec python3 -c \"import http.server, os; http.server.ThreadingHTTPServer(('127.0.0.1', "
    "int(os.environ['PORT'])), http.server.SimpleHTTPRequestHandler).serve_forever()\""
)


def test_up_runs_a_service_until_ctrl_c_and_leaves_nothing(tmp_path: Path) -> None:
    health = {
        "command": [
            "CMD-SHELL",
            'python3 -c "import socket, os; socket.create_connection(('
            "'127.0.0.1', int(os.environ['PORT'])))\"",
        ],
        "interval": 5,
        "retries": 3,
    }
    td = write_td(
        tmp_path / "web.json",
        WEB,
        portMappings=[{"containerPort": 8080}],
        healthCheck=health,
        workingDirectory=str(tmp_path),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyecs.cli", "up", str(td), "--desired-count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "pyecs up ended early: " + (proc.stderr.read() if proc.stderr else "")
            lines.append(line.rstrip("\n"))
            if line.startswith("service web is stable"):
                break
        children = owned_processes(proc.pid)
        assert len(children) >= 2
        # The table that follows shows both tasks HEALTHY with their endpoints.
        table = [proc.stdout.readline() for _ in range(3)]
        assert table[0].split()[:3] == ["TASK", "STATUS", "HEALTH"]
        assert all(" RUNNING " in row and " HEALTHY " in row for row in table[1:])
        assert all("app:8080 -> 127.0.0.1:" in row for row in table[1:])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        rest = proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    text = "\n".join(lines)
    assert "waiting for a steady state: web: " in text
    assert "(service web) has started 2 tasks" in text
    assert "(service web) has reached a steady state." in text
    assert "has stopped 2 running tasks" in rest
    assert owned_processes(proc.pid) == []
    for pid in children:
        assert not Path(f"/proc/{pid}").exists()


def test_gc_says_what_it_removed() -> None:
    out = pyecs("gc", "--no-docker")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
