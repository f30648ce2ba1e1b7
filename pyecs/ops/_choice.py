"""Which backend a run uses: ``auto``, a name, ``PYECS_BACKEND``; and whether Docker answers.

``auto`` means Docker when an engine answers, else the process backend. The names are the
registry's (:data:`pyecs.backends.BACKEND_NAMES`); what a backend does is read from its
class's capabilities (:func:`capabilities_of`), never from its name.
"""

from __future__ import annotations

import os
from typing import Final

import attrs

from pyecs.abc import BackendCapabilities
from pyecs.backends._names import BACKEND_NAMES, BackendName, backend_class
from pyecs.exceptions import InvalidParameterError

__all__ = [
    "BACKEND_CHOICES",
    "BackendChoice",
    "capabilities_of",
    "docker_unavailable",
    "resolve_backend",
]

#: What ``--pyecs-backend``, ``PYECS_BACKEND`` and ``pyecs --backend`` accept.
BACKEND_CHOICES: Final = ("auto", *BACKEND_NAMES)


@attrs.frozen
class BackendChoice:
    """The backend a run uses, and why (``"auto: a Docker engine answered"``)."""

    name: BackendName
    reason: str

    @property
    def capabilities(self) -> BackendCapabilities:
        """What the chosen backend does (its class is imported now)."""
        return capabilities_of(self.name)


def capabilities_of(name: str) -> BackendCapabilities:
    """The capabilities of the backend called ``name`` (importing its module now).

    Raises:
        InvalidParameterError: for a name that is not one of the registry's.
    """
    return backend_class(name).capabilities


def docker_unavailable(timeout: float = 3.0) -> str | None:
    """None when a Docker engine answers (``DOCKER_HOST`` or the default socket), else why not."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        return f"the docker SDK is not installed ({exc})"
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
    except Exception as exc:
        return _first_line(exc)
    try:
        client.ping()
    except Exception as exc:
        return _first_line(exc)
    finally:
        client.close()
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def resolve_backend(wanted: str | None = None, source: str = "asked for") -> BackendChoice:
    """Turn ``auto``/``docker``/``process``/``simulated`` into the backend to use.

    Args:
        wanted: The choice; None reads ``PYECS_BACKEND`` (default ``auto``).
        source: Where ``wanted`` came from, for the reason (``--backend``...).

    Raises:
        InvalidParameterError: for an unknown name.
    """
    if wanted is None:
        wanted = os.environ.get("PYECS_BACKEND") or "auto"
        source = "PYECS_BACKEND" if "PYECS_BACKEND" in os.environ else "default"
    wanted = wanted.strip().lower()
    if wanted not in BACKEND_CHOICES:
        raise InvalidParameterError(
            f"unknown backend {wanted!r}; choose one of {', '.join(BACKEND_CHOICES)}"
        )
    if wanted != "auto":
        return BackendChoice(wanted, source)  # type: ignore[arg-type]
    why_not = docker_unavailable()
    if why_not is None:
        return BackendChoice("docker", "auto: a Docker engine answered")
    return BackendChoice("process", f"auto: no Docker engine answered ({why_not})")
