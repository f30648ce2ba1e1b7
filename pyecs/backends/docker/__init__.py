"""``DockerBackend``: real containers on one or more Docker engines.

The implementation lives in private modules beside this one (the engine connection, the
event watch, container and task set-up, leftovers' cleanup); this package exports the
public names.
"""

from __future__ import annotations

from pyecs.backends.docker._backend import (
    CleanupResult,
    DockerBackend,
    DockerEngine,
    PullPolicy,
    cleanup,
)

__all__ = ["CleanupResult", "DockerBackend", "DockerEngine", "PullPolicy", "cleanup"]
