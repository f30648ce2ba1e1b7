"""Container output for the process backend: one pipe in, one file out, lines to readers.

A container's stdout and stderr share one pipe (so their lines keep their order, as in
``docker logs``). A task of the backend reads it and appends to ``<runtime id>.log`` in the
backend's temporary directory, waking followers after each chunk: reading the logs after
the exit is reading a file, and following them needs no polling. Readers get lines of at
most :data:`MAX_LINE_BYTES` (16 KiB): a longer line comes as several, as from Docker.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel

from pyecs.backends._log_lines import MAX_LINE_BYTES, LineSplitter

__all__ = ["MAX_LINE_BYTES", "LogCapture"]

_CHUNK = 65536


class LogCapture:
    """The captured output of one container."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self.done = False
        self.drained = anyio.Event()
        self._changed = anyio.Event()
        self._exited = False
        self._wait_scope: anyio.CancelScope | None = None
        self._fd = -1
        self._created = False

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def pump(self, fd: int) -> None:
        """Copy the pipe ``fd`` (non-blocking) to the file; closes ``fd``.

        Stops at end of file, or once the container has exited (:meth:`process_exited`) and
        the pipe is drained: a process that left the container's group and still holds the
        pipe must not keep the logs open.
        """
        out: int | None = None
        try:
            while True:
                try:
                    data = os.read(fd, _CHUNK)
                except BlockingIOError:
                    if self._exited:
                        return
                    self._fd = fd
                    with anyio.CancelScope() as self._wait_scope:
                        await anyio.wait_readable(fd)
                    self._wait_scope = None
                    continue
                if not data:
                    return
                if out is None:
                    out = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    self._created = True
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view) :]
                self.size += len(data)
                self._notify()
                await anyio.lowlevel.checkpoint()  # a chatty program must not starve the loop
        finally:
            self._wait_scope = None
            os.close(fd)
            if out is not None:
                os.close(out)
            self.finish()

    def process_exited(self) -> None:
        """The container exited (its group was killed): read what is buffered, then stop."""
        self._exited = True
        if self._wait_scope is not None and not _readable(self._fd):
            # Something that left the group holds the pipe: stop waiting for it. (When
            # the pipe is readable, at its end as a rule, the reader wakes by itself; a
            # cancel would cost more than this poll.)
            self._wait_scope.cancel()

    def remove(self) -> None:
        """Delete the file (there is none if nothing was ever written)."""
        if self._created:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def finish(self) -> None:
        """No more output will come (end of file, or the container was removed)."""
        if not self.done:
            self.done = True
            self.drained.set()
            self._notify()

    async def lines(self, *, follow: bool) -> AsyncIterator[str]:
        """Yield lines (pieces of :data:`MAX_LINE_BYTES` of longer ones); with ``follow``,
        wait for more until the output ends.

        The file is read in chunks of 64 KiB with a checkpoint after each, so that a reader
        of a large output never holds the event loop for long.
        """
        offset = 0
        splitter = LineSplitter()
        while True:
            changed = self._changed
            done = self.done
            if offset < self.size:
                try:
                    f = open(self.path, "rb")  # noqa: SIM115 - held across yields
                except FileNotFoundError:  # removed with its container
                    return
                with f:
                    f.seek(offset)
                    while offset < self.size:
                        chunk = f.read(min(_CHUNK, self.size - offset))
                        if not chunk:  # truncated under us: nothing more to read
                            return
                        offset += len(chunk)
                        for line in splitter.feed(chunk):
                            yield line
                        await anyio.lowlevel.checkpoint()
                continue
            if done or not follow:
                for line in splitter.flush():
                    yield line
                return
            await changed.wait()


def _readable(fd: int) -> bool:
    poller = select.poll()  # (select.select fails for descriptors past 1023)
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
