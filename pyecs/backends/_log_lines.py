"""Container output as lines, in linear time, whatever the output.

Output is split at each newline, and a line longer than :data:`MAX_LINE_BYTES` is split
into pieces of at most that many bytes, as Docker's ``json-file`` log driver splits it:
a program that prints 100 MB without a newline yields pieces, never one line that grows
(each append copying what came before) until memory runs out. A piece ends at a UTF-8
character boundary when there is one among its last 4 bytes, so that no character is
torn in two. ``\\r\\n`` ends a line as ``\\n`` does; lines are decoded as UTF-8 with
invalid bytes replaced.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_LINE_BYTES", "LineSplitter"]

#: The longest line a backend yields, in bytes (16 KiB, Docker's ``json-file`` limit).
MAX_LINE_BYTES: Final = 16384


class LineSplitter:
    """Bytes in (any chunks), decoded lines out; holds at most one short partial line."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._partial = b""

    def feed(self, data: bytes) -> list[str]:
        """The lines that ``data`` completes (and pieces of lines too long to wait for)."""
        *complete, last = (self._partial + data).split(b"\n")
        out: list[str] = []
        for line in complete:
            self._pieces(line.removesuffix(b"\r"), out)
        # A line that is already longer than the limit (and a \r) cannot end within it:
        # hand its pieces out now, keep only the rest.
        start = 0
        while len(last) - start > self.max_line + 1:
            end = start + self._cut(last, start)
            out.append(_decode(last[start:end]))
            start = end
        self._partial = last[start:]
        return out

    def flush(self) -> list[str]:
        """The last, unterminated line (if any): the output has ended."""
        last, self._partial = self._partial, b""
        out: list[str] = []
        if last:
            self._pieces(last.removesuffix(b"\r"), out)
        return out

    def _pieces(self, line: bytes, out: list[str]) -> None:
        if len(line) <= self.max_line:
            out.append(_decode(line))
            return
        start = 0
        while len(line) - start > self.max_line:
            end = start + self._cut(line, start)
            out.append(_decode(line[start:end]))
            start = end
        out.append(_decode(line[start:]))

    def _cut(self, data: bytes, start: int) -> int:
        """How long the piece at ``start`` is: the limit, or less to keep a character whole.

        ``data`` has more than ``max_line`` bytes from ``start``, so ``data[start + n]`` is
        the first byte of the next piece; it must not be a UTF-8 continuation byte.
        """
        n = self.max_line
        for back in range(4):
            if data[start + n - back] & 0xC0 != 0x80:
                return n - back if back < n else n
        return n  # not UTF-8 there anyway: cut at the limit


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")
