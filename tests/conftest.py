"""Shared fixtures for the pyecs test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio by default (modules may parametrize trio too)."""
    return "asyncio"


@pytest.fixture
def seed_task_definition_path() -> Path:
    """The seed's ECS example, ``examples/task-definition.json``."""
    return ROOT / "examples" / "task-definition.json"
