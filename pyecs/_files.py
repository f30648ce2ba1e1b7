"""Bounded reads of the local files pyecs is given: task definitions, environment files.

A path on a command line or in a task definition may name anything: ``/dev/zero``, a FIFO
that nobody writes to, a directory, a symbolic link loop, a file of gigabytes. Reading it
as it is can exhaust memory, or block for ever (on the event loop, or in a worker thread
that a closing cluster then waits for). :func:`read_bounded` therefore looks before it
reads: it refuses anything but a regular file (symbolic links followed) and a file over
its limit, opens with ``O_NONBLOCK`` (so that a FIFO swapped in after that look cannot
block the open), looks again at what it opened, and reads at most ``limit`` bytes.

Problems are raised as :class:`OSError` with an ``errno`` (so a missing file is still a
:class:`FileNotFoundError`, a directory an :class:`IsADirectoryError`), whose ``strerror``
says what is wrong and the way out, without the file name (``filename`` holds it): callers
print ``f"{path}: {exc.strerror}"``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

__all__ = [
    "ENV_FILE_LIMIT",
    "decode_env_file",
    "read_bounded",
    "read_bounded_async",
]

#: The largest environment file pyecs reads (1 MiB). ECS sets no limit of its own, but
#: Linux passes a program at most about 2 MiB of arguments and environment together.
ENV_FILE_LIMIT = 1024 * 1024

_T = TypeVar("_T")
_CHUNK = 65536
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(
    path: str | os.PathLike[str], limit: int, *, what: str, too_big: str = "make it smaller"
) -> bytes:
    """The contents of the regular file ``path``, if it holds at most ``limit`` bytes.

    Blocks only as long as reading ``limit`` bytes of a local file takes: call it in a
    worker thread from async code (:func:`read_bounded_async`).

    Args:
        path: The file; symbolic links are followed.
        limit: The most bytes to read; a larger file is refused before it is read.
        what: What the file should be, with its article (``"an environment file"``), for
            the way out of a message: "use the path of an environment file".
        too_big: The way out when the file is over ``limit`` (after a ``;``).

    Raises:
        OSError: the file is missing, unreadable, not a regular file (``ELOOP`` for a
            symbolic link loop, ``EISDIR`` for a directory, ``EINVAL`` for a FIFO, a device
            or a socket) or over ``limit`` bytes (``EFBIG``).
    """
    name = os.fspath(path)
    try:
        _check(os.stat(name), name, limit, what, too_big)
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _explained(exc, name, what) from None
    try:
        _check(os.fstat(fd), name, limit, what, too_big)  # what was opened, not what was seen
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            data = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not data:
                break
            chunks.append(data)
            total += len(data)
        if total > limit:  # it grew since it was looked at
            raise _too_big(name, f"more than {limit} bytes", limit, what, too_big)
        return b"".join(chunks)
    finally:
        os.close(fd)


async def read_bounded_async(
    path: str | os.PathLike[str],
    limit: int,
    *,
    what: str,
    too_big: str = "make it smaller",
    parse: Callable[[bytes], _T],
) -> _T:
    """:func:`read_bounded`, then ``parse`` of what was read, both in a worker thread.

    Parsing a large file can take longer than the event loop may be held, so it is done in
    the thread too. A cancelled caller does not wait for the thread: the read is bounded
    (a regular file of at most ``limit`` bytes), and its result is then dropped.

    Raises:
        OSError: as :func:`read_bounded`.
        Exception: whatever ``parse`` raises.
    """

    def read_and_parse() -> _T:
        return parse(read_bounded(path, limit, what=what, too_big=too_big))

    return await anyio.to_thread.run_sync(read_and_parse, abandon_on_cancel=True)


def decode_env_file(data: bytes) -> str:
    """The text of an environment file: UTF-8 (as ECS requires), without NUL bytes.

    Raises:
        ValueError: with what is wrong, where, and the way out (no file name).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); ECS reads "
            "environment files as UTF-8: convert it (iconv -t UTF-8)"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise ValueError(
            f"has a NUL byte on line {line}; a variable's name and value cannot hold one: remove it"
        )
    return text


def _check(st: os.stat_result, name: str, limit: int, what: str, too_big: str) -> None:
    for test, kind in _KINDS:
        if test(st.st_mode):
            code = errno.EISDIR if kind == "a directory" else errno.EINVAL
            raise OSError(code, f"{kind}, not a regular file; use the path of {what}", name)
    if not stat.S_ISREG(st.st_mode):  # pragma: no cover - no other kind on Linux
        raise OSError(errno.EINVAL, f"not a regular file; use the path of {what}", name)
    if st.st_size > limit:
        raise _too_big(name, f"{st.st_size} bytes", limit, what, too_big)


def _too_big(name: str, size: str, limit: int, what: str, too_big: str) -> OSError:
    return OSError(
        errno.EFBIG,
        f"{size}, more than the {limit} bytes pyecs reads from {what}; {too_big}",
        name,
    )


def _explained(exc: OSError, name: str, what: str) -> OSError:
    """``exc`` itself, or an OSError of the same errno saying more about it."""
    if exc.errno == errno.ELOOP:
        return OSError(
            errno.ELOOP,
            "a symbolic link loop (too many levels of symbolic links); make the link point "
            f"at {what}",
            name,
        )
    if exc.errno == errno.ENOENT:
        try:
            target = os.readlink(name)  # a dangling link (EINVAL: not a link at all)
        except OSError:
            return exc
        return OSError(
            errno.ENOENT,
            f"a symbolic link to {target!r}, which does not exist; make the link point at {what}",
            name,
        )
    return exc
