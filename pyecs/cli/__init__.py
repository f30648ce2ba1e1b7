"""``pyecs``: the command line.

- ``pyecs validate FILE...``: every problem of each task definition, with its JSON path;
  exit code 1 when any file is invalid.
- ``pyecs run FILE --count N``: one-off tasks; streams their output, exits with the
  essential container's exit code.
- ``pyecs up FILE --desired-count N``: a service in the foreground, like
  ``docker compose up``; Ctrl-C drains it and removes everything.
- ``pyecs serve``: the ECS API over HTTP, for boto3 and the aws CLI.
- ``pyecs gc``: remove what dead pyecs runs left behind (Docker containers, processes).

Errors are one line on stderr (``pyecs: error: ...``), never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from pyecs import __version__
from pyecs.cli._common import CliError
from pyecs.exceptions import InvalidTaskDefinitionError, PyecsError
from pyecs.models.task_definition import TaskDefinition

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pyecs`` and its commands."""
    from pyecs.cli import _run as _cli_run
    from pyecs.cli import _serve as _cli_serve
    from pyecs.cli import _up as _cli_up

    parser = argparse.ArgumentParser(
        prog="pyecs",
        description="Amazon ECS semantics on this machine: validate task definitions, run "
        "tasks and services locally (Docker or local processes), clean up.",
    )
    parser.add_argument("--version", action="version", version=f"pyecs {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    v = commands.add_parser(
        "validate",
        help="check task definitions against the ECS rules",
        description="Load each task-definition.json as `aws ecs register-task-definition "
        "--cli-input-json` would, and list every problem with its JSON path. Exit code 1 "
        "when any file is invalid.",
    )
    v.add_argument("files", nargs="+", metavar="TASK_DEFINITION", help="task-definition.json")
    v.add_argument("--json", action="store_true", help="print the problems as JSON")
    v.set_defaults(handler=validate)

    _cli_run.add_parser(commands)
    _cli_up.add_parser(commands)
    _cli_serve.add_parser(commands)

    g = commands.add_parser(
        "gc",
        help="remove what dead pyecs runs left behind",
        description="Remove Docker containers, networks and volumes labelled by pyecs whose "
        "owner process is gone (a crashed script, a killed pytest, a cluster kept with "
        "--pyecs-keep), and any process-backend program whose owner is gone.",
    )
    g.add_argument(
        "--all",
        action="store_true",
        help="also remove Docker resources of pyecs processes that still run (careful: "
        "this stops clusters that are open right now)",
    )
    g.add_argument("--no-docker", action="store_true", help="leave Docker alone")
    g.set_defaults(handler=gc)
    return parser


async def validate(args: argparse.Namespace) -> int:
    """The ``validate`` command."""
    report: list[dict[str, Any]] = []
    bad = 0
    for path in args.files:
        entry: dict[str, Any] = {"file": path, "valid": False, "problems": []}
        try:
            td = TaskDefinition.from_file(path)
        except InvalidTaskDefinitionError as exc:
            bad += 1
            entry["problems"] = [{"path": p.path, "message": p.message} for p in exc.problems]
            if not args.json:
                n = len(exc.problems)
                _say(f"{path}: invalid: {n} problem{'s' if n != 1 else ''}")
                for p in exc.problems:
                    _say(f"  {p.path or '(document)'}: {p.message}")
        except OSError as exc:
            bad += 1
            message = exc.strerror or str(exc)
            entry["problems"] = [{"path": "", "message": message}]
            if not args.json:
                _say(f"{path}: cannot read: {message}")
        else:
            entry["valid"] = True
            entry["family"] = td.family
            if not args.json:
                names = ", ".join(str(c.name) for c in td.containers)
                _say(f"{path}: ok (family {td.family}; containers: {names})")
        report.append(entry)
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if bad else 0


def _say(line: str) -> None:
    """Print a line that may quote the input: a lone surrogate (from JSON ``"\\ud800"`` or
    an undecodable file name) is shown escaped instead of failing the whole output."""
    print(line.encode("utf-8", "backslashreplace").decode("utf-8"))


async def gc(args: argparse.Namespace) -> int:
    """The ``gc`` command."""
    from pyecs.ops import collect_garbage

    result = await collect_garbage(docker=not args.no_docker, all_owners=args.all)
    lines = result.lines()
    if result.empty:
        lines.insert(0, "nothing to remove")
    for line in lines:
        print(line)
    return 0


def _error(message: str) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    sys.stderr.write(f"pyecs: error: {first}\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pyecs`` with ``argv`` (default: the command line); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return int(anyio.run(functools.partial(handler, args)))
    except CliError as exc:
        _error(str(exc))
        return exc.code
    except InvalidTaskDefinitionError as exc:
        n = len(exc.problems)
        _error(
            f"{exc.problems[0] if n else 'invalid task definition'}"
            + (f" (and {n - 1} more)" if n > 1 else "")
        )
        return 1
    except PyecsError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except OSError as exc:
        _error(str(exc))
        return 1
    except BaseExceptionGroup as group:  # an error inside a task group
        leaf = _first_leaf(group)
        if isinstance(leaf, KeyboardInterrupt):
            _error("interrupted")
            return 130
        if isinstance(leaf, CliError | PyecsError | OSError):
            _error(str(leaf))
            return int(getattr(leaf, "code", 1))
        return _unexpected(leaf)
    except Exception as exc:
        return _unexpected(exc)
    finally:
        sys.stdout.flush()


def _unexpected(exc: BaseException) -> int:
    if os.environ.get("PYECS_DEBUG"):
        raise exc
    _error(f"{type(exc).__name__}: {exc} (PYECS_DEBUG=1 shows the traceback)")
    return 1


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
