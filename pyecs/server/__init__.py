"""``pyecs serve``: the ECS API over HTTP, driving real local containers.

boto3, the aws CLI and their waiters talk to it unchanged (``--endpoint-url`` or
``AWS_ENDPOINT_URL_ECS``). It speaks ECS JSON 1.1, answers with the ECS response shapes of
:mod:`pyecs.ecs`, partitions its state by the region of each request's SigV4 credential
scope, and runs each cluster as a :class:`pyecs.Cluster` on a backend the server shares.

Needs the ``server`` extra (``pip install 'pyecs[server]'``): hypercorn.
"""

from pyecs.server._actions import HANDLERS, REFUSED
from pyecs.server._app import DEFAULT_REGION, EcsApp
from pyecs.server._http import HttpServer
from pyecs.server._server import Server, console_and_metrics
from pyecs.server._store import MEMORY, SCHEMA_VERSION, StateStore, default_state_dir

__all__ = [
    "DEFAULT_REGION",
    "HANDLERS",
    "MEMORY",
    "REFUSED",
    "SCHEMA_VERSION",
    "EcsApp",
    "HttpServer",
    "Server",
    "StateStore",
    "console_and_metrics",
    "default_state_dir",
]
