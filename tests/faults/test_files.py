"""Files pyecs is given are looked at before they are read, and read with a bound.

A task-definition path or an ``environmentFiles`` entry may name ``/dev/zero``, a FIFO that
nobody writes to, a directory, a symbolic link loop or a huge file: pyecs says so, at once,
instead of reading until memory runs out or blocking its event loop for ever. A bad
environment file fails its own task (TaskFailedToStart), never the cluster.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from files_support import busybox_image, no_docker_leftovers, one_container

import pyecs
from pyecs._files import ENV_FILE_LIMIT, read_bounded
from pyecs.backends import ProcessBackend
from pyecs.ecs._converter import TASK_DEFINITION_FILE_LIMIT

__all__ = ["busybox_image", "no_docker_leftovers"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="FIFOs and /dev: Linux")

both_loops = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
FOREVER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
GIB = 1024**3


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    # An unbounded read fails fast with MemoryError here, instead of eating the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * GIB, 2 * GIB))


def pyecs_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pyecs.cli ARGS`` with 2 GiB of address space and 30 s at most."""
    env = {**os.environ, "PYECS_BACKEND": "process"}
    return subprocess.run(
        [sys.executable, "-m", "pyecs.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env=env,
        preexec_fn=_limit_memory,
    )


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk space (reading it all would take RAM)."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


def symlink_loop(tmp_path: Path, name: str) -> Path:
    (tmp_path / f"{name}.other").symlink_to(tmp_path / name)
    (tmp_path / name).symlink_to(tmp_path / f"{name}.other")
    return tmp_path / name


# -- task-definition files -----------------------------------------------------------------


def test_validate_dev_zero_says_it_is_a_device(tmp_path: Path) -> None:
    out = pyecs_cli("validate", "/dev/zero", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout == (
        "/dev/zero: cannot read: a character device, not a regular file; use the path of a "
        "task-definition JSON file\n"
    )


@pytest.mark.parametrize("command", ["run", "up"])
def test_run_and_up_refuse_dev_zero_at_once(tmp_path: Path, command: str) -> None:
    out = pyecs_cli(command, "/dev/zero", cwd=tmp_path)
    assert out.returncode != 0
    assert "pyecs: error: /dev/zero: a character device, not a regular file" in out.stderr


def test_validate_a_fifo_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "td.json")
    out = pyecs_cli("validate", "td.json", cwd=tmp_path)
    assert out.returncode == 1
    assert "td.json: cannot read: a FIFO (named pipe), not a regular file" in out.stdout


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    sparse(tmp_path / "td.json", 8 * GIB)  # 8 GiB could not be read within 2 GiB of memory
    out = pyecs_cli("validate", "td.json", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout == (
        f"td.json: cannot read: {8 * GIB} bytes, more than the {TASK_DEFINITION_FILE_LIMIT} "
        "bytes pyecs reads from a task-definition JSON file; ECS allows at most 65536 bytes "
        "of task definition JSON\n"
    )


def test_the_64_kib_limit_counts_json_not_indentation(tmp_path: Path) -> None:
    """ECS counts the definition's JSON, not the file's whitespace: a pretty-printed file
    over 64 KiB is fine when its JSON is within it, and too much JSON is still refused."""
    env = [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(900)]
    td = one_container("pretty", command=["true"], environment=env)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(td, indent=12))
    assert pretty.stat().st_size > 65536 > len(json.dumps(td, separators=(",", ":")))
    assert pyecs_cli("validate", "pretty.json", cwd=tmp_path).returncode == 0

    env += [{"name": f"MORE_{i}", "value": "x" * 40} for i in range(900)]
    (tmp_path / "big.json").write_text(json.dumps(td))
    out = pyecs_cli("validate", "big.json", cwd=tmp_path)
    assert out.returncode == 1
    assert "ECS allows at most 65536" in out.stdout


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_symlink_loop_is_reported_as_one(tmp_path: Path, command: str) -> None:
    symlink_loop(tmp_path, "td.json")
    out = pyecs_cli(command, "td.json", cwd=tmp_path)
    assert out.returncode == 1
    assert "td.json: " in out.stdout + out.stderr
    assert "symbolic link loop" in out.stdout + out.stderr
    assert "no such file" not in (out.stdout + out.stderr).lower()


def test_from_file_errors_keep_their_os_error_types(tmp_path: Path) -> None:
    """Code that catches FileNotFoundError or OSError around from_file keeps working."""
    with pytest.raises(FileNotFoundError):
        pyecs.TaskDefinition.from_file(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError, match="a directory, not a regular file"):
        pyecs.TaskDefinition.from_file(tmp_path)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(FileNotFoundError, match=r"a symbolic link to .*gone\.json.*does not exist"):
        pyecs.TaskDefinition.from_file(tmp_path / "dangling.json")


@pytest.mark.anyio
async def test_a_fifo_swapped_in_after_the_check_cannot_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the look (stat) and the open, the path may become a FIFO: the open does not
    wait for a writer, and what was opened is looked at again."""
    fifo = tmp_path / "env"
    os.mkfifo(fifo)
    regular = os.stat(__file__)
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, **kw: regular if p == str(fifo) else real_stat(p, **kw)
    )
    with anyio.fail_after(5), pytest.raises(OSError, match="a FIFO"):
        await anyio.to_thread.run_sync(
            lambda: read_bounded(fifo, 1 << 20, what="a test file"), abandon_on_cancel=True
        )


# -- environment files ---------------------------------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "app.env")
    return tmp_path / "app.env"


def _write(data: bytes) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        (tmp_path / "app.env").write_bytes(data)
        return tmp_path / "app.env"

    return make


#: (id, how to make the file, what the stopped reason says after ``environmentFiles[0]``)
BAD_ENV_FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("fifo", _fifo, "cannot be read: a FIFO (named pipe), not a regular file"),
    ("not-utf8", _write(b"A=1\nB=caf\xe9\n"), "is not UTF-8 text (byte 0xe9 on line 2)"),
    ("nul-byte", _write(b"A=1\nB=x\x00y\n"), "has a NUL byte on line 2"),
    ("no-name", _write(b"A=1\n=value\n"), "line 2 has no variable name before '='"),
    ("missing", lambda p: p / "missing.env", "cannot be read: No such file or directory"),
    ("directory", lambda p: p, "cannot be read: a directory, not a regular file"),
    ("symlink-loop", lambda p: symlink_loop(p, "app.env"), "cannot be read: a symbolic link loop"),
    (
        "too-big",
        lambda p: sparse(p / "app.env", 8 * GIB),
        f"cannot be read: {8 * GIB} bytes, more than the {ENV_FILE_LIMIT} bytes",
    ),
]


async def fails_alone(cluster: pyecs.Cluster, image: str, env_file: Path) -> str:
    """Run a service, then a task with ``env_file``: the task fails to start and the
    service's task keeps running. Returns the stopped reason."""
    await cluster.register_task_definition(one_container("web", image, command=FOREVER))
    bad_td = one_container(
        "bad",
        image,
        command=["sh", "-c", "echo should not run"],
        environmentFiles=[{"value": str(env_file), "type": "s3"}],
    )
    await cluster.register_task_definition(bad_td)
    web = await cluster.create_service("web", task_definition="web", desired_count=1)
    await web.wait_stable(timeout=60)
    [web_task] = web.tasks

    [bad] = (await cluster.run_task("bad")).tasks
    [stopped] = await cluster.wait_tasks_stopped([bad.arn], timeout=30)

    assert stopped.stop_code == "TaskFailedToStart"
    assert stopped.container("main").runtime_id is None  # nothing was created
    assert [t.arn for t in web.tasks] == [web_task.arn]
    assert cluster.describe_task(web_task.arn).last_status == "RUNNING"
    return str(stopped.stopped_reason)


@pytest.mark.anyio
@pytest.mark.parametrize(("make", "says"), [pytest.param(m, s, id=i) for i, m, s in BAD_ENV_FILES])
async def test_a_bad_environment_file_fails_its_task_alone(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    env_file = make(tmp_path)
    with anyio.fail_after(30):
        async with pyecs.Cluster(
            "env-files", backend=ProcessBackend(), task_healthy_delay=0
        ) as cluster:
            reason = await fails_alone(cluster, "local/none", env_file)
            closing = anyio.current_time()
        assert anyio.current_time() - closing < 10
    assert reason.startswith(
        f"CannotCreateContainerError: container 'main': environmentFiles[0] {str(env_file)!r} "
    )
    assert says in reason


@pytest.mark.anyio
@both_loops
@pytest.mark.parametrize("kind", ["fifo", "not-utf8"])
async def test_fifo_and_non_utf8_environment_files_on_both_loops(tmp_path: Path, kind: str) -> None:
    [(make, says)] = [(m, s) for i, m, s in BAD_ENV_FILES if i == kind]
    with anyio.fail_after(10):
        async with pyecs.Cluster(
            "env-files", backend=ProcessBackend(), task_healthy_delay=0
        ) as cluster:
            reason = await fails_alone(cluster, "local/none", make(tmp_path))
    assert "environmentFiles[0]" in reason
    assert says in reason


@pytest.mark.anyio
async def test_a_good_environment_file_still_works(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("# comment\nGREETING=héllo wörld\n")
    td = one_container(
        "hello",
        command=["sh", "-c", 'echo "$GREETING"; exec sleep 60'],
        environmentFiles=[{"value": str(tmp_path / "app.env"), "type": "s3"}],
    )
    with anyio.fail_after(20):
        async with pyecs.Cluster(
            "env-files", backend=ProcessBackend(), task_healthy_delay=0
        ) as cluster:
            await cluster.register_task_definition(td)
            [task] = (await cluster.run_task("hello")).tasks
            await cluster.wait_tasks_running([task.arn], timeout=10)
            lines: list[str] = []
            while not lines:
                lines = [line async for line in cluster.task_logs(task.arn, "main")]
                await anyio.sleep(0.05)
    assert lines == ["héllo wörld"]


# -- environment files on Docker -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("no_docker_leftovers")
@pytest.mark.parametrize("kind", ["fifo", "not-utf8", "symlink-loop"])
async def test_docker_bad_environment_file_fails_its_task_alone(
    tmp_path: Path, busybox_image: str, kind: str
) -> None:
    from pyecs.backends.docker import DockerBackend

    [(make, says)] = [(m, s) for i, m, s in BAD_ENV_FILES if i == kind]
    env_file = make(tmp_path)
    with anyio.fail_after(60):
        async with pyecs.Cluster(
            "env-files-docker", backend=DockerBackend(pull="never"), task_healthy_delay=0
        ) as c:
            reason = await fails_alone(c, busybox_image, env_file)
            closing = anyio.current_time()
        assert anyio.current_time() - closing < 20  # it hung for minutes on a FIFO
    assert reason.startswith(
        f"CannotCreateContainerError: container 'main': environmentFiles[0] {str(env_file)!r} "
    )
    assert says in reason
