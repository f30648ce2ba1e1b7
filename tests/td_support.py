"""Helpers for the tests of task-definition files (the data sets and the corpus)."""

from __future__ import annotations

from typing import Any


def request_shape(raw: dict[str, Any]) -> dict[str, Any]:
    """What ``to_dict()`` must give for a file: the file itself, or for a pasted
    describe output the inner ``taskDefinition`` with the top-level ``tags`` moved in."""
    if "taskDefinition" not in raw:
        return raw
    inner = dict(raw["taskDefinition"])
    if "tags" in raw:
        inner["tags"] = raw["tags"]
    return inner
