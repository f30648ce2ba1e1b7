"""The server tests' fixtures."""

from server_support import ecs, endpoint

__all__ = ["ecs", "endpoint"]
