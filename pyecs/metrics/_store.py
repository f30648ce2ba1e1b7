"""Bounded time series in CloudWatch's terms: namespace, metric name, dimensions.

Each series keeps a fixed number of points in a ring of two ``array('d')`` (16 bytes a
point), so memory is bounded by ``retention`` x the number of series, and the number of
series is bounded too (the series updated least recently are forgotten first).
Timestamps are anyio clock seconds; a point's timestamp is the *start* of the interval it
measures, as CloudWatch stamps a period by its start.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import math
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Literal

import anyio
import attrs
from anyio.streams.memory import MemoryObjectSendStream

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "STATISTICS",
    "Datapoint",
    "MetricKey",
    "MetricStore",
    "Statistic",
    "StatisticsDatapoint",
    "dimensions_key",
]

Statistic = Literal["Average", "Minimum", "Maximum", "Sum", "SampleCount"]
STATISTICS: tuple[Statistic, ...] = ("Average", "Minimum", "Maximum", "Sum", "SampleCount")

Dimensions = tuple[tuple[str, str], ...]


def dimensions_key(dimensions: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> Dimensions:
    """Dimensions as a sorted tuple of ``(name, value)`` (a dict or pairs in)."""
    if dimensions is None:
        return ()
    items = dimensions.items() if isinstance(dimensions, Mapping) else dimensions
    return tuple(sorted((str(k), str(v)) for k, v in items))


@attrs.frozen
class MetricKey:
    """One series: CloudWatch's namespace, metric name and dimensions."""

    namespace: str
    metric_name: str
    dimensions: Dimensions = ()

    @property
    def dimension_map(self) -> dict[str, str]:
        """The dimensions as a dict."""
        return dict(self.dimensions)


@attrs.frozen
class Datapoint:
    """One new point of one series, as the stream of new datapoints yields it."""

    key: MetricKey
    timestamp: float
    value: float
    unit: str = "None"


@attrs.frozen
class StatisticsDatapoint:
    """The statistics of one period (CloudWatch ``Datapoint``); absent ones are None."""

    timestamp: float
    sample_count: float
    average: float
    sum: float
    minimum: float
    maximum: float
    unit: str = "None"

    def get(self, statistic: Statistic) -> float:
        """One statistic by its CloudWatch name."""
        return {
            "Average": self.average,
            "Minimum": self.minimum,
            "Maximum": self.maximum,
            "Sum": self.sum,
            "SampleCount": self.sample_count,
        }[statistic]


class _Series:
    """A ring of ``capacity`` (timestamp, value) pairs, oldest overwritten first."""

    __slots__ = ("capacity", "count", "start", "times", "unit", "updated", "values")

    def __init__(self, capacity: int, unit: str) -> None:
        self.capacity = capacity
        self.times = array.array("d", bytes(8 * capacity))
        self.values = array.array("d", bytes(8 * capacity))
        self.start = 0
        self.count = 0
        self.unit = unit
        self.updated = -math.inf

    def append(self, t: float, v: float) -> None:
        i = (self.start + self.count) % self.capacity
        self.times[i] = t
        self.values[i] = v
        if self.count < self.capacity:
            self.count += 1
        else:
            self.start = (self.start + 1) % self.capacity
        self.updated = t

    def points(self) -> tuple[list[float], list[float]]:
        idx = [(self.start + k) % self.capacity for k in range(self.count)]
        return [self.times[i] for i in idx], [self.values[i] for i in idx]


class MetricStore:
    """Every series of a cluster, with CloudWatch-style statistics and a live stream.

    Args:
        retention: Points kept per series (default 3,600: an hour at 1 s, 60 hours at
            60 s). 16 bytes a point: 3,600 points are 56 KiB per series.
        max_series: Series kept at most; beyond it the least recently updated goes.
    """

    def __init__(self, *, retention: int = 3600, max_series: int = 5000) -> None:
        for name, value in (("retention", retention), ("max_series", max_series)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")
        self.retention = retention
        self.max_series = max_series
        #: Least recently updated first: a put moves its series to the end, so the one to
        #: drop when full is the first (constant time, however many series there are).
        self._series: OrderedDict[MetricKey, _Series] = OrderedDict()
        self._subscribers: set[MemoryObjectSendStream[Datapoint]] = set()
        self._round = anyio.Event()
        self.last_round: float | None = None

    # -- writes ----------------------------------------------------------------------------

    def put(
        self,
        namespace: str,
        metric_name: str,
        value: float,
        *,
        dimensions: Mapping[str, str] | None = None,
        timestamp: float | None = None,
        unit: str = "None",
    ) -> None:
        """Add one point (``timestamp``: anyio seconds, default now).

        Raises:
            InvalidParameterError: a value that is not a finite number, or a timestamp
                older than the series' last point.
        """
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidParameterError(
                f"metric {namespace}/{metric_name}: value must be a finite number, got {value!r}"
            )
        t = anyio.current_time() if timestamp is None else float(timestamp)
        key = MetricKey(namespace, metric_name, dimensions_key(dimensions))
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self.max_series:
                self._series.popitem(last=False)  # the least recently updated
            series = self._series[key] = _Series(self.retention, unit)
        elif t < series.updated:
            raise InvalidParameterError(
                f"metric {namespace}/{metric_name}: timestamp {t} is older than the last "
                f"point ({series.updated}); put points in time order"
            )
        else:
            self._series.move_to_end(key)
        series.append(t, float(value))
        if self._subscribers:
            point = Datapoint(key, t, float(value), unit)
            for send in list(self._subscribers):
                try:
                    send.send_nowait(point)
                except anyio.WouldBlock:
                    pass  # a slow reader loses points rather than stall the collector
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    self._subscribers.discard(send)

    def forget(self, dimension: str, value: str) -> int:
        """Drop every series with this dimension value (a task long gone); how many."""
        gone = [k for k in self._series if (dimension, value) in k.dimensions]
        for k in gone:
            del self._series[k]
        return len(gone)

    def round_done(self, at: float) -> None:
        """The collector finished a round of samples taken at ``at``: wake the waiters."""
        self.last_round = at
        self._round.set()
        self._round = anyio.Event()

    async def wait_round(self) -> float:
        """Wait for the collector's next round; its time."""
        await self._round.wait()
        assert self.last_round is not None
        return self.last_round

    # -- reads -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._series)

    def list_metrics(
        self,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricKey]:
        """The series that match (``dimensions``: each given one must match)."""
        want = dimensions_key(dimensions)
        return sorted(
            (
                k
                for k in self._series
                if (namespace is None or k.namespace == namespace)
                and (metric_name is None or k.metric_name == metric_name)
                and all(d in k.dimensions for d in want)
            ),
            key=lambda k: (k.namespace, k.metric_name, k.dimensions),
        )

    def points(
        self, namespace: str, metric_name: str, dimensions: Mapping[str, str] | None = None
    ) -> list[tuple[float, float]]:
        """Every kept ``(timestamp, value)`` of one series, oldest first."""
        series = self._series.get(MetricKey(namespace, metric_name, dimensions_key(dimensions)))
        if series is None:
            return []
        times, values = series.points()
        return list(zip(times, values, strict=True))

    def latest(
        self, namespace: str, metric_name: str, dimensions: Mapping[str, str] | None = None
    ) -> tuple[float, float] | None:
        """The newest ``(timestamp, value)`` of one series, or None."""
        series = self._series.get(MetricKey(namespace, metric_name, dimensions_key(dimensions)))
        if series is None or series.count == 0:
            return None
        i = (series.start + series.count - 1) % series.capacity
        return series.times[i], series.values[i]

    def get_metric_statistics(
        self,
        namespace: str,
        metric_name: str,
        *,
        dimensions: Mapping[str, str] | None = None,
        start_time: float,
        end_time: float,
        period: float,
        statistics: Sequence[Statistic] = STATISTICS,
    ) -> list[StatisticsDatapoint]:
        """Statistics per period in ``[start_time, end_time)``, oldest first.

        As CloudWatch's GetMetricStatistics: a period ``[s, s + period)`` counts the
        points stamped in it; periods without points are left out.

        Raises:
            InvalidParameterError: a period that is not > 0, an end before the start, or
                an unknown statistic.
        """
        if not period > 0 or not math.isfinite(period):
            raise InvalidParameterError(f"period must be seconds > 0, got {period!r}")
        if end_time < start_time:
            raise InvalidParameterError("end_time must not be before start_time")
        for s in statistics:
            if s not in STATISTICS:
                raise InvalidParameterError(
                    f"unknown statistic {s!r}; use one of {', '.join(STATISTICS)}"
                )
        series = self._series.get(MetricKey(namespace, metric_name, dimensions_key(dimensions)))
        if series is None:
            return []
        times, values = series.points()
        lo = bisect.bisect_left(times, start_time)
        hi = bisect.bisect_left(times, end_time)
        out: list[StatisticsDatapoint] = []
        buckets: dict[int, list[float]] = {}
        for t, v in zip(times[lo:hi], values[lo:hi], strict=True):
            buckets.setdefault(int((t - start_time) // period), []).append(v)
        for k in sorted(buckets):
            vs = buckets[k]
            total = math.fsum(vs)
            out.append(
                StatisticsDatapoint(
                    timestamp=start_time + k * period,
                    sample_count=float(len(vs)),
                    average=total / len(vs),
                    sum=total,
                    minimum=min(vs),
                    maximum=max(vs),
                    unit=series.unit,
                )
            )
        return out

    @contextlib.asynccontextmanager
    async def subscribe(self, buffer: int = 10_000) -> AsyncIterator[AsyncIterator[Datapoint]]:
        """New datapoints from now on: ``async with store.subscribe() as points:``.

        A reader more than ``buffer`` points behind loses the newest ones until it
        catches up (the collector never waits for a reader).
        """
        send, receive = anyio.create_memory_object_stream[Datapoint](buffer)
        self._subscribers.add(send)
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    def close(self) -> None:
        """End every subscriber's iteration (the cluster closes)."""
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()
