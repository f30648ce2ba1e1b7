"""Docker's stats stream, one per container, held open and read without threads.

``GET /containers/<id>/stats?stream=1`` sends a JSON sample about once a second for as
long as the container lives. A reader per container keeps only the latest sample's bytes;
the metrics collector decodes it when it asks (once per metrics period), so a long period
costs little more than reading the socket. The connection is the engine's own socket,
spoken to with anyio (HTTP/1.1, chunked), not a worker thread per stream: fifty streams
cost fifty sockets, not fifty threads. Each reader lives in the backend's task group and
ends when its container is removed or the backend closes.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping, Sequence

import anyio
import anyio.abc
import attrs

from pyecs.abc import ContainerUsage

__all__ = ["StatsStreams", "usage_from_sample"]

_log = logging.getLogger("pyecs.docker")
_MIB = 1024 * 1024


def usage_from_sample(raw: Mapping[str, object]) -> ContainerUsage:
    """Cumulative CPU seconds and memory without page cache, from one stats sample."""
    cpu = raw.get("cpu_stats")
    usage = cpu.get("cpu_usage") if isinstance(cpu, dict) else None
    total = usage.get("total_usage", 0) if isinstance(usage, dict) else 0
    memory = raw.get("memory_stats")
    used = 0.0
    if isinstance(memory, dict):
        details = memory.get("stats") or {}
        cache = details.get("total_inactive_file", details.get("inactive_file", 0))
        used = max(0, int(memory.get("usage", 0)) - int(cache or 0)) / _MIB
    return ContainerUsage(float(total) / 1e9, used)


@attrs.define
class _Stream:
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    latest: bytes | None = None


class StatsStreams:
    """The open stats streams of one backend, by runtime id."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self._streams)

    def ensure(self, tg: anyio.abc.TaskGroup, runtime_id: str, url: str) -> None:
        """Open the stream of ``runtime_id`` on the engine at ``url`` unless it is open."""
        if runtime_id in self._streams:
            return
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("unix", "tcp", "http"):
            if url not in self._warned:
                self._warned.add(url)
                _log.warning("no container metrics from engine %s: only unix:// and tcp://", url)
            return
        stream = _Stream()
        self._streams[runtime_id] = stream
        tg.start_soon(self._read, runtime_id, parsed, stream)

    def latest(self, runtime_ids: Sequence[str]) -> dict[str, ContainerUsage]:
        """The latest sample of each stream that has one."""
        out = {}
        for rid in runtime_ids:
            s = self._streams.get(rid)
            if s is not None and s.latest is not None:
                try:
                    out[rid] = usage_from_sample(json.loads(s.latest))
                except ValueError:
                    continue
        return out

    def close(self, runtime_id: str) -> None:
        """End the stream of one container (removed)."""
        s = self._streams.pop(runtime_id, None)
        if s is not None:
            s.scope.cancel()

    def close_all(self) -> None:
        """End every stream (the backend closes)."""
        for rid in list(self._streams):
            self.close(rid)

    async def _read(self, runtime_id: str, url: urllib.parse.ParseResult, stream: _Stream) -> None:
        with stream.scope:
            try:
                sock: anyio.abc.ByteStream
                if url.scheme == "unix":
                    sock = await anyio.connect_unix(url.path)
                else:
                    sock = await anyio.connect_tcp(url.hostname or "127.0.0.1", url.port or 2375)
                async with sock:
                    request = (
                        f"GET /containers/{runtime_id}/stats?stream=1 HTTP/1.1\r\n"
                        "Host: docker\r\nAccept: application/json\r\n\r\n"
                    )
                    await sock.send(request.encode())
                    await self._consume(sock, stream)
            except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, ValueError) as exc:
                _log.debug("stats stream of %s ended: %s", runtime_id[:12], exc)
        if self._streams.get(runtime_id) is stream:
            del self._streams[runtime_id]

    @staticmethod
    async def _consume(sock: anyio.abc.ByteStream, stream: _Stream) -> None:
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            buf += await sock.receive()
            if len(buf) > 65536:
                raise ValueError("response headers too long")
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise ValueError(f"stats request refused: {status.decode(errors='replace')}")
        chunked = b"transfer-encoding: chunked" in head.lower()
        body = bytearray(rest)
        pending = bytearray()  # the JSON line being assembled
        while True:
            if chunked:
                while True:
                    end = body.find(b"\r\n")
                    if end < 0:
                        break
                    size = int(body[:end].split(b";")[0] or b"0", 16)
                    if len(body) < end + 2 + size + 2:
                        break
                    if size == 0:
                        return
                    pending += body[end + 2 : end + 2 + size]
                    del body[: end + 2 + size + 2]
            else:
                pending += body
                body.clear()
            while (nl := pending.find(b"\n")) >= 0:
                line = bytes(pending[:nl]).strip()
                del pending[: nl + 1]
                if line:
                    stream.latest = line
            if len(pending) > 1 << 20:
                raise ValueError("a stats sample larger than 1 MiB")
            body += await sock.receive()
