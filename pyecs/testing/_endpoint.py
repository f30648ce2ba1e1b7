"""An ECS endpoint for tests: ``pyecs serve`` in a background thread, and its environment."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import anyio.from_thread
import attrs

from pyecs.abc import Backend

__all__ = ["EcsEndpoint", "serve_in_thread"]

#: The dummy credentials the endpoint's environment carries (any are accepted).
ACCESS_KEY = "AKIDPYECSTESTING"
SECRET_KEY = "pyecs-testing-secret"


@attrs.frozen
class EcsEndpoint:
    """Where a test's ECS API listens, and the environment that points boto3 at it.

    Attributes:
        url: ``http://127.0.0.1:PORT``.
        region: The region of the environment (``us-east-1``).
        env: ``AWS_ENDPOINT_URL_ECS``, ``AWS_DEFAULT_REGION`` and dummy credentials.
    """

    url: str
    region: str
    env: Mapping[str, str]

    def client(self, region: str | None = None, **kwargs: Any) -> Any:
        """A ``boto3`` ECS client for this endpoint (boto3 must be installed)."""
        import boto3

        return boto3.client(
            "ecs",
            endpoint_url=self.url,
            region_name=region or self.region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            **kwargs,
        )


@contextlib.contextmanager
def serve_in_thread(
    *,
    backend: str | Callable[[], Backend] | None = "auto",
    region: str = "us-east-1",
    **server_options: Any,
) -> Iterator[EcsEndpoint]:
    """Run a :class:`pyecs.server.Server` in an event loop of its own until the block ends.

    Leaving the block closes every cluster the server made (their tasks stop, their
    containers are removed).

    Raises:
        ImportError: naming the ``pyecs[server]`` extra when hypercorn is missing.
    """
    try:
        from pyecs.server import Server
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"the ECS endpoint needs pyecs's server extra: pip install 'pyecs[server]' ({exc})"
        ) from exc
    with anyio.from_thread.start_blocking_portal() as portal:
        server = Server(backend=backend, **server_options)
        with portal.wrap_async_context_manager(server):
            env = {
                "AWS_ENDPOINT_URL_ECS": server.url,
                "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING": server.url,
                "AWS_DEFAULT_REGION": region,
                "AWS_REGION": region,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            }
            yield EcsEndpoint(server.url, region, env)
