"""``ProcessBackend``: each container's command as a local process group.

The implementation lives in private modules beside this one (spawning, the watchdog,
health checks, logs, configuration, leftovers of dead runs); this package exports the
public names.
"""

from __future__ import annotations

from pyecs.backends.process._backend import ProcessBackend, dead_run_dirs
from pyecs.backends.process._cleanup import process_leftovers
from pyecs.backends.process._watchdog import Watchdog

__all__ = ["ProcessBackend", "Watchdog", "dead_run_dirs", "process_leftovers"]
