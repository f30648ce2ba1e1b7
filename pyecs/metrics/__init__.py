"""Metrics: bounded time series of tasks, services and load balancers, in CloudWatch's
terms, with statistics, a live stream, user metrics and a Prometheus export."""

from pyecs.metrics._collector import MetricsCollector, Sample, UserMetric, check_resolution
from pyecs.metrics._export import CONTENT_TYPE, metrics_asgi_app, prometheus_name, prometheus_text
from pyecs.metrics._store import (
    STATISTICS,
    Datapoint,
    MetricKey,
    MetricStore,
    Statistic,
    StatisticsDatapoint,
    dimensions_key,
)
from pyecs.metrics._tasks import TaskUsage

__all__ = [
    "CONTENT_TYPE",
    "STATISTICS",
    "Datapoint",
    "MetricKey",
    "MetricStore",
    "MetricsCollector",
    "Sample",
    "Statistic",
    "StatisticsDatapoint",
    "TaskUsage",
    "UserMetric",
    "check_resolution",
    "dimensions_key",
    "metrics_asgi_app",
    "prometheus_name",
    "prometheus_text",
]
