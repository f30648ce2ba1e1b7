"""A request's parameters, read with their ECS types; errors name the member.

botocore checks types before it sends; other clients (and hand-made requests) may not, so
every read here checks again and answers ``InvalidParameterException`` naming the member.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from pyecs.server._errors import EcsError, invalid

__all__ = ["Params", "page"]

T = TypeVar("T")


class Params:
    """The JSON object of one request.

    Args:
        action: The ECS action, for messages.
        data: The decoded request body.
    """

    def __init__(self, action: str, data: dict[str, Any]) -> None:
        self.action = action
        self.data = data

    def _get(self, name: str, kind: type | tuple[type, ...], what: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None:
            if required:
                raise invalid(f"{self.action}: {name} is required ({what})")
            return None
        if isinstance(value, bool) and kind is not bool:
            raise invalid(f"{self.action}: {name} must be {what}, not {value!r}")
        if not isinstance(value, kind):
            raise invalid(f"{self.action}: {name} must be {what}, not {value!r}")
        return value

    def text(self, name: str, *, required: bool = False) -> Any:
        """A string member (None when absent and not required)."""
        return self._get(name, str, "a string", required)

    def integer(self, name: str, *, required: bool = False) -> Any:
        """An integer member."""
        return self._get(name, int, "an integer", required)

    def flag(self, name: str) -> bool:
        """A boolean member (False when absent)."""
        return bool(self._get(name, bool, "true or false", False))

    def obj(self, name: str) -> dict[str, Any] | None:
        """An object member."""
        value: dict[str, Any] | None = self._get(name, dict, "an object", False)
        return value

    def array(self, name: str, *, required: bool = False) -> list[Any] | None:
        """A list member."""
        value: list[Any] | None = self._get(name, list, "a list", required)
        return value

    def strings(self, name: str, *, required: bool = False, limit: int | None = None) -> list[str]:
        """A list of strings (empty when absent and not required)."""
        items = self.array(name, required=required) or []
        if not all(isinstance(i, str) for i in items):
            raise invalid(f"{self.action}: every item of {name} must be a string")
        if limit is not None and len(items) > limit:
            raise invalid(f"{self.action}: {name} may name at most {limit} items, not {len(items)}")
        return list(items)

    def choice(self, name: str, allowed: Sequence[str], default: str | None = None) -> Any:
        """A string member that must be one of ``allowed``."""
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise invalid(
                f"{self.action}: {name} must be one of {', '.join(allowed)}, not {value!r}"
            )
        return value

    def tags(self, name: str = "tags") -> dict[str, str]:
        """ECS tags ``[{"key": k, "value": v}]`` as a dict."""
        out: dict[str, str] = {}
        for i, item in enumerate(self.array(name) or []):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise invalid(f"{self.action}: {name}[{i}] must be {{'key': str, 'value': str}}")
            value = item.get("value", "")
            if not isinstance(value, str):
                raise invalid(f"{self.action}: {name}[{i}].value must be a string")
            out[item["key"]] = value
        return out


def _token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page(
    params: Params,
    items: Sequence[T],
    *,
    default_size: int = 100,
    max_size: int = 100,
) -> tuple[list[T], str | None]:
    """One page of ``items`` after ``nextToken``, at most ``maxResults``, and the next token.

    The token carries the offset and a fingerprint of the request's other members, so that
    a token is refused with another query, as ECS refuses it.

    Raises:
        EcsError: InvalidParameterException for a bad ``maxResults`` or ``nextToken``.
    """
    size = params.integer("maxResults")
    if size is None:
        size = default_size
    elif not 1 <= size <= max_size:
        raise invalid(f"{params.action}: maxResults must be from 1 to {max_size}, not {size}")
    others = {k: v for k, v in params.data.items() if k not in ("nextToken", "maxResults")}
    fingerprint = hashlib.sha256(json.dumps(others, sort_keys=True).encode()).hexdigest()[:16]
    offset = 0
    token = params.text("nextToken")
    if token is not None:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset = int(decoded["o"])
            if decoded["f"] != fingerprint or offset < 0:
                raise ValueError("another query")
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise EcsError(
                "InvalidParameterException",
                f"{params.action}: nextToken is not one this listing gave ({exc}); start again "
                "without it",
            ) from exc
    chunk = list(items[offset : offset + size])
    more = offset + size < len(items)
    return chunk, _token(offset + size, fingerprint) if more else None
