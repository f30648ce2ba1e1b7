"""Where :class:`pyecs.sync.Service` used to live; import it from :mod:`pyecs.sync`."""

from __future__ import annotations

from pyecs.sync._generated import Service

__all__ = ["Service"]
