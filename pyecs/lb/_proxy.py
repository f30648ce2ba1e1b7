"""Moving bytes between a client and a target, both ways, until the exchange ends."""

from __future__ import annotations

import socket
from collections.abc import Callable

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

__all__ = ["nodelay", "splice"]

#: Bytes read at once from either side.
CHUNK = 65536

_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def nodelay(stream: anyio.abc.SocketStream) -> None:
    """Send small writes at once (a proxy must not add Nagle delays to each reply)."""
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, anyio.TypedAttributeLookupError):
        pass


async def splice(
    client: anyio.abc.SocketStream,
    target: anyio.abc.SocketStream,
    on_first: Callable[[bytes], None] | None = None,
) -> None:
    """Copy ``client`` -> ``target`` and ``target`` -> ``client`` until the target is done.

    A client that half-closes (sends EOF) passes the EOF on and still gets the rest of the
    answer; the exchange ends when the target closes its side or either side fails.
    """
    async with anyio.create_task_group() as tg:

        async def upload() -> None:
            try:
                while True:
                    data = await client.receive(CHUNK)
                    await target.send(data)
            except anyio.EndOfStream:
                try:
                    await target.send_eof()
                except _GONE:
                    tg.cancel_scope.cancel()
            except _GONE:
                tg.cancel_scope.cancel()

        tg.start_soon(upload)
        try:
            while True:
                data = await target.receive(CHUNK)
                if on_first is not None:
                    on_first(data)
                    on_first = None
                await client.send(data)
        except (anyio.EndOfStream, *_GONE):
            pass
        tg.cancel_scope.cancel()
