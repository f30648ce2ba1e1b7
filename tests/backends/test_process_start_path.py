"""The process backend's start path: where a spawn runs, and what it costs nothing to skip.

A lone start spawns on the event loop's thread (a worker thread would only add two
wake-ups); starts that arrive together spawn in worker threads so that they overlap. The
no-orphans guarantee holds on both paths.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from test_process_backend import (
    ROOT,
    group_members,
    launch,
    opened,
    sh,
    wait_gone,
    wait_unmarked,
)

from pyecs.backends.process._logs import LogCapture
from pyecs.backends.process._spawn import Child

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(sys.platform != "linux", reason="the process backend is tested on Linux"),
]
both_loops = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])


@pytest.fixture
def spawning_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread idents that called ``Child.spawn``, in order."""
    threads: list[int] = []
    spawn = Child.spawn.__func__  # type: ignore[attr-defined]

    def recording(cls: type[Child], *args: Any, **kwargs: Any) -> Child:
        threads.append(threading.get_ident())
        return spawn(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Child, "spawn", classmethod(recording))
    return threads


@both_loops
async def test_a_lone_start_spawns_on_the_event_loop_thread(spawning_threads: list[int]) -> None:
    async with opened() as backend:
        spawning_threads.clear()  # (the watchdog's own spawn)
        for _ in range(3):
            rid = await backend.create_container(launch(sh("exit 3")))
            await backend.start_container(rid)
            assert (await backend.wait_container(rid)).exit_code == 3
    assert spawning_threads == [threading.get_ident()] * 3


@both_loops
async def test_starts_that_arrive_together_spawn_in_worker_threads(
    spawning_threads: list[int],
) -> None:
    async with opened() as backend:
        spawning_threads.clear()
        rids = [await backend.create_container(launch(sh("exit 0"))) for _ in range(6)]
        async with anyio.create_task_group() as tg:
            for rid in rids:
                tg.start_soon(backend.start_container, rid)
        codes = [(await backend.wait_container(rid)).exit_code for rid in rids]
    assert codes == [0] * 6
    assert len(spawning_threads) == 6
    assert threading.get_ident() not in spawning_threads


@both_loops
async def test_a_start_cancelled_before_its_spawn_leaves_it_created() -> None:
    async with opened() as backend:
        rid = await backend.create_container(launch(sh("exit 5")))
        with anyio.CancelScope() as scope:
            scope.cancel()
            await backend.start_container(rid)
        assert backend.running == []
        await backend.start_container(rid)  # it can still start
        assert (await backend.wait_container(rid)).exit_code == 5


BURST_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import anyio
from tests.backends.test_process_backend import CONTEXT, launch
from pyecs.backends.process import ProcessBackend

async def main():
    backend = ProcessBackend()
    await backend.open(CONTEXT)
    rids = [
        await backend.create_container(launch({{"command": ["sleep", "1000"]}}))
        for _ in range(5)
    ]
    async with anyio.create_task_group() as tg:  # together: spawned in worker threads
        for rid in rids:
            tg.start_soon(backend.start_container, rid)
    print(" ".join(str(backend.pid(rid)) for rid in rids), backend._marker, flush=True)
    await anyio.sleep(1000)

anyio.run(main, backend={loop!r})
"""


@pytest.fixture
def burst(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "burst.py"
    script.write_text(BURST_SCRIPT.format(root=str(ROOT), loop=request.param))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.mark.parametrize("burst", ["asyncio", "trio"], indirect=True)
def test_no_orphans_of_starts_spawned_in_worker_threads(burst: subprocess.Popen[str]) -> None:
    """The worker threads that spawned them may be gone: the watchdog still kills them."""
    assert burst.stdout is not None
    *pids, marker = burst.stdout.readline().split()
    pgids = [int(pid) for pid in pids]
    assert [len(group_members(pgid)) for pgid in pgids] == [1] * 5
    os.kill(burst.pid, signal.SIGKILL)
    burst.wait()
    assert [wait_gone(pgid) for pgid in pgids] == [set()] * 5
    assert wait_unmarked(marker) == set()


# -- the log reader at the exit ------------------------------------------------------------


@both_loops
async def test_log_reader_reads_what_is_buffered_when_the_process_exits(tmp_path: Path) -> None:
    """Output still in the pipe when the exit is seen (its write end held by a daemon)."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    logs = LogCapture(tmp_path / "log")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(logs.pump, read_end)
            await anyio.wait_all_tasks_blocked()
            os.write(write_end, b"last words\n")
            logs.process_exited()
            with anyio.fail_after(5):
                await logs.drained.wait()
    finally:
        os.close(write_end)
    assert [line async for line in logs.lines(follow=False)] == ["last words"]


@both_loops
async def test_log_reader_stops_at_the_exit_when_a_daemon_holds_an_empty_pipe(
    tmp_path: Path,
) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    logs = LogCapture(tmp_path / "log")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(logs.pump, read_end)
            await anyio.wait_all_tasks_blocked()
            logs.process_exited()
            with anyio.fail_after(5):
                await logs.drained.wait()
    finally:
        os.close(write_end)
    assert [line async for line in logs.lines(follow=False)] == []
    assert not logs.path.exists()  # nothing was written: no file


async def test_removing_a_silent_container_needs_no_log_file() -> None:
    async with opened() as backend:
        rid = await backend.create_container(launch(sh("exit 0")))
        await backend.start_container(rid)
        await backend.wait_container(rid)
        assert backend._tmp is not None
        assert not (backend._tmp / rid).exists()
        assert [x async for x in backend.logs(rid)] == []
        await backend.remove_container(rid)  # (nothing to delete: no error either)
