"""``Cluster``: the composition of runtime, services and backend, in the caller's loop."""

from __future__ import annotations

from pyecs.cluster._cluster import Cluster

__all__ = ["Cluster"]
