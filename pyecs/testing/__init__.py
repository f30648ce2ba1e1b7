"""Helpers for testing with pyecs: the pytest plugin and offline test images."""

from pyecs.ops import BackendChoice, make_backend, resolve_backend
from pyecs.testing._clusters import ClusterFixture, SyncClusterFixture
from pyecs.testing._endpoint import EcsEndpoint, serve_in_thread
from pyecs.testing._up import ServiceUp, wait_http

__all__ = [
    "BackendChoice",
    "ClusterFixture",
    "EcsEndpoint",
    "ServiceUp",
    "SyncClusterFixture",
    "make_backend",
    "resolve_backend",
    "serve_in_thread",
    "wait_http",
]
