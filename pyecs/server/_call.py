"""What one action handler is given: the server state, the caller's region, the params."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from pyecs.server._params import Params
from pyecs.server._state import Region, ServerState

__all__ = ["Call", "Handler", "JsonObject", "tags_json"]

JsonObject = dict[str, Any]


@attrs.frozen
class Call:
    """One request, decoded: ``call.p.text("cluster")``, ``call.region.entry(...)``."""

    state: ServerState
    region: Region
    p: Params

    def include(self, what: str) -> bool:
        """Whether the request's ``include`` list names ``what`` (``TAGS``...)."""
        return what in self.p.strings("include")

    def with_tags(self, out: JsonObject, arn: str) -> JsonObject:
        """``out`` with ``tags`` from the region's tags of ``arn`` if asked, else without."""
        out.pop("tags", None)
        if self.include("TAGS"):
            out["tags"] = tags_json(self.region.tags.get(arn, {}))
        return out


def tags_json(tags: dict[str, str]) -> list[JsonObject]:
    """ECS tags: ``[{"key": k, "value": v}]``."""
    return [{"key": k, "value": v} for k, v in tags.items()]


#: An action: the call in, the response body out (raises EcsError).
Handler = Callable[[Call], Awaitable[JsonObject]]
