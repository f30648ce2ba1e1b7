"""The asyncio data path on raw sockets: loop callbacks accept, connect, read and write.

Per client connection the stream-based and the transport-based paths each cost a task,
futures and two transports before the first byte moves: most of the time of a short
connection. Here the listening socket has one reader callback for as long as it serves
(:class:`Acceptor`: every client waiting is taken at once, no task or future per accept),
and a :class:`Link` is two non-blocking sockets, two reader callbacks and no closure.
On Linux the links' sockets are registered in an epoll set of their own
(:class:`EpollSet`), which is one reader of the loop: asyncio's selector bookkeeping per
registration and per event cost more than the system calls they wrap.

Connecting: ``connect_ex`` and, when the first call says "in progress", a second one,
which on loopback (every target pyecs starts) already knows the answer: connected, or
refused. Only a connect still in progress then waits for a writer callback and a timer.
A refused or timed-out connect tries the next target, as before: the client has not been
sent a byte. Each direction moves a chunk with one ``recv`` and one ``send`` from its
reader callback, falling back to a writer callback only when the peer's buffer is full
(that direction then stops reading: flow control). The semantics are those of
:func:`pyecs.lb._proxy.splice`: a client EOF is passed on (half-close), the target's EOF
ends the exchange once what it sent is delivered.

The links are owned by :class:`Links`, whose owner (the forwarder's serving task) waits
for them when the listener closes and aborts them when it is cancelled. What to connect
to, and what to count, is the owner's: it overrides the ``Links`` hooks.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
from collections.abc import Callable
from typing import Any, Protocol

import anyio

__all__ = [
    "CHUNK",
    "Acceptor",
    "EpollSet",
    "Link",
    "Links",
    "LoopPoller",
    "Poller",
    "numeric_family",
]

#: Bytes read at once from either side. ``recv`` allocates this much and then shrinks it
#: to what came: 256 KiB (above glibc's 128 KiB mmap threshold) cost up to 15 us more per
#: small read, depending on the heap's state, than 64 KiB did; bulk transfers barely differ.
CHUNK = 65536
#: Clients accepted in one callback at most (then the loop runs its other callbacks).
ACCEPT_BATCH = 128
#: Sockets born non-blocking where the platform can (one ``ioctl`` fewer per connect).
_STREAM = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
_BORN_NONBLOCKING = _STREAM != socket.SOCK_STREAM
_CONNECTED = (0, errno.EISCONN)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


class Poller(Protocol):
    """Where the links register their sockets: an :class:`EpollSet`, or the loop."""

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None: ...
    def remove_reader(self, fd: int) -> None: ...
    def add_writer(self, fd: int, callback: Callable[[], None]) -> None: ...
    def remove_writer(self, fd: int) -> None: ...
    def forget(self, fd: int) -> None:
        """``fd`` is about to be closed: drop what it has registered."""

    def close(self) -> None: ...


class EpollSet:
    """An epoll set of the links' own, itself one reader of the loop (Linux).

    Registering a socket with the loop costs asyncio a selector key, a handle and a
    failed lookup whose KeyError formats the socket's repr; here it is one ``epoll_ctl``
    and a dict entry, an event is one dict lookup and a call, and a socket about to be
    closed costs no ``epoll_ctl`` at all (closing it takes it out of the set).
    Level-triggered, like the loop: what a callback leaves unread is reported again.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._readers: dict[int, Callable[[], None]] = {}
        self._writers: dict[int, Callable[[], None]] = {}
        self._masks: dict[int, int] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def close(self) -> None:
        self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()

    def _change(self, fd: int, add: int, drop: int) -> None:
        before = self._masks.get(fd, 0)
        after = (before | add) & ~drop
        if after == before:
            return
        if not before:
            self._epoll.register(fd, after)
        elif after:
            self._epoll.modify(fd, after)
        else:
            self._epoll.unregister(fd)
        self._masks[fd] = after

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self._readers[fd] = callback
        self._change(fd, _IN, 0)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._change(fd, 0, _IN)

    def add_writer(self, fd: int, callback: Callable[[], None]) -> None:
        self._writers[fd] = callback
        self._change(fd, _OUT, 0)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._change(fd, 0, _OUT)

    def forget(self, fd: int) -> None:
        self._readers.pop(fd, None)
        self._writers.pop(fd, None)
        self._masks.pop(fd, None)

    def _ready(self) -> None:
        readers, writers = self._readers, self._writers
        # A callback may end another link whose event is further down the list: its
        # callbacks are gone then (and a socket opened since under the same number is
        # new: its callbacks cope with an event that was not for it).
        for fd, events in self._epoll.poll(0):
            if events & _READ_EVENTS:
                callback = readers.get(fd)
                if callback is not None:
                    callback()
            if events & _WRITE_EVENTS:
                callback = writers.get(fd)
                if callback is not None:
                    callback()


class LoopPoller:
    """The loop's own readers and writers (where there is no epoll)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.add_reader = loop.add_reader
        self.add_writer = loop.add_writer

    def remove_reader(self, fd: int) -> None:
        self.loop.remove_reader(fd)

    def remove_writer(self, fd: int) -> None:
        self.loop.remove_writer(fd)

    def forget(self, fd: int) -> None:
        self.loop.remove_reader(fd)
        self.loop.remove_writer(fd)

    def close(self) -> None:
        pass


_IN, _OUT = getattr(select, "EPOLLIN", 0), getattr(select, "EPOLLOUT", 0)
_ERROR_EVENTS = getattr(select, "EPOLLERR", 0) | getattr(select, "EPOLLHUP", 0)
_READ_EVENTS = _IN | _ERROR_EVENTS
_WRITE_EVENTS = _OUT | _ERROR_EVENTS


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

    __slots__ = (
        "dst",
        "dst_fd",
        "eof",
        "final",
        "first",
        "link",
        "pending",
        "poller",
        "reading",
        "src",
        "src_fd",
        "writing",
    )

    def __init__(self, link: Link, src: socket.socket, dst: socket.socket, final: bool) -> None:
        self.link, self.poller, self.src, self.dst = link, link.poller, src, dst
        self.final = final
        self.src_fd, self.dst_fd = src.fileno(), dst.fileno()
        self.pending = b""
        self.eof = False
        #: The next bytes read are the target's first (the balancer's statistics).
        self.first = final
        self.reading = self.writing = False

    def start(self) -> None:
        self.reading = True
        self.poller.add_reader(self.src_fd, self.readable)

    def _read(self, on: bool) -> None:
        if on != self.reading:
            self.reading = on
            if on:
                self.poller.add_reader(self.src_fd, self.readable)
            else:
                self.poller.remove_reader(self.src_fd)

    def _write(self, on: bool) -> None:
        if on != self.writing:
            self.writing = on
            if on:
                self.poller.add_writer(self.dst_fd, self.writable)
            else:
                self.poller.remove_writer(self.dst_fd)

    def readable(self) -> None:
        try:
            data = self.src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.link.close()
            return
        if not data:
            self.eof = True
            if not self.final:  # (a final EOF closes the link: nothing to unregister)
                self._read(False)
            self.ended()
            return
        if self.first:
            self.first = False
            self.link.links.answered(self.link, data)
        try:
            sent = self.dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.link.close()
            return
        if sent < len(data):  # the peer's buffer is full: wait for room, read no more
            self.pending = data[sent:]
            self._read(False)
            self._write(True)

    def writable(self) -> None:
        try:
            sent = self.dst.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.link.close()
            return
        self.pending = self.pending[sent:]
        if self.pending:
            return
        self._write(False)
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
            self.link.close()


class Link:
    """A client connection and, once connected, its target connection.

    ``target``, ``tried`` and ``started`` are the owner's (which target, which ones
    refused, when the target answered the connect).
    """

    __slots__ = (
        "_address",
        "_directions",
        "_timer",
        "client",
        "closed",
        "links",
        "loop",
        "poller",
        "started",
        "target",
        "tried",
        "upstream",
    )

    def __init__(self, links: Links, client: socket.socket) -> None:
        self.links = links
        self.loop, self.poller = links.loop, links.poller
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = False
        self.target: Any = None
        self.tried: set[Any] | None = None
        self.started = 0.0
        self._timer: asyncio.TimerHandle | None = None  # a connect in progress
        self._address: tuple[str, int] = ("", 0)
        self._directions: tuple[_Direction, ...] = ()

    def connect(self, family: int, address: tuple[str, int], timeout: float) -> None:
        """Connect to a target: ``links.connected(self)`` or ``links.refused(self)``
        follows, at once when the connect is decided at once (loopback), else later."""
        try:
            sock = socket.socket(family, _STREAM)
        except OSError:  # out of file descriptors...: as if refused
            self.links.refused(self)
            return
        try:
            if not _BORN_NONBLOCKING:
                sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            code = sock.connect_ex(address)
            if code in _IN_PROGRESS:
                code = sock.connect_ex(address)  # loopback: the handshake is over by now
        except OSError:
            code = -1
        self.upstream = sock
        if code in _CONNECTED:
            self.links.connected(self)
        elif code in _IN_PROGRESS:
            self._address = address
            self.poller.add_writer(sock.fileno(), self._connect_ready)
            self._timer = self.loop.call_later(timeout, self._connect_done, False)
        else:
            self.upstream = None
            sock.close()
            self.links.refused(self)

    def _connect_ready(self) -> None:
        assert self.upstream is not None
        # Asking again rather than reading SO_ERROR: an event meant for an earlier socket
        # of the same number says "in progress" here, not "connected".
        code = self.upstream.connect_ex(self._address)
        if code not in _IN_PROGRESS:
            self._connect_done(code in _CONNECTED)

    def _connect_done(self, ok: bool) -> None:
        sock, timer = self.upstream, self._timer
        assert sock is not None and timer is not None
        self._timer = None
        timer.cancel()
        self.poller.remove_writer(sock.fileno())
        if ok:
            self.links.connected(self)
            return
        self.upstream = None
        sock.close()
        self.links.refused(self)

    def pair(self) -> None:
        """Start moving bytes both ways (``upstream`` is connected)."""
        upstream = self.upstream
        assert upstream is not None
        self._directions = (
            _Direction(self, self.client, upstream, final=False),
            _Direction(self, upstream, self.client, final=True),
        )
        for direction in self._directions:
            direction.start()

    def close(self) -> None:
        """End the link (what was sent is delivered: nothing is left pending here)."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:  # still connecting
            self._timer.cancel()
            self._timer = None
        for sock in (self.client, self.upstream):
            if sock is not None:
                self.poller.forget(sock.fileno())
                sock.close()
        self.links.discard(self)

    abort = close  # nothing is flushed either way: the sockets just close


class Links:
    """The open links of one listener, for its serving task to wait for or abort.

    The owner's hooks (override them): :meth:`connected`, :meth:`refused`,
    :meth:`answered` and :meth:`ended`.
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.poller: Poller = (
            EpollSet(self.loop) if hasattr(select, "epoll") else LoopPoller(self.loop)
        )
        self._open: set[Link] = set()
        self._empty = anyio.Event()

    def close(self) -> None:
        """Abort the links still open; release what the loop was given."""
        self.abort_all()
        self.poller.close()

    def add(self, client: socket.socket) -> Link:
        link = Link(self, client)
        self._open.add(link)
        return link

    def discard(self, link: Link) -> None:
        """``link`` is no longer this one's to wait for (closed, or handed over)."""
        self._open.discard(link)
        self.ended(link)
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

    # -- the owner's hooks -----------------------------------------------------------------

    def connected(self, link: Link) -> None:
        """The target accepted the connection."""
        link.pair()

    def refused(self, link: Link) -> None:
        """The target refused the connection, or it timed out."""
        link.abort()

    def answered(self, link: Link, data: bytes) -> None:
        """The target's first bytes, about to go to the client."""

    def ended(self, link: Link) -> None:
        """The link closed (or was handed over: see :meth:`discard`)."""


class Acceptor:
    """Hands every client of a listening socket to ``on_client``, from one reader callback.

    Out of file descriptors (or another accept failure that is not the client's), it
    stops accepting for 50 ms and then tries again, as the task-based paths do.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listening: socket.socket,
        on_client: Callable[[socket.socket], None],
    ) -> None:
        self.loop, self.listening, self.on_client = loop, listening, on_client
        self._fd = listening.fileno()
        self._registered = False
        self._pause: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._pause = None
        if not self._registered:
            self._registered = True
            self.loop.add_reader(self._fd, self._ready)

    def stop(self) -> None:
        """Accept no more (before the listening socket closes)."""
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        if self._registered:
            self._registered = False
            self.loop.remove_reader(self._fd)

    def _ready(self) -> None:
        accept, on_client = self.listening.accept, self.on_client
        for _ in range(ACCEPT_BATCH):
            try:
                client, _ = accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except ConnectionError:
                continue  # that client gave up while waiting
            except OSError:  # out of file descriptors...: back off, keep serving
                self.stop()
                self._pause = self.loop.call_later(0.05, self.start)
                return
            on_client(client)
