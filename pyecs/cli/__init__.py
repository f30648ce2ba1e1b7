"""``pyecs``: the command line.

- ``pyecs validate FILE...``: every problem of each task definition, with its JSON path,
  and warnings for what ECS accepts but may surprise; exit code 1 when any file is invalid.
  ``--strict-cli`` adds the aws CLI's client-side checks (nulls, exact types...).
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
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from pyecs import __version__
from pyecs._files import read_bounded
from pyecs.cli._common import CliError
from pyecs.ecs import cli_problems, task_definition_warnings
from pyecs.ecs._converter import TASK_DEFINITION_FILE_LIMIT
from pyecs.exceptions import (
    InvalidTaskDefinitionError,
    Problem,
    PyecsError,
    TaskDefinitionWarning,
)
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
        description="Load each task-definition.json as the ECS service's "
        "RegisterTaskDefinition would, and list every problem with its JSON path, and a "
        "warning for what ECS accepts but does not do as one may expect. Exit code 1 when "
        "any file is invalid.",
    )
    v.add_argument("files", nargs="+", metavar="TASK_DEFINITION", help="task-definition.json")
    v.add_argument("--json", action="store_true", help="print the problems as JSON")
    v.add_argument(
        "--strict-cli",
        action="store_true",
        help="also apply the aws CLI's client-side checks (`aws ecs register-task-definition "
        "--cli-input-json` refuses nulls, numbers for the task's cpu/memory, describe "
        "output members...), which the ECS service itself does not",
    )
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
        entry = _validate_one(path, strict_cli=args.strict_cli)
        if not entry["valid"]:
            bad += 1
        report.append(entry)
        if not args.json:
            _print_entry(entry)
    if args.json:
        print(json.dumps(report, indent=2))
    return 1 if bad else 0


def _validate_one(path: str, *, strict_cli: bool) -> dict[str, Any]:
    """One file's report: ``file``, ``valid``, ``problems``, ``warnings`` (and ``family``)."""
    entry: dict[str, Any] = {"file": path, "valid": False, "problems": [], "warnings": []}
    problems: list[Problem] = []
    try:
        with warnings.catch_warnings():
            # Listed below as lines of the report, not as Python warnings.
            warnings.simplefilter("ignore", TaskDefinitionWarning)
            td = TaskDefinition.from_file(path)
    except InvalidTaskDefinitionError as exc:
        problems.extend(exc.problems)
        td = None
    except OSError as exc:
        entry["problems"] = [{"path": "", "message": exc.strerror or str(exc), "read": False}]
        return entry
    if strict_cli:
        problems.extend(_cli_only_problems(path, problems))
    entry["problems"] = [{"path": p.path, "message": p.message} for p in problems]
    if td is not None:
        entry["family"] = td.family
        entry["containers"] = [str(c.name) for c in td.containers]
        entry["warnings"] = [
            {"path": w.path, "message": w.message} for w in task_definition_warnings(td)
        ]
    entry["valid"] = not problems
    return entry


def _cli_only_problems(path: str, seen: list[Problem]) -> list[Problem]:
    """What the aws CLI refuses in the file, beyond what the service refuses."""
    try:
        raw = json.loads(read_bounded(path, TASK_DEFINITION_FILE_LIMIT, what="a JSON file"))
    except (OSError, ValueError, RecursionError):
        return []  # already reported as unreadable or malformed
    paths = {p.path for p in seen}
    return [p for p in cli_problems(raw) if p.path not in paths]


def _print_entry(entry: dict[str, Any]) -> None:
    path = entry["file"]
    problems = entry["problems"]
    if problems and problems[0].get("read") is False:
        _say(f"{path}: cannot read: {problems[0]['message']}")
        return
    if problems:
        n = len(problems)
        _say(f"{path}: invalid: {n} problem{'s' if n != 1 else ''}")
        for p in problems:
            _say(f"  {p['path'] or '(document)'}: {p['message']}")
    else:
        names = ", ".join(entry["containers"])
        _say(f"{path}: ok (family {entry['family']}; containers: {names})")
    for w in entry["warnings"]:
        _say(f"  warning: {w['path']}: {w['message']}")


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
