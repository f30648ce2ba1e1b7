"""What every API the server speaks shares: reading a bounded body, the default region."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

__all__ = ["DEFAULT_REGION", "Receive", "TooLarge", "read_body", "request_url"]

#: The region of requests that carry no SigV4 credential scope.
DEFAULT_REGION: Final = "us-east-1"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


class TooLarge(Exception):
    """The body is over the limit (it is not read further)."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes.

    Raises:
        TooLarge: it is longer.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def request_url(scope: MutableMapping[str, Any], headers: Mapping[str, str]) -> str:
    """The URL the client signed (host header, raw path, query)."""
    host = headers.get("host", "localhost")
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope.get("raw_path", scope["path"].encode()).decode("latin-1") or "/"
    return f"http://{host}{path}" + (f"?{query}" if query else "")
