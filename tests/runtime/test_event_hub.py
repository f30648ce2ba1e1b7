"""The event hub knows whether anybody listens (the task path skips events when not)."""

from __future__ import annotations

import pytest

from pyecs.runtime._events import EventHub, TaskStateChange

pytestmark = pytest.mark.anyio


async def test_has_subscribers_follows_subscribers_as_they_come_and_go() -> None:
    hub = EventHub()
    assert hub.has_subscribers is False
    async with hub.subscribe():
        assert hub.has_subscribers is True
        async with hub.subscribe():
            assert hub.has_subscribers is True
        assert hub.has_subscribers is True  # the first one still listens
    assert hub.has_subscribers is False


async def test_a_subscriber_that_closed_its_end_is_dropped_at_the_next_event() -> None:
    hub = EventHub()
    async with hub.subscribe() as events:
        await events.aclose()  # type: ignore[attr-defined]
        assert hub.has_subscribers is True  # the hub learns it when it next publishes
        hub.publish(TaskStateChange(None, None))  # type: ignore[arg-type]
        assert hub.has_subscribers is False


async def test_close_leaves_no_subscriber() -> None:
    hub = EventHub()
    async with hub.subscribe():
        hub.close()
        assert hub.has_subscribers is False
    assert hub.has_subscribers is False
