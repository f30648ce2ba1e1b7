"""The operations the front ends share: the one place where the CLI and pyecs.testing meet.

- **Choosing a backend**: :func:`resolve_backend` (``auto``: Docker when an engine
  answers, else local processes; ``PYECS_BACKEND``), :data:`BACKEND_CHOICES`,
  :func:`docker_unavailable`, :func:`capabilities_of`.
- **Building it**: :func:`make_backend`, through the registry of :mod:`pyecs.backends`,
  wrapped in a :class:`HookedBackend` (removed containers' last output lines, a hook
  before each removal, ``detach`` for ``--pyecs-keep``).
- **Removing leftovers of dead runs**: :func:`collect_garbage` (``pyecs gc``) and
  :func:`collect_leftovers_for` (what the pytest plugin runs once per session).

``pyecs.cli`` and ``pyecs.testing`` import this module, never each other; nothing in pyecs
imports either of them.
"""

from pyecs.ops._choice import (
    BACKEND_CHOICES,
    BackendChoice,
    capabilities_of,
    docker_unavailable,
    resolve_backend,
)
from pyecs.ops._gc import GcResult, collect_garbage, collect_leftovers_for, process_leftovers
from pyecs.ops._hooked import HookedBackend, LeavesRunning, make_backend

__all__ = [
    "BACKEND_CHOICES",
    "BackendChoice",
    "GcResult",
    "HookedBackend",
    "LeavesRunning",
    "capabilities_of",
    "collect_garbage",
    "collect_leftovers_for",
    "docker_unavailable",
    "make_backend",
    "process_leftovers",
    "resolve_backend",
]
