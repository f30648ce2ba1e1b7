"""What the CLI's commands share: options, messages, loading, opening a cluster."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pyecs.cluster._cluster import Cluster
from pyecs.exceptions import InvalidTaskDefinitionError
from pyecs.models.task_definition import TaskDefinition
from pyecs.ops import BACKEND_CHOICES, make_backend, resolve_backend

__all__ = [
    "CliError",
    "add_cluster_options",
    "load_task_definition",
    "note",
    "open_cluster",
    "seconds_option",
]


class CliError(Exception):
    """An error to print as one line (``pyecs: error: ...``) with an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def note(message: str) -> None:
    """A status message on stderr (``pyecs: ...``)."""
    sys.stderr.write(f"pyecs: {message}\n")
    sys.stderr.flush()


def seconds_option(*, finite: bool) -> Callable[[str], float]:
    """An argparse ``type`` for a number of seconds >= 0; ``finite=False`` also takes
    ``inf``. Anything else (``-5``, ``nan``, ``soon``) is a usage error (exit code 2)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isnan(value) or value < 0 or (finite and math.isinf(value)):
            limit = "" if finite else ", or inf for no limit"
            raise argparse.ArgumentTypeError(
                f"must be a number of seconds >= 0{limit}, got {text!r}"
            )
        return value

    return parse


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """``--backend``, ``--cluster`` and ``--healthy-delay``."""
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="where containers run: docker, process (local programs), simulated, or auto "
        "(Docker when an engine answers, else process). Default: $PYECS_BACKEND or auto.",
    )
    p.add_argument("--cluster", default="pyecs-cli", help="the cluster name (default pyecs-cli)")
    p.add_argument(
        "--pull",
        choices=("if-not-present", "always", "never"),
        default="if-not-present",
        help="Docker image pulls (default if-not-present)",
    )


def load_task_definition(path: str) -> TaskDefinition:
    """Read and validate a task definition; problems become one line."""
    if not os.path.lexists(path):  # a symlink loop is reported by from_file, as such
        raise CliError(f"{path}: no such file")
    try:
        return TaskDefinition.from_file(path)
    except InvalidTaskDefinitionError as exc:
        n = len(exc.problems)
        first = exc.problems[0] if exc.problems else "invalid"
        more = f" (and {n - 1} more; `pyecs validate {path}` lists them)" if n > 1 else ""
        raise CliError(f"{path}: invalid task definition: {first}{more}") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None


@asynccontextmanager
async def open_cluster(args: argparse.Namespace, **cluster_options: Any) -> AsyncIterator[Cluster]:
    """The cluster on the chosen backend, open; says which backend and why."""
    choice = resolve_backend(args.backend, "--backend")
    note(f"backend {choice.name} ({choice.reason})")
    options: dict[str, Any] = {}
    if choice.capabilities.images:  # a backend that pulls images takes a pull policy
        options["pull"] = args.pull
    backend = make_backend(choice.name, **options)
    async with Cluster(args.cluster, backend=backend, **cluster_options) as cluster:
        yield cluster
