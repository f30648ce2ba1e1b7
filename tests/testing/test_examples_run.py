"""Every example runs, as a user would run it, on the process backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_support import owned_processes

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
ENV.pop("PYECS_BACKEND", None)
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]


@pytest.mark.parametrize(
    "script",
    [
        "autoscaling.py",
        "batch_jobs.py",
        "ecs_fidelity.py",
        "multi_container.py",
        "rolling_deployment.py",
    ],
)
def test_the_example_script_runs(script: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, script, "--backend", "process"],
        cwd=EXAMPLES,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, out + err
    assert out.splitlines()[-1] == "as expected", out
    assert owned_processes(proc.pid) == []


def test_the_demo_shows_the_service_metrics() -> None:
    """``make demo`` (examples/seed.py) prints a table of the service's metrics."""
    proc = subprocess.run(
        [sys.executable, "seed.py", "--backend", "process"],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=240,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines() if line}
    for metric, unit in [
        ("CPUUtilization", "%"),
        ("MemoryUtilization", "%"),
        ("RunningTaskCount", "tasks"),
    ]:
        assert rows[metric][-1] == unit, proc.stdout
    assert rows["RunningTaskCount"][:4] == ["2.0"] * 4, proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("service web-app is INACTIVE")


@pytest.mark.parametrize("extra", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_example_pytest_suite_passes(extra: list[str]) -> None:
    proc = subprocess.run(
        [*PYTEST, "--pyecs-backend=process", *extra],
        cwd=EXAMPLES / "pytest_suite",
        capture_output=True,
        text=True,
        timeout=240,
        env=ENV,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout
