"""The asyncio data path on raw sockets: loop callbacks connect, read and write.

Per client connection the stream-based and the transport-based paths each cost a task,
futures and two transports before the first byte moves: most of the time of a short
connection. Here a :class:`Link` is two non-blocking sockets and four callbacks: the
connect to a target is a ``connect_ex`` plus a writer callback (a refused or timed-out
connect tries the next target, as before: the client has not been sent a byte), and each
direction moves a chunk with one ``recv`` and one ``send`` from the reader callback,
falling back to a writer callback only when the peer's buffer is full (that direction
then stops reading: flow control). The semantics are those of
:func:`pyecs.lb._proxy.splice`: a client EOF is passed on (half-close), the target's EOF
ends the exchange once what it sent is delivered.

The links are owned by :class:`Links`, whose owner (the forwarder's serving task) waits
for them when the listener closes and aborts them when it is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

import anyio

__all__ = ["CHUNK", "Link", "Links", "connect_nonblocking", "numeric_family"]

#: Bytes read at once from either side.
CHUNK = 262144


def numeric_family(host: str) -> int | None:
    """``AF_INET``/``AF_INET6`` for a numeric address (no resolver involved), else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


class _Direction:
    """Bytes from ``src`` to ``dst``; ``final``: ``src``'s EOF ends the whole link.

    The loop is given file descriptors, not sockets, and only what is registered is
    unregistered: a selector lookup that misses formats the socket's repr (two system
    calls) for its KeyError.
    """

    def __init__(self, link: Link, src: socket.socket, dst: socket.socket, final: bool) -> None:
        self.link, self.src, self.dst, self.final = link, src, dst, final
        self.src_fd, self.dst_fd = src.fileno(), dst.fileno()
        self.pending = b""
        self.eof = False
        #: Called once with the first bytes read from ``src`` (the balancer's statistics).
        self.on_first: Callable[[bytes], None] | None = None
        self.reading = self.writing = False

    def start(self) -> None:
        self._read(True)

    def _read(self, on: bool) -> None:
        if on != self.reading:
            self.reading = on
            if on:
                self.link.loop.add_reader(self.src_fd, self.readable)
            else:
                self.link.loop.remove_reader(self.src_fd)

    def _write(self, on: bool) -> None:
        if on != self.writing:
            self.writing = on
            if on:
                self.link.loop.add_writer(self.dst_fd, self.writable)
            else:
                self.link.loop.remove_writer(self.dst_fd)

    def readable(self) -> None:
        try:
            data = self.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.link.abort()
            return
        if not data:
            self.eof = True
            self._read(False)
            self.ended()
            return
        if self.on_first is not None:
            first, self.on_first = self.on_first, None
            first(data)
        self.send(data)

    def send(self, data: bytes) -> None:
        try:
            sent = self.dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.link.abort()
            return
        if sent < len(data):  # the peer's buffer is full: wait for room, read no more
            self.pending = data[sent:]
            self._read(False)
            self._write(True)

    def writable(self) -> None:
        data, self.pending = self.pending, b""
        self._write(False)
        self.send(data)
        if self.pending or self.link.closed:
            return
        if self.eof:
            self.ended()
        else:
            self._read(True)

    def ended(self) -> None:
        """``src`` sent EOF: once what it sent is delivered, pass it on or end the link."""
        if self.pending:
            return  # writable() comes back here
        if self.final:
            self.link.close()
            return
        try:
            self.dst.shutdown(socket.SHUT_WR)  # half-close: the answer may still come back
        except OSError:
            self.link.abort()

    def stop(self) -> None:
        self._read(False)
        self._write(False)


class Link:
    """A client connection and, once connected, its target connection."""

    def __init__(self, links: Links, client: socket.socket) -> None:
        self.links = links
        self.loop = links.loop
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = False
        self.on_close: Callable[[], None] | None = None
        #: Cancels the connect to a target in progress, if any.
        self.cancel_connect: Callable[[], None] | None = None
        self._directions: tuple[_Direction, ...] = ()

    def pair(
        self,
        upstream: socket.socket,
        on_close: Callable[[], None],
        on_answer: Callable[[bytes], None] | None = None,
    ) -> None:
        """Start moving bytes both ways; ``on_close`` runs once when the link ends,
        ``on_answer`` with the first bytes the target sends."""
        self.cancel_connect = None
        self.upstream, self.on_close = upstream, on_close
        answers = _Direction(self, upstream, self.client, final=True)
        answers.on_first = on_answer
        self._directions = (_Direction(self, self.client, upstream, final=False), answers)
        for direction in self._directions:
            direction.start()

    def close(self) -> None:
        """End the link (what was sent is delivered: nothing is left pending here)."""
        if self.closed:
            return
        self.closed = True
        if self.cancel_connect is not None:
            self.cancel_connect()
        for direction in self._directions:
            direction.stop()
        for sock in (self.client, self.upstream):
            if sock is not None:
                sock.close()
        self.links.discard(self)
        if self.on_close is not None:
            self.on_close()

    abort = close  # nothing is flushed either way: the sockets just close


class Links:
    """The open links of one listener, for its serving task to wait for or abort."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._open: set[Link] = set()
        self._empty = anyio.Event()

    def add(self, client: socket.socket) -> Link:
        link = Link(self, client)
        self._open.add(link)
        return link

    def discard(self, link: Link) -> None:
        self._open.discard(link)
        if not self._open:
            self._empty.set()

    async def wait_closed(self) -> None:
        """Return once every link has closed."""
        while self._open:
            self._empty = anyio.Event()
            await self._empty.wait()

    def abort_all(self) -> None:
        for link in list(self._open):
            link.abort()


def connect_nonblocking(
    loop: asyncio.AbstractEventLoop,
    family: int,
    host: str,
    port: int,
    timeout: float,
    done: Callable[[socket.socket | None], None],
) -> Callable[[], None]:
    """Connect to ``host:port`` without a task; ``done(sock)`` with the connected socket,
    or ``done(None)`` when refused, failed or timed out. Returns a function that cancels
    the attempt (``done`` is then not called)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code = sock.connect_ex((host, port))
    if code == 0:
        loop.call_soon(done, sock)
        return lambda: None
    if code != errno.EINPROGRESS:
        sock.close()
        loop.call_soon(done, None)
        return lambda: None
    state = {"over": False}
    fd = sock.fileno()

    def finish(ok: bool) -> None:
        if state["over"]:
            return
        state["over"] = True
        timer.cancel()
        loop.remove_writer(fd)
        if ok and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            done(sock)
            return
        sock.close()
        done(None)

    def cancel() -> None:
        if not state["over"]:
            state["over"] = True
            timer.cancel()
            loop.remove_writer(fd)
            sock.close()

    timer = loop.call_later(timeout, finish, False)
    loop.add_writer(fd, finish, True)
    return cancel
