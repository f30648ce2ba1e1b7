"""The pytest plugin, driven through ``pytester`` in subprocesses (as users run it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from plugin_support import job_td, owned_processes, web_td

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")

PROCESS = "--pyecs-backend=process"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess, like a user's run (the plugin loads by its entry point)."""
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=180)


def test_installing_pyecs_registers_the_plugin(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--pyecs-backend=*", "*--pyecs-keep*"])
    pytester.makepyfile("def test_nothing(): pass")
    quiet = run(pytester)
    quiet.assert_outcomes(passed=1)
    quiet.stdout.fnmatch_lines(["plugins:*pyecs-*"])
    assert "backend:" not in quiet.stdout.str(), "a session without pyecs fixtures is untouched"


def test_async_sync_module_and_session_fixtures_bring_services_up(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_fixtures=f"""
        import urllib.request
        import pytest
        import pyecs, pyecs.sync, pyecs.testing

        TD = {web_td()!r}

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def get(url):
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status

        @pytest.mark.anyio
        async def test_async(pyecs_cluster):
            assert isinstance(pyecs_cluster, pyecs.Cluster)
            up = await pyecs_cluster.up(TD, desired_count=2, http_path="/")
            assert isinstance(up.service, pyecs.Service)
            assert len(up.endpoints) == 2 and len(set(up.endpoints)) == 2
            assert all(e.startswith("127.0.0.1:") for e in up.endpoints)
            assert up.url == "http://" + up.endpoints[0]
            assert [get(u) for u in up.urls] == [200, 200]

        def test_sync(pyecs_cluster_sync):
            assert isinstance(pyecs_cluster_sync, pyecs.sync.Cluster)
            up = pyecs_cluster_sync.up(TD, http_path="/")
            assert isinstance(up.service, pyecs.sync.Service)
            assert get(up.url) == 200

        def test_module_first(pyecs_cluster_module):
            pyecs_cluster_module.up(TD, service_name="shared")

        def test_module_second(pyecs_cluster_module):
            assert pyecs_cluster_module.service("shared").running_count == 1

        def test_session(pyecs_cluster_session, pyecs_backend_name):
            assert pyecs_backend_name == "process"
            assert pyecs_cluster_session.name.startswith("pytest-main-session-")
            up = pyecs_cluster_session.up(TD, container="web", port=8080, http_path="/")
            assert get(up.url) == 200
        """
    )
    result = run(pytester, PROCESS, "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*pyecs*", "backend: process (--pyecs-backend)"])


def test_a_failing_test_gets_its_tasks_logs_even_of_crashed_tasks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_fail=f"""
        import pytest

        CRASH = {job_td("crash", "echo crash-output-of-$PYECS_CONTAINER_NAME; exit 4")!r}
        WEB = {web_td()!r}

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        def test_sync_fails(pyecs_cluster_sync):
            c = pyecs_cluster_sync
            c.register_task_definition(CRASH)
            (task,) = c.run_task("crash").tasks
            c.wait_tasks_stopped([task.arn], timeout=30)
            c.up(WEB)
            assert False, "the service misbehaved"

        @pytest.mark.anyio
        async def test_async_fails(pyecs_cluster):
            await pyecs_cluster.register_task_definition(CRASH)
            (task,) = (await pyecs_cluster.run_task("crash")).tasks
            await pyecs_cluster.wait_tasks_stopped([task.arn], timeout=30)
            assert False

        def test_passes(pyecs_cluster_sync):
            pyecs_cluster_sync.up(WEB)
        """
    )
    result = run(pytester, PROCESS)
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert out.count("Captured pyecs cluster pytest-main-test_") == 2
    assert out.count("crash-output-of-job") == 2, "logs of removed containers are kept"
    assert "EssentialContainerExited" in out
    assert "exit code 4" in out
    assert "web-started-web" in out
    assert "test_passes" not in out.split("short test summary")[0].split("FAILURES")[1]


def test_up_says_why_a_service_does_not_get_stable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crashloop=f"""
        import pyecs, pytest

        def test_crashloop(pyecs_cluster_sync):
            with pytest.raises(pyecs.TimeoutError) as info:
                pyecs_cluster_sync.up({job_td("crashy", "echo dying-now; exit 2")!r}, timeout=3)
            message = str(info.value)
            assert "not stable after 3" in message
            assert "stopped tasks:" in message
            assert "exit code 2" in message
            assert "| dying-now" in message
        """
    )
    run(pytester, PROCESS).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("option", "backend: simulated (--pyecs-backend)"),
        ("env", "backend: simulated (PYECS_BACKEND)"),
        ("ini", "backend: simulated (pyecs_backend in the ini file)"),
        ("auto", "backend: process (auto: no Docker engine answered*"),
    ],
)
def test_the_backend_is_chosen_by_option_env_ini_or_auto(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, expected: str
) -> None:
    monkeypatch.delenv("PYECS_BACKEND", raising=False)
    args: list[str] = []
    if how == "option":
        args = ["--pyecs-backend=simulated"]
    elif how == "env":
        monkeypatch.setenv("PYECS_BACKEND", "simulated")
    elif how == "ini":
        pytester.makeini("[pytest]\npyecs_backend = simulated\n")
    else:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/no-docker.sock")
    pytester.makepyfile("def test_it(pyecs_backend_name): pass")
    result = run(pytester, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([expected])


def test_parallel_workers_never_share_a_cluster(pytester: pytest.Pytester) -> None:
    names = pytester.path / "names"
    names.mkdir()
    pytester.makepyfile(
        test_parallel=f"""
        import pathlib, pytest, time

        def record(cluster):
            (pathlib.Path({str(names)!r}) / cluster.name).write_text("")

        @pytest.mark.parametrize("i", range(6))
        def test_function(pyecs_cluster_sync, i):
            record(pyecs_cluster_sync)
            pyecs_cluster_sync.up({web_td()!r})
            time.sleep(0.2)

        @pytest.mark.parametrize("i", range(2))
        def test_session(pyecs_cluster_session, i):
            record(pyecs_cluster_session)
        """
    )
    result = run(pytester, PROCESS, "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=8)
    recorded = sorted(p.name for p in names.iterdir())
    assert len(recorded) >= 7  # 6 function clusters + a session cluster per worker used
    workers = {name.split("-")[1] for name in recorded}
    assert workers == {"gw0", "gw1"}, recorded


def test_a_run_killed_mid_session_leaves_nothing_and_the_next_run_is_clean(
    pytester: pytest.Pytester,
) -> None:
    ready = pytester.path / "ready.json"
    pytester.makepyfile(
        test_long=f"""
        import json, pathlib, time

        def test_hangs(pyecs_cluster_session):
            c = pyecs_cluster_session
            up = c.up({web_td()!r}, desired_count=2)
            backend = c.backend
            pids = [c.portal.call(backend.pid, t.containers[0].runtime_id) for t in up.tasks]
            pathlib.Path({str(ready)!r}).write_text(json.dumps(pids))
            time.sleep(120)
        """,
        test_ok=f"""
        def test_ok(pyecs_cluster_sync):
            pyecs_cluster_sync.up({web_td()!r})
        """,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", PROCESS, "test_long.py"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), "the first session did not bring its service up"
        time.sleep(0.1)
        pids = json.loads(ready.read_text())
        assert len(pids) == 2 and all(Path(f"/proc/{p}").exists() for p in pids)
        proc.send_signal(signal.SIGKILL)  # no cleanup code of pytest or pyecs runs
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        owned_processes(proc.pid) or any(Path(f"/proc/{p}").exists() for p in pids)
    ):
        time.sleep(0.05)
    assert owned_processes(proc.pid) == [], "the killed run's containers must die with it"
    result = run(pytester, PROCESS, "test_ok.py")
    result.assert_outcomes(passed=1)
    from pyecs.ops import process_leftovers

    killed, dirs = process_leftovers(kill=False)
    assert not [d for d in dirs if f"pyecs-process-{proc.pid}-" in d]
    assert not [p for p in killed if p in pids]


def test_the_session_start_removes_leftovers_of_dead_runs(pytester: pytest.Pytester) -> None:
    """An orphan whose owner is dead (its watchdog died too) is killed at session start."""
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs (reuse within the test is unlikely)
    token = "0123456789abcdef"
    orphan = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, "PYECS_OWNER": f"{dead.pid}-{token}"}
    )
    leftover_dir = Path("/tmp") / f"pyecs-process-{dead.pid}-{token}"
    leftover_dir.mkdir(exist_ok=True)
    try:
        pytester.makepyfile("def test_it(pyecs_cluster_sync): pass")
        result = run(pytester, PROCESS)
        result.assert_outcomes(passed=1)
        assert orphan.wait(timeout=10) == -signal.SIGKILL
        assert not leftover_dir.exists()
        result.stdout.fnmatch_lines(["leftovers of earlier runs: removed 1 processes: *"])
    finally:
        orphan.kill()
        orphan.wait()


def test_keep_says_what_the_process_backend_cannot_keep(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_fails(pyecs_cluster_sync):
            pyecs_cluster_sync.up({web_td()!r})
            assert False
        """
    )
    result = run(pytester, PROCESS, "--pyecs-keep")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*not kept: the process backend's tasks cannot outlive pytest*"])


def test_the_fixture_machinery_is_cheap_on_the_simulated_backend(
    pytester: pytest.Pytester,
) -> None:
    td = job_td("sim", "true")
    td["containerDefinitions"][0]["healthCheck"] = {"command": ["CMD", "true"]}
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.parametrize("i", range(30))
            def test_many(pyecs_cluster_sync, i):
                up = pyecs_cluster_sync.up({td!r}, desired_count=3)
                assert len(up.tasks) == 3
            """
        )
    )
    started = time.monotonic()
    result = run(pytester, "--pyecs-backend=simulated")
    result.assert_outcomes(passed=30)
    assert time.monotonic() - started < 30
