"""The backends that run a cluster's containers.

- :class:`DockerBackend`: real containers on one or more Docker engines.
- :class:`ProcessBackend`: each container's ``entryPoint`` + ``command`` as a local process.
- :class:`SimulatedBackend`: in-memory instances and containers, deterministic, for tests
  and scale.

What every backend shares lives in :mod:`pyecs.backends._shared`: how a container's
environment is resolved (``environmentFiles``, ``secrets``, ``environment``, by the ECS
rules) and the names of the labels on what pyecs creates. Code that must know how a backend
behaves reads its :class:`~pyecs.abc.BackendCapabilities`, never its name.

Names are imported on first use, so ``import pyecs.backends`` does not import the docker
SDK until ``DockerBackend`` is asked for. :func:`backend_from_name` builds one by its name
(``"docker"``, ``"process"``, ``"simulated"``: :data:`BACKEND_NAMES`), as
``Cluster(backend="process")`` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pyecs.backends._names import BACKEND_NAMES, backend_from_name

if TYPE_CHECKING:
    from pyecs.backends.docker import DockerBackend, DockerEngine
    from pyecs.backends.process import ProcessBackend
    from pyecs.backends.simulated import SimulatedBackend

__all__ = [
    "BACKEND_NAMES",
    "DockerBackend",
    "DockerEngine",
    "ProcessBackend",
    "SimulatedBackend",
    "backend_from_name",
]

_WHERE = {
    "DockerBackend": "pyecs.backends.docker",
    "DockerEngine": "pyecs.backends.docker",
    "ProcessBackend": "pyecs.backends.process",
    "SimulatedBackend": "pyecs.backends.simulated",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'pyecs.backends' has no attribute {name!r}")
