"""Choosing and building backends for tests: :mod:`pyecs.ops`, under its older names.

:func:`make_backend` and :func:`resolve_backend` are public in :mod:`pyecs.testing`; they
live in :mod:`pyecs.ops`, which the CLI shares.
"""

from __future__ import annotations

from pyecs.ops import (
    BACKEND_CHOICES,
    BackendChoice,
    HookedBackend,
    docker_unavailable,
    make_backend,
    resolve_backend,
)

__all__ = [
    "BACKEND_CHOICES",
    "BackendChoice",
    "HookedBackend",
    "docker_unavailable",
    "make_backend",
    "resolve_backend",
]
