"""Auto scaling tests run on trio with a MockClock: simulated hours pass at once."""

from __future__ import annotations

import datetime
from typing import Any

import anyio
import pytest
import trio.testing

#: The wall clock of the simulated clusters: anyio time 0 is this instant (UTC).
EPOCH = datetime.datetime(2024, 3, 9, 12, 0, tzinfo=datetime.UTC)


def mock_wall_clock(epoch: datetime.datetime = EPOCH) -> Any:
    """A cluster ``clock`` that follows anyio's (mock) clock from ``epoch``."""
    return lambda: epoch + datetime.timedelta(seconds=anyio.current_time())


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
