"""Long output lines: split at 16 KiB (as Docker's json-file driver splits them), read in
linear time, and never holding the event loop for long.

A program that prints megabytes without a newline used to make the process backend's log
reader copy its growing partial line on every 64 KiB chunk: seconds of a blocked loop.
"""

from __future__ import annotations

import sys
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest
from files_support import LagTicker, busybox_image, no_docker_leftovers, one_container
from hypothesis import given, settings
from hypothesis import strategies as st

import pyecs
from pyecs.backends._log_lines import MAX_LINE_BYTES, LineSplitter
from pyecs.backends.process._logs import LogCapture

__all__ = ["busybox_image", "no_docker_leftovers"]  # fixtures, used by name

N = MAX_LINE_BYTES
both_loops = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="the process backend is tested on Linux"
)


def test_the_maximum_is_docker_json_file_limit() -> None:
    assert MAX_LINE_BYTES == 16 * 1024


# -- LogCapture on a file of known content --------------------------------------------------


async def captured(tmp_path: Path, data: bytes) -> list[str]:
    """The lines a reader of the process backend's log gets for output ``data``."""
    path = tmp_path / "out.log"
    path.write_bytes(data)
    capture = LogCapture(path)
    capture.size = len(data)
    capture.finish()
    return [line async for line in capture.lines(follow=False)]


E_ACUTE = "é"  # 2 bytes in UTF-8
EMOJI = "\U0001f600"  # 4 bytes in UTF-8


@pytest.mark.anyio
@both_loops
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"a" * N + b"\n", ["a" * N], id="exactly-the-maximum"),
        pytest.param(b"a" * (N + 1) + b"\n", ["a" * N, "a"], id="one-byte-over"),
        pytest.param(b"a" * N + b"\r\n" + b"b\r\n", ["a" * N, "b"], id="crlf-at-the-maximum"),
        pytest.param(b"a" * (N + 1) + b"\r\n", ["a" * N, "a"], id="crlf-one-byte-over"),
        pytest.param(b"x\r\ny\n\nz", ["x", "y", "", "z"], id="short-lines-and-no-final-newline"),
        pytest.param(
            b"a" * (3 * N + 5), ["a" * N, "a" * N, "a" * N, "a" * 5], id="no-newline-at-all"
        ),
        pytest.param(
            b"a" * (N - 1) + E_ACUTE.encode() + b"b\n",
            ["a" * (N - 1), E_ACUTE + "b"],
            id="two-byte-character-across-the-boundary",
        ),
        pytest.param(
            b"a" * (N - 2) + EMOJI.encode() + b"\n",
            ["a" * (N - 2), EMOJI],
            id="four-byte-character-across-the-boundary",
        ),
        pytest.param(
            b"a" * (N - 4) + EMOJI.encode() + b"b\n",
            ["a" * (N - 4) + EMOJI, "b"],
            id="four-byte-character-ending-at-the-boundary",
        ),
    ],
)
async def test_log_capture_splits_long_lines(
    tmp_path: Path, data: bytes, expected: list[str]
) -> None:
    lines = await captured(tmp_path, data)
    assert lines == expected
    assert all(len(line.encode()) <= N for line in lines)


@pytest.mark.anyio
async def test_invalid_utf8_is_replaced_not_lost(tmp_path: Path) -> None:
    lines = await captured(tmp_path, b"ok \xff\xfe bytes\n")
    assert lines == ["ok \ufffd\ufffd bytes"]


# Output as random text (multibyte characters, CR and LF included), cut into random chunks.
_TEXT = st.text(alphabet=st.sampled_from(["a", "b", "\n", "\r", E_ACUTE, "€", EMOJI]))


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, max_line=st.integers(4, 12), cuts=st.lists(st.integers(0, 200)))
def test_splitting_does_not_depend_on_chunks_and_loses_nothing(
    text: str, max_line: int, cuts: list[int]
) -> None:
    data = text.encode()
    whole = LineSplitter(max_line)
    expected = whole.feed(data) + whole.flush()

    splitter = LineSplitter(max_line)
    got: list[str] = []
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True):
        got += splitter.feed(data[a:b])
    got += splitter.flush()

    assert got == expected
    assert all(len(line.encode()) <= max_line for line in got)  # no character torn, none long
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the output ended with a newline
    assert "".join(got) == "".join(line.removesuffix("\r") for line in lines)


# -- through the public API ----------------------------------------------------------------


def printer(size: int) -> list[str]:
    """Prints ``size`` bytes of ``a`` without a newline, then one newline, then waits."""
    return ["sh", "-c", f"head -c {size} /dev/zero | tr '\\0' a; echo; exec sleep 60"]


async def read_output(cluster: pyecs.Cluster, task: str, size: int) -> list[str]:
    """Follow the task's logs until ``size`` characters of output came."""
    lines: list[str] = []
    total = 0
    async with aclosing(cluster.task_logs(task, "main", follow=True)) as stream:  # type: ignore[type-var]
        async for line in stream:
            lines.append(line)
            total += len(line)
            if total >= size:
                break
    return lines


async def long_line_through_task_logs(cluster: pyecs.Cluster, image: str, size: int) -> None:
    td = one_container("printer", image, command=printer(size), stopTimeout=2)
    await cluster.register_task_definition(td)
    [task] = (await cluster.run_task("printer")).tasks
    await cluster.wait_tasks_running([task.arn], timeout=60)
    ticker = LagTicker()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker.run)
        with anyio.fail_after(120):
            lines = await read_output(cluster, task.arn, size)
        tg.cancel_scope.cancel()

    assert max(len(line.encode()) for line in lines) == N
    assert "".join(lines) == "a" * size
    assert len(lines) == -(-size // N)
    assert ticker.ticks > 0
    # The old reader held the loop for seconds here; a chunk now takes well under 50 ms.
    assert ticker.worst < 0.5, f"the event loop was held for {ticker.worst:.2f} s"

    if cluster.backend is not None and cluster.backend.name == "docker":
        # Read again, not followed: the engine hands the whole log over at once.
        again = [line async for line in cluster.task_logs(task.arn, "main")]
        assert again == lines
    await cluster.stop_task(task.arn)
    await cluster.wait_tasks_stopped([task.arn], timeout=30)


@linux_only
@pytest.mark.anyio
@pytest.mark.slow
@both_loops
async def test_a_20_mb_line_comes_as_16_kib_lines_without_blocking_the_loop() -> None:
    from pyecs.backends.process import ProcessBackend

    async with pyecs.Cluster("long-lines", backend=ProcessBackend()) as cluster:
        await long_line_through_task_logs(cluster, "local/none", 20_000_000)


@pytest.mark.anyio
@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.usefixtures("no_docker_leftovers")
async def test_docker_long_lines_are_not_rejoined(busybox_image: str) -> None:
    """Docker stores a long line as 16 KiB pieces and re-joins them when read: pyecs
    splits them again, in linear time."""
    from pyecs.backends.docker import DockerBackend

    backend = DockerBackend(pull="never")
    async with pyecs.Cluster("long-lines-docker", backend=backend) as cluster:
        await long_line_through_task_logs(cluster, busybox_image, 4_000_000)
