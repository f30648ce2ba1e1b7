"""EC2's query protocol: requests ``A.1.B=v`` as a tree, errors with EC2's codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from xml.etree import ElementTree as ET

from pyecs.server._state import Region

__all__ = ["FORM", "NAMESPACE", "Ec2Error", "Ec2Handler", "Query", "is_query_request"]

NAMESPACE: Final = "http://ec2.amazonaws.com/doc/2016-11-15/"
FORM: Final = "application/x-www-form-urlencoded"

Scope = MutableMapping[str, Any]


class Ec2Error(Exception):
    """An EC2 error answer: a code (``InvalidGroup.NotFound``...), a message, a status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def is_query_request(scope: Scope) -> bool:
    """A form-encoded request without ``X-Amz-Target``: EC2's query protocol."""
    target = content_type = ""
    for key, value in scope.get("headers", ()):
        name = key.decode("latin-1").lower()
        if name == "x-amz-target":
            target = value.decode("latin-1")
        elif name == "content-type":
            content_type = value.decode("latin-1").split(";")[0].strip().lower()
    return not target and content_type == FORM


class Query:
    """The parameters of one request, as EC2 serializes them (``A.1.B.2.C=v``)."""

    def __init__(self, action: str, pairs: list[tuple[str, str]]) -> None:
        self.action = action
        self.tree: dict[str, Any] = {}
        for key, value in pairs:
            node = self.tree
            *parents, last = key.split(".")
            for part in parents:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise Ec2Error("InvalidParameterValue", f"{key}: {part} is not a list")
                node = child
            if isinstance(node.get(last), dict):
                raise Ec2Error("InvalidParameterValue", f"{key} is a list, not a value")
            node[last] = value

    def text(self, name: str, node: dict[str, Any] | None = None, *, required: bool = False) -> Any:
        """A string parameter (None when absent and not required)."""
        value = (self.tree if node is None else node).get(name)
        if isinstance(value, dict):
            raise Ec2Error("InvalidParameterValue", f"{name} must be a value, not a list")
        if value is None and required:
            raise Ec2Error("MissingParameter", f"The request must contain the parameter {name}")
        return value

    def integer(self, name: str, node: dict[str, Any] | None = None) -> int | None:
        """An integer parameter."""
        value = self.text(name, node)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise Ec2Error(
                "InvalidParameterValue", f"Invalid value '{value}' for {name}: not an integer"
            ) from None

    def items(self, name: str, node: dict[str, Any] | None = None) -> list[Any]:
        """The members of a list parameter (``name.1``, ``name.2``...), in order."""
        value = (self.tree if node is None else node).get(name)
        if value is None:
            return []
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise Ec2Error(
                "InvalidParameterValue", f"{name} must be a list ({name}.1, {name}.2, ...)"
            )
        return [value[k] for k in sorted(value, key=int)]


#: An action: the region, the query, the owner account -> the response's children.
Ec2Handler = Callable[[Region, Query], Awaitable[list[ET.Element]]]
