"""ProcessBackend driven directly through the Backend ABC: real local processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from pyecs.abc import ClusterContext, ContainerLaunch, ContainerStartError, TaskLaunch
from pyecs.backends.process import ProcessBackend
from pyecs.models.task import HealthStatus
from pyecs.models.task_definition import TaskDefinition

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform != "linux", reason="the process backend is tested on Linux"),
]

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = ClusterContext("test", "arn:aws:ecs:local-1:000000000000:cluster/test")
both_loops = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])

# A tiny TCP server: listens on $PORT (as the docs tell programs to), answers "pong".
TCP_SERVER = textwrap.dedent(
    """
    import os, socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((os.environ["PYECS_HOST"], int(os.environ["PORT"])))
    s.listen()
    print("listening", flush=True)
    while True:
        conn, _ = s.accept()
        conn.sendall(b"pong")
        conn.close()
    """
)


def launch(container: dict[str, Any], **task: Any) -> ContainerLaunch:
    """A one-container task launch; ``container`` is ECS JSON (name and memory defaulted)."""
    definition = {"name": "app", "image": "local/app", "memory": 64, **container}
    td = TaskDefinition.from_dict({"family": "test", "containerDefinitions": [definition], **task})
    task_id = os.urandom(16).hex()
    tl = TaskLaunch(
        task_arn=f"arn:aws:ecs:local-1:000000000000:task/test/{task_id}",
        task_id=task_id,
        instance_id="process-test",
        task_definition=td,
    )
    return ContainerLaunch(tl, td.containers[0])


@asynccontextmanager
async def opened(**kwargs: Any) -> AsyncIterator[ProcessBackend]:
    backend = ProcessBackend(**kwargs)
    await backend.open(CONTEXT)
    try:
        yield backend
    finally:
        await backend.aclose()


async def start(backend: ProcessBackend, container: dict[str, Any], **task: Any) -> str:
    rid = await backend.create_container(launch(container, **task))
    await backend.start_container(rid)
    return rid


async def run(backend: ProcessBackend, container: dict[str, Any]) -> tuple[int | None, list[str]]:
    """Create, start and wait for a container; return its exit code and log lines."""
    rid = await start(backend, container)
    with anyio.fail_after(10):
        result = await backend.wait_container(rid)
        lines = [line async for line in backend.logs(rid, follow=True)]
    return result.exit_code, lines


def sh(script: str) -> dict[str, Any]:
    return {"command": ["sh", "-c", script]}


def group_members(pgid: int) -> set[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(entry.name))
    return members


def wait_gone(pgid: int, timeout: float = 3.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


def marked(marker: str) -> set[int]:
    """Live processes whose environment holds ``PYECS_OWNER=<marker>``."""
    found = set()
    needle = f"PYECS_OWNER={marker}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes():
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def wait_unmarked(marker: str, timeout: float = 3.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


async def wait_members(pgid: int, count: int) -> set[int]:
    with anyio.fail_after(5):
        while len(members := group_members(pgid)) < count:
            await anyio.sleep(0.02)
    return members


# -- the instance --------------------------------------------------------------------------


async def test_reports_this_machine_as_one_instance() -> None:
    backend = ProcessBackend()
    (spec,) = await backend.open(CONTEXT)
    await backend.aclose()
    assert spec == backend.instance
    assert spec.cpu == (os.cpu_count() or 1) * 1024
    assert spec.memory > 0
    assert spec.id == f"process-{socket.gethostname()}"
    assert spec.attributes["ecs.instance-type"] == "process"
    assert spec.attributes["ecs.os-type"] == "linux"
    assert spec.attributes["ecs.cpu-architecture"] in ("x86_64", "arm64")
    assert spec.attributes["ecs.availability-zone"] == "local-1a"


async def test_open_returns_the_instance_with_overrides() -> None:
    backend = ProcessBackend(
        cpu=4096, memory=2048, availability_zone="local-1b", attributes={"team": "a"}
    )
    (spec,) = await backend.open(CONTEXT)
    await backend.aclose()
    assert (spec.cpu, spec.memory) == (4096, 2048)
    assert spec.attributes["ecs.availability-zone"] == "local-1b"
    assert spec.attributes["team"] == "a"
    assert ProcessBackend.capabilities.memory_limit is False
    assert ProcessBackend.capabilities.images is False


# -- programs, exit codes, logs --------------------------------------------------------------


@both_loops
async def test_exit_code_is_reported() -> None:
    async with opened() as backend:
        assert await run(backend, sh("exit 3")) == (3, [])


@both_loops
async def test_stdout_and_stderr_are_captured_in_order() -> None:
    async with opened() as backend:
        code, lines = await run(backend, sh("echo out1; echo err1 >&2; echo out2; printf tail"))
    assert code == 0
    assert lines == ["out1", "err1", "out2", "tail"]


async def test_entry_point_and_command_make_the_argv() -> None:
    async with opened() as backend:
        container = {"entryPoint": ["sh", "-c"], "command": ['echo "$0 $1"', "a", "b"]}
        assert await run(backend, container) == (0, ["a b"])


async def test_logs_follow_yields_lines_while_running_and_ends_at_exit() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("echo first; sleep 0.3; echo second"))
        seen: list[str] = []
        with anyio.fail_after(5):
            async for line in backend.logs(rid, follow=True):
                seen.append(line)
                if line == "first":
                    # Without follow, what was captured so far.
                    assert [x async for x in backend.logs(rid)] == ["first"]
        assert seen == ["first", "second"]


async def test_logs_are_complete_once_the_exit_is_reported() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("seq 1 20000"))
        assert (await backend.wait_container(rid)).exit_code == 0
        lines = [x async for x in backend.logs(rid)]
    assert lines == [str(n) for n in range(1, 20001)]


async def test_logs_end_at_exit_even_when_a_daemon_holds_the_output() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("setsid sleep 1000 & echo bye"))
        with anyio.fail_after(5):
            await backend.wait_container(rid)
            assert [x async for x in backend.logs(rid, follow=True)] == ["bye"]


async def test_remove_deletes_the_container_and_its_logs() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("echo hello"))
        await backend.wait_container(rid)
        assert [x async for x in backend.logs(rid, follow=True)] == ["hello"]
        await backend.remove_container(rid)
        await backend.remove_container(rid)  # a no-op the second time
        with pytest.raises(Exception, match="no container"):
            [x async for x in backend.logs(rid)]
        assert backend._tmp is not None
        assert not (backend._tmp / rid).exists()


async def test_no_entry_point_or_command_is_a_create_error() -> None:
    async with opened() as backend:
        with pytest.raises(ContainerStartError) as info:
            await backend.create_container(launch({}))
    assert info.value.code == "CannotCreateContainerError"
    assert "no entryPoint or command" in str(info.value)
    assert '"command": [...]' in str(info.value)


async def test_unknown_program_is_a_start_error() -> None:
    async with opened() as backend:
        rid = await backend.create_container(launch({"command": ["no-such-program-xyz"]}))
        with pytest.raises(ContainerStartError) as info:
            await backend.start_container(rid)
    assert info.value.code == "CannotStartContainerError"
    assert "executable file not found in $PATH" in str(info.value)


# -- environment and working directory ----------------------------------------------------


async def test_environment_wins_over_files_and_the_first_file_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ECS: ``environment`` over the files; with several files, the first value is used."""
    (tmp_path / "a.env").write_text("# comment\n\nA=from-file\nB=from-file\nC=x=y\n")
    (tmp_path / "b.env").write_text("B=from-second-file\nD=from-second-file\n")
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the current directory
    container = {
        **sh('echo "$A|$B|$C|$D"'),
        "environmentFiles": [{"value": "a.env", "type": "s3"}, {"value": "b.env", "type": "s3"}],
        "environment": [{"name": "A", "value": "explicit"}, {"name": "D", "value": "d"}],
    }
    async with opened() as backend:
        assert await run(backend, container) == (0, ["explicit|from-file|x=y|d"])


async def test_base_environment_is_minimal_unless_inherited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYECS_TEST_LEAK", "leaked")
    script = sh('echo "${PYECS_TEST_LEAK:-unset} ${PATH:+path}"')
    async with opened() as backend:
        assert await run(backend, script) == (0, ["unset path"])
    async with opened(inherit_environment=True) as backend:
        assert await run(backend, script) == (0, ["leaked path"])


async def test_secrets_come_from_the_python_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = {
        **sh('echo "$DB_PASSWORD"'),
        "secrets": [
            {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}
        ],
    }
    async with opened() as backend:
        with pytest.raises(ContainerStartError, match="set DB_PASSWORD there"):
            await backend.create_container(launch(container))
        monkeypatch.setenv("DB_PASSWORD", "s3cret")
        assert await run(backend, container) == (0, ["s3cret"])


async def test_working_directory(tmp_path: Path) -> None:
    async with opened() as backend:
        assert await run(backend, {**sh("pwd"), "workingDirectory": str(tmp_path)}) == (
            0,
            [str(tmp_path)],
        )
        missing = {**sh("pwd"), "workingDirectory": str(tmp_path / "missing")}
        rid = await backend.create_container(launch(missing))
        with pytest.raises(ContainerStartError, match="does not exist") as info:
            await backend.start_container(rid)
    assert info.value.code == "CannotStartContainerError"


async def test_ulimit_nofile_is_applied() -> None:
    container = {
        **sh("ulimit -n"),
        "ulimits": [{"name": "nofile", "softLimit": 123, "hardLimit": 456}],
    }
    async with opened() as backend:
        assert await run(backend, container) == (0, ["123"])


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_user_is_switched_when_root() -> None:
    async with opened() as backend:
        assert await run(backend, {**sh("id -u; id -g"), "user": "65534:65534"}) == (
            0,
            ["65534", "65534"],
        )


def test_another_user_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyecs.backends.process._config import resolve_user

    monkeypatch.setattr(os, "geteuid", lambda: 4321)
    monkeypatch.setattr(os, "getegid", lambda: 4321)
    assert resolve_user("4321", "app") is None  # the current user: nothing to switch
    with pytest.raises(ContainerStartError, match="only root can switch users") as info:
        resolve_user("0", "app")
    assert info.value.code == "CannotStartContainerError"
    with pytest.raises(ContainerStartError, match="unable to find user no-such-user"):
        resolve_user("no-such-user", "app")


# -- ports -------------------------------------------------------------------------------


@both_loops
async def test_dynamic_port_reaches_the_program() -> None:
    container = {
        "command": [sys.executable, "-c", TCP_SERVER],
        "portMappings": [{"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}],
    }
    async with opened() as backend:
        rid = await backend.create_container(launch(container))
        started = await backend.start_container(rid)
        tcp, udp = started.network_bindings
        assert (tcp.bind_ip, tcp.container_port, tcp.protocol) == ("127.0.0.1", 80, "tcp")
        assert (udp.container_port, udp.protocol) == (53, "udp")
        assert tcp.host_port > 0
        with anyio.fail_after(10):
            async for line in backend.logs(rid, follow=True):
                if line == "listening":
                    break
            stream = await anyio.connect_tcp("127.0.0.1", tcp.host_port)
            async with stream:
                assert await stream.receive() == b"pong"
        await backend.stop_container(rid, timeout=5)
        assert (await backend.wait_container(rid)).exit_code == 143  # 128 + SIGTERM


async def test_port_environment_variables() -> None:
    container = {
        **sh('echo "$PORT $PYECS_HOST $PYECS_PORT_80 $PYECS_PORT_53_UDP"'),
        "portMappings": [{"containerPort": 80}, {"containerPort": 53, "protocol": "udp"}],
    }
    async with opened() as backend:
        rid = await backend.create_container(launch(container))
        tcp, udp = (await backend.start_container(rid)).network_bindings
        await backend.wait_container(rid)
        lines = [x async for x in backend.logs(rid, follow=True)]
    assert lines == [f"{tcp.host_port} 127.0.0.1 {tcp.host_port} {udp.host_port}"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_static_port_is_used_as_is_and_a_taken_one_fails() -> None:
    port = free_port()
    container = {**sh("sleep 30"), "portMappings": [{"containerPort": 80, "hostPort": port}]}
    async with opened() as backend:
        rid = await backend.create_container(launch(container))
        (binding,) = (await backend.start_container(rid)).network_bindings
        assert binding.host_port == port
        # A second container asking for the same port while the first holds it.
        again = await backend.create_container(launch(container))
        with pytest.raises(ContainerStartError, match=f"port {port} is already in use"):
            await backend.start_container(again)
        await backend.stop_container(rid, timeout=5)
    with socket.socket() as taken:  # taken by something else on the machine
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = int(taken.getsockname()[1])
        container["portMappings"] = [{"containerPort": 80, "hostPort": busy}]
        async with opened() as backend:
            rid = await backend.create_container(launch(container))
            with pytest.raises(ContainerStartError) as info:
                await backend.start_container(rid)
    assert info.value.code == "CannotStartContainerError"
    assert f"port {busy} is already in use" in str(info.value)


async def test_host_network_mode_publishes_the_container_port() -> None:
    port = free_port()
    container = {**sh("echo $PORT"), "portMappings": [{"containerPort": port}]}
    async with opened() as backend:
        rid = await backend.create_container(launch(container, networkMode="host"))
        (binding,) = (await backend.start_container(rid)).network_bindings
        assert binding.host_port == port


# -- health checks -------------------------------------------------------------------------


async def collect_health(
    backend: ProcessBackend, rid: str, until: list[HealthStatus], timeout: float = 10
) -> list[HealthStatus]:
    seen: list[HealthStatus] = []
    with anyio.fail_after(timeout):
        async for status in backend.health(rid):
            seen.append(status)
            if seen == until:
                break
    return seen


@both_loops
async def test_health_turns_healthy_then_unhealthy(tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    flag.touch()
    container = {
        **sh("sleep 30"),
        "healthCheck": {
            "command": ["CMD-SHELL", f"test -f {flag}"],
            "interval": 5,
            "timeout": 5,
            "retries": 2,
        },
    }
    async with opened(health_check_time_scale=0.02) as backend:  # checks every 0.1 s
        rid = await start(backend, container)
        seen: list[HealthStatus] = []
        with anyio.fail_after(10):
            async for status in backend.health(rid):
                seen.append(status)
                if status == "HEALTHY":
                    flag.unlink()
                else:
                    break
        assert seen == ["HEALTHY", "UNHEALTHY"]


async def test_health_failures_in_start_period_do_not_count() -> None:
    # Fails for the first ~0.4 s (start period 0.6 s), then passes: never UNHEALTHY.
    marker = f"/tmp/pyecs-hc-{os.getpid()}-{time.monotonic_ns()}"
    container = {
        **sh(f"sleep 0.4; touch {marker}; sleep 30"),
        "healthCheck": {
            "command": ["CMD", "test", "-f", marker],
            "interval": 5,
            "retries": 1,
            "startPeriod": 30,
        },
    }
    try:
        async with opened(health_check_time_scale=0.02) as backend:
            rid = await start(backend, container)
            assert await collect_health(backend, rid, ["HEALTHY"]) == ["HEALTHY"]
    finally:
        Path(marker).unlink(missing_ok=True)


async def test_health_check_timeout_is_a_failure() -> None:
    container = {
        **sh("sleep 30"),
        "healthCheck": {
            "command": ["CMD", "sleep", "10"],
            "interval": 5,
            "timeout": 2,
            "retries": 1,
        },
    }
    async with opened(health_check_time_scale=0.02) as backend:
        rid = await start(backend, container)
        assert await collect_health(backend, rid, ["UNHEALTHY"]) == ["UNHEALTHY"]


async def test_no_health_check_reports_nothing() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("exit 0"))
        assert [s async for s in backend.health(rid)] == []


# -- stopping -------------------------------------------------------------------------------


@both_loops
async def test_stop_timeout_is_honoured_then_sigkill() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("trap '' TERM; echo ready; sleep 100"))
        async for line in backend.logs(rid, follow=True):
            assert line == "ready"
            break
        began = anyio.current_time()
        await backend.stop_container(rid, timeout=1.0)
        elapsed = anyio.current_time() - began
        assert (await backend.wait_container(rid)).exit_code == 137
    assert 1.0 <= elapsed < 3.0


async def test_sigterm_respecting_process_exits_promptly_with_its_code() -> None:
    async with opened() as backend:
        rid = await start(
            backend, sh("trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done")
        )
        async for _ in backend.logs(rid, follow=True):
            break
        began = anyio.current_time()
        await backend.stop_container(rid, timeout=10)
        assert anyio.current_time() - began < 2
        assert (await backend.wait_container(rid)).exit_code == 7
        await backend.stop_container(rid, timeout=10)  # a no-op once exited


async def test_processes_of_a_container_end_with_its_main_process() -> None:
    async with opened() as backend:
        rid = await start(backend, sh("sleep 1000 & echo started; sleep 0.2"))
        pid = backend.pid(rid)
        assert pid is not None
        await wait_members(pid, 2)
        assert (await backend.wait_container(rid)).exit_code == 0
        assert wait_gone(pid) == set()


async def test_aclose_kills_everything() -> None:
    backend = ProcessBackend()
    await backend.open(CONTEXT)
    pgids = []
    for _ in range(3):
        rid = await start(backend, sh("sleep 1000 & setsid sleep 1002 & sleep 1000"))
        pid = backend.pid(rid)
        assert pid is not None
        pgids.append(pid)
    for pgid in pgids:
        await wait_members(pgid, 2)
    marker = backend._marker
    with anyio.fail_after(5):
        while len(marked(marker)) < 9:  # the daemons left the group, not the marker
            await anyio.sleep(0.02)
    # (No fail_after here: the backend's task group, entered by open(), must be exited
    # at the same nesting level.)
    await backend.aclose()
    await backend.aclose()  # idempotent
    assert [wait_gone(pgid) for pgid in pgids] == [set(), set(), set()]
    assert wait_unmarked(marker) == set()


ORPHAN_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import anyio
from tests.backends.test_process_backend import CONTEXT, launch
from pyecs.backends import process
from pyecs.backends.process import ProcessBackend

if {no_watchdog!r}:
    process.Watchdog.start = lambda *args, **kwargs: None

async def main():
    backend = ProcessBackend()
    await backend.open(CONTEXT)
    # The main process, a grandchild in its group, and one that left the group.
    rid = await backend.create_container(launch({{"command": ["sh", "-c", {cmd!r}]}}))
    await backend.start_container(rid)
    print(backend.pid(rid), backend._marker, flush=True)
    await anyio.sleep(1000)

anyio.run(main, backend={loop!r})
"""


@pytest.fixture
def supervisor(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "supervisor.py"
    loop, cmd, no_watchdog = request.param
    script.write_text(
        ORPHAN_SCRIPT.format(root=str(ROOT), cmd=cmd, loop=loop, no_watchdog=no_watchdog)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


GROUP_AND_DAEMON = "setsid sleep 1002 & sleep 1000 & exec sleep 1001"


@pytest.mark.parametrize(
    "supervisor",
    [("asyncio", GROUP_AND_DAEMON, False), ("trio", GROUP_AND_DAEMON, False)],
    indirect=True,
    ids=["asyncio", "trio"],
)
def test_no_orphans_when_the_supervising_python_is_sigkilled(
    supervisor: subprocess.Popen[str],
) -> None:
    assert supervisor.stdout is not None
    pid, marker = supervisor.stdout.readline().split()
    pgid = int(pid)
    deadline = time.monotonic() + 5
    # (setsid runs in the group for an instant before it leaves it.)
    while (len(marked(marker)), len(group_members(pgid))) != (3, 2):
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(group_members(pgid)) == 2  # sleep 1000 and sleep 1001
    assert len(marked(marker)) == 3  # and the setsid sleep 1002
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    assert wait_gone(pgid, timeout=3) == set()
    assert wait_unmarked(marker, timeout=3) == set()


@pytest.mark.parametrize(
    "supervisor", [("asyncio", "exec sleep 1001", True)], indirect=True, ids=["asyncio"]
)
def test_without_a_watchdog_containers_die_with_their_parent(
    supervisor: subprocess.Popen[str],
) -> None:
    """The fallback: every container gets the parent-death signal (PR_SET_PDEATHSIG)."""
    assert supervisor.stdout is not None
    pgid = int(supervisor.stdout.readline().split()[0])
    assert len(group_members(pgid)) == 1
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    assert wait_gone(pgid, timeout=3) == set()


async def test_stopping_or_removing_a_created_container_ends_its_wait() -> None:
    async with opened() as backend:
        rid = await backend.create_container(launch(sh("exit 0")))
        await backend.stop_container(rid, timeout=1)
        assert (await backend.wait_container(rid)).exit_code is None
        with pytest.raises(Exception, match="cannot start"):
            await backend.start_container(rid)
        await backend.remove_container(rid)


async def test_container_port_range_gets_a_port_each() -> None:
    container = {
        **sh("echo $PYECS_PORT_7000 $PYECS_PORT_7002"),
        "portMappings": [{"containerPortRange": "7000-7002"}],
    }
    async with opened() as backend:
        rid = await backend.create_container(launch(container))
        bindings = (await backend.start_container(rid)).network_bindings
        await backend.wait_container(rid)
        lines = [x async for x in backend.logs(rid)]
    assert [b.container_port for b in bindings] == [7000, 7001, 7002]
    assert len({b.host_port for b in bindings}) == 3
    assert lines == [f"{bindings[0].host_port} {bindings[2].host_port}"]


@both_loops
async def test_usage_reads_proc_in_a_worker_thread_not_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The /proc scan reads a file per process of the machine: off the loop's thread."""
    import threading

    from pyecs.backends.process import _backend

    scanned_on: list[int] = []
    real = _backend.group_usage

    def spy(pgids: Any, proc: str = "/proc") -> Any:
        scanned_on.append(threading.get_ident())
        return real(pgids, proc)

    monkeypatch.setattr(_backend, "group_usage", spy)
    async with opened() as backend:
        rid = await start(backend, sh("while :; do :; done"))
        await anyio.sleep(0.3)
        usage = await backend.usage([rid, "no-such-container"])
        assert list(usage) == [rid]
        assert usage[rid].cpu_seconds > 0
        assert scanned_on and threading.get_ident() not in scanned_on
        assert await backend.usage(["no-such-container"]) == {}  # nothing to scan for
        assert len(scanned_on) == 1
