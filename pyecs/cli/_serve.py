"""``pyecs serve``: the ECS API over HTTP for boto3 and the aws CLI, until Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
from typing import Any

import anyio

from pyecs.cli._common import CliError, note
from pyecs.models._arn import DEFAULT_ACCOUNT
from pyecs.ops import BACKEND_CHOICES

__all__ = ["add_parser", "serve"]


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the subcommands."""
    p: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve the ECS API over HTTP (boto3, aws CLI) on local containers",
        description="Serve the Amazon ECS API (JSON 1.1, as botocore speaks it) on this "
        "machine: point boto3 or the aws CLI at it with --endpoint-url or "
        "AWS_ENDPOINT_URL_ECS, and clusters, task definitions, tasks and services run on "
        "local containers. One endpoint serves every region: the region comes from each "
        "request's SigV4 credential scope. Prints `listening on http://HOST:PORT`.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=os.environ.get("PYECS_BACKEND", "auto"),
        help="where tasks run: auto (Docker when an engine answers, else local processes), "
        "docker, process or simulated",
    )
    p.add_argument(
        "--account", default=DEFAULT_ACCOUNT, help=f"account id in ARNs ({DEFAULT_ACCOUNT})"
    )
    p.add_argument(
        "--require-auth",
        action="store_true",
        help="verify each request's SigV4 signature (credentials from --credential, else "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    )
    p.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="KEY_ID:SECRET",
        help="an access key the server accepts (repeatable; implies --require-auth)",
    )
    p.add_argument(
        "--task-healthy-delay",
        type=float,
        default=40.0,
        help="seconds a task without health checks must run to count as healthy (ECS: 40)",
    )
    p.add_argument(
        "--state",
        metavar="DIR",
        default=None,
        help="directory of the state store: clusters, task definitions and services survive "
        "a restart, and the RUNNING tasks of services are adopted on Docker (default: "
        "$XDG_DATA_HOME/pyecs/serve, else ~/.local/share/pyecs/serve; :memory: keeps nothing)",
    )
    p.set_defaults(handler=serve)


def _credentials(args: argparse.Namespace) -> dict[str, str] | None:
    creds: dict[str, str] = {}
    for item in args.credential:
        key, sep, secret = item.partition(":")
        if not sep or not key or not secret:
            raise CliError(f"--credential {item!r} must be KEY_ID:SECRET")
        creds[key] = secret
    if args.require_auth and not creds:
        key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            raise CliError(
                "--require-auth needs credentials: --credential KEY_ID:SECRET, or "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        creds[key] = secret
    return creds or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(args: argparse.Namespace) -> int:
    """The ``serve`` command."""
    try:
        import hypercorn  # noqa: F401

        from pyecs.server import Server, default_state_dir
    except ImportError as exc:
        raise CliError(
            f"pyecs serve needs the server extra: pip install 'pyecs[server]' ({exc})"
        ) from exc
    if not _is_loopback(args.host):
        note(
            f"warning: listening on {args.host}: other machines can reach this ECS API and "
            "start containers here"
            + ("" if args.require_auth or args.credential else "; consider --require-auth")
        )
    server = Server(
        host=args.host,
        port=args.port,
        backend=args.backend,
        account=args.account,
        credentials=_credentials(args),
        task_healthy_delay=args.task_healthy_delay,
        state=args.state if args.state is not None else default_state_dir(),
    )
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with server:
            print(f"listening on {server.url}", flush=True)
            async for signum in signals:
                note(f"{signal.Signals(signum).name}: stopping every cluster")
                break
    sys.stdout.flush()
    return 0
