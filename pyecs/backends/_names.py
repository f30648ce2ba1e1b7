"""The one registry of backends by name: ``"docker"``, ``"process"``, ``"simulated"``.

``Cluster(backend="process")``, ``pyecs --backend`` and the pytest plugin all go through
it. Each backend's module is imported only when its name is asked for, so that
``import pyecs`` never imports the docker SDK.
"""

from __future__ import annotations

import importlib
from typing import Any, Final, Literal, TypeAlias

from pyecs._checks import shown
from pyecs.abc import Backend
from pyecs.exceptions import InvalidParameterError

__all__ = ["BACKEND_NAMES", "BackendName", "as_backend", "backend_class", "backend_from_name"]

#: A backend's name, as ``Cluster(backend=...)`` and ``pyecs --backend`` take it.
BackendName: TypeAlias = Literal["docker", "process", "simulated"]

#: The backends pyecs ships, by name, and where each one's class lives.
_CLASSES: Final = {
    "docker": ("pyecs.backends.docker", "DockerBackend"),
    "process": ("pyecs.backends.process", "ProcessBackend"),
    "simulated": ("pyecs.backends.simulated", "SimulatedBackend"),
}

#: The names :func:`backend_from_name` takes.
BACKEND_NAMES: Final = tuple(_CLASSES)


def backend_class(name: str) -> type[Backend]:
    """The class of the backend called ``name`` (importing its module now).

    Raises:
        InvalidParameterError: for a name that is not one of :data:`BACKEND_NAMES`.
    """
    where = _CLASSES.get(name) if isinstance(name, str) else None
    if where is None:
        raise InvalidParameterError(
            f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}"
        )
    module, attr = where
    cls: type[Backend] = getattr(importlib.import_module(module), attr)
    return cls


def backend_from_name(name: str, **options: Any) -> Backend:
    """A new backend of that kind: ``backend_from_name("process")`` is ``ProcessBackend()``.

    Args:
        name: ``docker``, ``process`` or ``simulated``.
        **options: Passed to the backend's constructor.

    Raises:
        InvalidParameterError: for an unknown name.
    """
    return backend_class(name)(**options)


def as_backend(value: object, name: str = "backend") -> Backend | None:
    """What a ``backend=`` argument means: a backend object, a backend's name, or None.

    A name builds that backend with its defaults (``"simulated"``: one simulated
    instance; ``"docker"``: the engine of ``DOCKER_HOST`` or the default socket).

    Raises:
        InvalidParameterError: naming the value and what is accepted instead.
    """
    if value is None or isinstance(value, Backend):
        return value
    if isinstance(value, str):
        if value not in _CLASSES:
            raise InvalidParameterError(
                f"{name} {value!r} is not a backend name; pass one of "
                f"{', '.join(repr(n) for n in BACKEND_NAMES)}, or a backend object such as "
                "ProcessBackend()"
            )
        return backend_from_name(value)
    if isinstance(value, type) and issubclass(value, Backend):
        raise InvalidParameterError(
            f"{name} must be a backend object, got the class {value.__name__}; "
            f"call it: {name}={value.__name__}()"
        )
    raise InvalidParameterError(
        f"{name} must be a pyecs.abc.Backend (DockerBackend(), ProcessBackend(), "
        f"SimulatedBackend() or your own) or one of the names "
        f"{', '.join(repr(n) for n in BACKEND_NAMES)}, got {shown(value)}"
    )
