"""Run ruff on generated source, as the generators in this folder need it.

The generated files are committed formatted: a generator pipes its text through
``ruff check --fix`` / ``ruff format`` with the output's file name, so that the project's
ruff settings apply.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class RuffError(Exception):
    """ruff is missing, or refused the source."""


def ruff_run(args: list[str], source: str, filename: Path) -> str:
    """``ruff <args> -`` on ``source`` as if it were ``filename``; its output."""
    beside = Path(sys.executable).with_name("ruff")
    ruff = str(beside) if beside.exists() else shutil.which("ruff")
    if ruff is None:
        raise RuffError("ruff is not installed: pip install -e '.[dev]'")
    done = subprocess.run(
        [ruff, *args, "--stdin-filename", str(filename), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuffError(f"ruff {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout
