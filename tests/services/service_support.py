"""Helpers shared by the service tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def web_td(image: str = "nginx:1", *, memory: int = 256, health: bool = True) -> dict[str, Any]:
    """The web-app task definition; with a health check unless told otherwise."""
    container: dict[str, Any] = {"name": "web", "image": image, "memory": memory}
    if health:
        container["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5}
    return {"family": "web-app", "containerDefinitions": [container]}


ClusterFactory = Callable[..., Any]
