"""The asyncio data path: protocol callbacks move the bytes, with no task switch per chunk.

Under asyncio a stream-based splice costs two task wake-ups per chunk and direction; here
each chunk goes from one transport's ``data_received`` straight into the other's
``write``, with the same semantics as :func:`pyecs.lb._proxy.splice` (a client EOF is
passed on, the target's EOF ends the exchange) and transport-level flow control. The
connection is still owned by a task: :func:`splice` waits until both sides are closed and
aborts them when it is cancelled. Under trio the stream-based splice is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import cast

__all__ = ["Half", "accept", "connect", "on_asyncio", "splice"]


def on_asyncio() -> bool:
    """Whether the running event loop is asyncio's."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Half(asyncio.Protocol):
    """One side of a proxied connection; writes what it receives to its peer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Half | None = None
        self.final = False  # our EOF ends the whole exchange (the target's side)
        self.early: list[bytes] = []  # received before the peer existed
        self.early_eof = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_first: Callable[[bytes], None] | None = None  # the first bytes received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def pair(self, peer: Half, *, final: bool) -> None:
        """Start forwarding to ``peer`` (with what arrived before)."""
        self.peer, self.final = peer, final
        for chunk in self.early:
            self._forward(chunk)
        self.early = []
        if self.early_eof and not self._eof() and self.transport is not None:
            self.transport.close()

    def _forward(self, data: bytes) -> None:
        peer = self.peer.transport if self.peer is not None else None
        if peer is not None and not peer.is_closing():
            peer.write(data)

    def data_received(self, data: bytes) -> None:
        if self.on_first is not None:
            first, self.on_first = self.on_first, None
            first(data)
        if self.peer is None:
            self.early.append(data)
        else:
            self._forward(data)

    def eof_received(self) -> bool:
        if self.peer is None:
            self.early_eof = True
            return True
        return self._eof()

    def _eof(self) -> bool:
        peer = self.peer.transport if self.peer is not None else None
        if peer is None or peer.is_closing():
            return False
        if not self.final and peer.can_write_eof():
            peer.write_eof()  # half-close: the answer may still come back
            return True
        peer.close()  # flushes what is buffered, then closes
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer.transport if self.peer is not None else None
        if peer is not None:
            peer.close()
        if not self.closed.done():
            self.closed.set_result(None)

    # Our write buffer is full: stop reading from the peer, which fills it.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


async def accept(listening: socket.socket) -> socket.socket:
    """The next client of a listening socket."""
    loop = asyncio.get_running_loop()
    try:
        client, _ = await loop.sock_accept(listening)
    except asyncio.CancelledError:
        # A cancelled sock_accept can leave its reader registered (CPython issue 41317).
        with contextlib.suppress(ValueError, NotImplementedError, OSError):
            loop.remove_reader(listening)
        raise
    return client


async def connect(host: str, port: int) -> Half:
    """Connect to a target (numeric ``host``: no resolver thread is involved)."""
    loop = asyncio.get_running_loop()
    _, half = await loop.create_connection(Half, host, port)
    return half


async def splice(client: socket.socket, target: Half, closers: set[Callable[[], None]]) -> None:
    """Pair ``client`` with the connected ``target`` until both sides are closed.

    While they are paired, ``closers`` holds a function that aborts both.
    """
    loop = asyncio.get_running_loop()
    try:
        _, near = await loop.connect_accepted_socket(Half, client)
    except BaseException:
        client.close()
        if target.transport is not None:
            target.transport.abort()
        raise

    def abort() -> None:
        for half in (near, target):
            if half.transport is not None and not half.closed.done():
                half.transport.abort()

    closers.add(abort)
    try:
        near.pair(target, final=False)
        target.pair(near, final=True)
        await near.closed
        await target.closed
    finally:
        closers.discard(abort)
        abort()
