"""The store in Prometheus's exposition format, through prometheus-client (optional).

Each series becomes a gauge sample of its latest value: ``AWS/ECS`` ``CPUUtilization``
with dimensions ``ClusterName``, ``ServiceName`` becomes
``aws_ecs_cpu_utilization{cluster_name="...",service_name="..."}``. Install the extra:
``pip install 'pyecs[metrics]'``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from pyecs.exceptions import PyecsError
from pyecs.metrics._store import MetricStore

__all__ = ["CONTENT_TYPE", "metrics_asgi_app", "prometheus_name", "prometheus_text"]

#: The content type of the exposition format (version 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_BAD = re.compile(r"[^a-zA-Z0-9_]+")


def prometheus_name(*parts: str) -> str:
    """``("AWS/ECS", "CPUUtilization")`` -> ``aws_ecs_cpu_utilization``."""
    words = [_BAD.sub("_", _CAMEL.sub("_", p)) for p in parts if p]
    return re.sub(r"_+", "_", "_".join(words)).strip("_").lower()


def _client() -> Any:
    try:
        import prometheus_client.core
        import prometheus_client.exposition
        import prometheus_client.registry
    except ImportError:
        raise PyecsError(
            "the Prometheus export needs prometheus-client: pip install 'pyecs[metrics]'"
        ) from None
    return prometheus_client


Stores = MetricStore | Iterable[MetricStore]


def _stores(stores: Stores) -> list[MetricStore]:
    return [stores] if isinstance(stores, MetricStore) else list(stores)


def _registry(stores: Stores) -> Any:
    pc = _client()
    every = _stores(stores)

    class _StoreCollector(pc.registry.Collector):  # type: ignore[misc, name-defined]
        def collect(self) -> Iterator[Any]:
            families: dict[str, Any] = {}
            for store, key in ((s, k) for s in every for k in s.list_metrics()):
                latest = store.latest(key.namespace, key.metric_name, key.dimension_map)
                if latest is None:
                    continue
                name = prometheus_name(key.namespace, key.metric_name)
                labels = {prometheus_name(k): v for k, v in key.dimensions}
                family = families.get(name)
                if family is None:
                    family = families[name] = pc.core.GaugeMetricFamily(
                        name, f"{key.namespace} {key.metric_name} (latest value)"
                    )
                family.add_sample(name, labels, latest[1])
            yield from families.values()

    registry = pc.registry.CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector())
    return registry


def prometheus_text(store: Stores) -> bytes:
    """The latest value of every series, in the Prometheus text format.

    ``store`` may be several stores (the clusters of a server): their series are
    exposed together (each carries its ``cluster_name`` label).

    Raises:
        PyecsError: when prometheus-client is not installed, saying how to add it.
    """
    return bytes(_client().exposition.generate_latest(_registry(store)))


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


def metrics_asgi_app(store: Stores | Callable[[], Iterable[MetricStore]]) -> ASGIApp:
    """An ASGI app answering any GET with :func:`prometheus_text` (mount it at /metrics).

    ``store``: one store, several, or a callable returning the stores at each request.

    Raises:
        PyecsError: when prometheus-client is not installed, saying how to add it.
    """
    _client()

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = prometheus_text(store() if callable(store) else store)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
