"""ECS API errors: the ``__type`` and HTTP status botocore turns into its exception classes."""

from __future__ import annotations

from typing import Final

from pyecs.exceptions import (
    BackendError,
    ClusterClosedError,
    InvalidParameterError,
    InvalidTaskDefinitionError,
    PlacementError,
    PyecsError,
    ServiceNotFoundError,
    TaskDefinitionNotFoundError,
    TaskNotFoundError,
)

__all__ = ["EcsError", "from_pyecs"]


class EcsError(Exception):
    """An error answer: ``{"__type": code, "message": message}`` with an HTTP status.

    Args:
        code: The error shape's name in the ECS model (``ClusterNotFoundException``...)
            or a protocol error (``SerializationException``, ``UnknownOperationException``).
        message: Says what was wrong and, where it can, what to do.
        status: 400 for the caller's errors (every ECS error shape), 500 for the server's.
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON 1.1 error body."""
        return {"__type": self.code, "message": self.message}


def client(message: str) -> EcsError:
    """A ``ClientException``: the request cannot be served as it stands."""
    return EcsError("ClientException", message)


def invalid(message: str) -> EcsError:
    """An ``InvalidParameterException``: a parameter is wrong."""
    return EcsError("InvalidParameterException", message)


#: pyecs's exceptions, most specific first, and the ECS error each one is.
_MAPPING: Final[tuple[tuple[type[PyecsError], str], ...]] = (
    (ServiceNotFoundError, "ServiceNotFoundException"),
    (TaskNotFoundError, "InvalidParameterException"),
    (TaskDefinitionNotFoundError, "ClientException"),
    (InvalidTaskDefinitionError, "ClientException"),
    (InvalidParameterError, "InvalidParameterException"),
    (PlacementError, "InvalidParameterException"),
    (ClusterClosedError, "ClusterNotFoundException"),
)


def from_pyecs(exc: PyecsError) -> EcsError:
    """The ECS error for an exception of the library, keeping its message."""
    if isinstance(exc, BackendError):
        return EcsError("ServerException", str(exc), status=500)
    for cls, code in _MAPPING:
        if isinstance(exc, cls):
            return EcsError(code, str(exc))
    return client(str(exc))
