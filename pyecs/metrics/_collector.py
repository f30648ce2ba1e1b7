"""The sampling loop: every ``resolution`` seconds, ask each source, store the points.

Sources are async callables ``(at, interval) -> samples``: the tasks' usage from the
backend, the services' task counts and load balancer counters (the cluster adds them),
and the user's own metrics (a plain or async callable sampled each period). The loop
sleeps on anyio's clock between rounds (no polling), so under trio's MockClock a
simulated hour of metrics takes no time.

Sampling takes at most :data:`SHARE` of the event loop's time: a round that took long
(a million tasks) makes the next ones wait, and the rounds in between are skipped (no
points for those periods, as CloudWatch has none when nothing reports).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping

import anyio
import anyio.abc
import attrs

from pyecs.exceptions import InvalidParameterError
from pyecs.metrics._store import MetricKey, MetricStore, dimensions_key

__all__ = ["MetricsCollector", "Sample", "Source", "UserMetric", "check_resolution"]

_log = logging.getLogger("pyecs.metrics")

#: The most of the event loop's time the sampling rounds take, on average.
SHARE = 0.1


@attrs.frozen
class Sample:
    """One value of one series, as a source reports it."""

    namespace: str
    metric_name: str
    value: float
    dimensions: Mapping[str, str] = attrs.field(factory=dict)
    unit: str = "None"


Source = Callable[[float, float], Awaitable[Iterable[Sample]]]
UserSource = Callable[[], float] | Callable[[], Awaitable[float]]


@attrs.frozen
class UserMetric:
    """A user metric: a callable sampled each period, stored as a custom metric."""

    key: MetricKey
    source: UserSource
    unit: str = "None"


def check_resolution(value: object) -> float:
    """A resolution in seconds, 1 to 60.

    Raises:
        InvalidParameterError: naming the range.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 1 <= value <= 60
    ):
        raise InvalidParameterError(
            f"metrics_resolution must be seconds from 1 to 60 (CloudWatch's high and standard "
            f"resolutions), got {value!r}"
        )
    return float(value)


class MetricsCollector:
    """Samples every source once per ``resolution`` and writes the store.

    Args:
        store: Where the points go.
        resolution: Seconds between rounds, 1 to 60.
    """

    def __init__(self, store: MetricStore, resolution: float = 5.0) -> None:
        self.store = store
        self.resolution = check_resolution(resolution)
        self._sources: list[Source] = []
        self._user: dict[MetricKey, UserMetric] = {}
        self._failed: set[object] = set()

    def add_source(self, source: Source) -> None:
        """Sample ``source`` each round from now on."""
        self._sources.append(source)

    def add_metric(
        self,
        metric_name: str,
        source: UserSource,
        *,
        namespace: str = "pyecs/Custom",
        dimensions: Mapping[str, str] | None = None,
        unit: str = "None",
    ) -> MetricKey:
        """Sample ``source()`` (plain or async, returning a number) each period.

        The value is stored as ``namespace``/``metric_name`` with ``dimensions``, usable
        in a customized target tracking metric or a step scaling alarm.

        Raises:
            InvalidParameterError: a name that is empty, or a source that is not callable.
        """
        if not isinstance(metric_name, str) or not metric_name:
            raise InvalidParameterError("metric_name must be a non-empty string")
        if not callable(source):
            raise InvalidParameterError(
                f"source of metric {metric_name!r} must be a callable returning a number"
            )
        key = MetricKey(namespace, metric_name, dimensions_key(dimensions))
        self._user[key] = UserMetric(key, source, unit)
        return key

    def remove_metric(self, key: MetricKey) -> None:
        """Stop sampling a user metric (its points stay until they age out)."""
        self._user.pop(key, None)

    @property
    def user_metrics(self) -> list[MetricKey]:
        """The user metrics sampled each period."""
        return list(self._user)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Sample until cancelled; a round late by more than a period is skipped, and so
        are those that would make sampling take more than :data:`SHARE` of the time."""
        r = self.resolution
        start = anyio.current_time()
        task_status.started()
        k = 1
        while True:
            await anyio.sleep_until(start + k * r)
            at = start + k * r
            began = anyio.current_time()
            await self.sample_round(at, r)
            now = anyio.current_time()
            # The next round no sooner than the time this one took, times 1/SHARE - 1.
            not_before = now + (now - began) * (1 / SHARE - 1)
            k = max(k + 1, math.floor((not_before - start) / r) + 1)

    async def sample_round(self, at: float, interval: float) -> None:
        """One round: every source, every user metric; points stamped ``at - interval``."""
        stamp = at - interval
        for source in list(self._sources):
            try:
                samples = await source(at, interval)
            except Exception:
                self._once(source, "metrics source %r failed", source)
                continue
            for s in samples:
                self.store.put(
                    s.namespace,
                    s.metric_name,
                    s.value,
                    dimensions=s.dimensions,
                    timestamp=stamp,
                    unit=s.unit,
                )
        for metric in list(self._user.values()):
            try:
                value = metric.source()
                if inspect.isawaitable(value):
                    with anyio.fail_after(interval):
                        value = await value
                self.store.put(
                    metric.key.namespace,
                    metric.key.metric_name,
                    value,  # checked by put
                    dimensions=metric.key.dimension_map,
                    timestamp=stamp,
                    unit=metric.unit,
                )
            except Exception:
                self._once(metric.key, "user metric %s failed", metric.key.metric_name)
        self.store.round_done(at)

    def _once(self, what: object, message: str, arg: object) -> None:
        if what not in self._failed:
            self._failed.add(what)
            _log.exception(message + " (said once)", arg)
