"""The cluster's metrics: the collector, and the sources that need the services.

Per service (Container Insights): RunningTaskCount, PendingTaskCount, DesiredTaskCount.
Per load balancer target group (AWS/ApplicationELB, dimension ``TargetGroup``, and
``LoadBalancer``): RequestCount, RequestCountPerTarget (requests over healthy targets, at
least one), TargetResponseTime (average seconds to the first byte),
HTTPCode_Target_5XX_Count, HealthyHostCount and UnHealthyHostCount.
Per capacity provider with instances of its own (AWS/ECS/ManagedScaling, dimensions
``ClusterName`` and ``CapacityProviderName``): CapacityProviderReservation, in percent.
"""

from __future__ import annotations

from collections.abc import Callable

from pyecs.metrics import Sample
from pyecs.service._service import Service

__all__ = ["CapacityMetrics", "ServiceMetrics"]


class CapacityMetrics:
    """A metrics source: CapacityProviderReservation of each provider with instances.

    ECS publishes it in ``AWS/ECS/ManagedScaling`` for providers backed by Auto Scaling
    groups; FARGATE and FARGATE_SPOT have no instances, and no such metric.
    """

    def __init__(
        self,
        cluster: str,
        providers: Callable[[], list[str]],
        reservation: Callable[[str], float],
    ) -> None:
        self.cluster = cluster
        self.providers = providers
        self.reservation = reservation

    async def __call__(self, at: float, interval: float) -> list[Sample]:
        return [
            Sample(
                "AWS/ECS/ManagedScaling",
                "CapacityProviderReservation",
                self.reservation(name),
                {"ClusterName": self.cluster, "CapacityProviderName": name},
                "Percent",
            )
            for name in self.providers()
        ]


class ServiceMetrics:
    """A metrics source over the cluster's services and their load balancers."""

    def __init__(self, cluster: str, services: Callable[[], list[Service]]) -> None:
        self.cluster = cluster
        self.services = services
        self._counters: dict[str, tuple[int, int, float, int]] = {}

    async def __call__(self, at: float, interval: float) -> list[Sample]:
        out: list[Sample] = []
        seen = set()
        for svc in self.services():
            if svc.status == "INACTIVE":
                continue
            dims = {"ClusterName": self.cluster, "ServiceName": svc.name}
            ci = "ECS/ContainerInsights"
            out.append(Sample(ci, "RunningTaskCount", svc.running_count, dims, "Count"))
            out.append(Sample(ci, "PendingTaskCount", svc.pending_count, dims, "Count"))
            out.append(Sample(ci, "DesiredTaskCount", svc.desired_count, dims, "Count"))
            for lb in svc.load_balancers:
                group = lb.target_group_arn.rpartition(":")[2]
                seen.add(group)
                lb_dims = {"TargetGroup": group, "LoadBalancer": f"app/{svc.name}/local"}
                stats = lb.stats
                before = self._counters.get(group, (0, 0, 0.0, 0))
                now = (stats.requests, stats.responses, stats.response_time, stats.target_5xx)
                self._counters[group] = now
                requests = now[0] - before[0]
                responses = now[1] - before[1]
                states = [t.state for t in lb.targets()]
                healthy = sum(1 for s in states if s == "healthy")
                elb = "AWS/ApplicationELB"
                out.append(Sample(elb, "RequestCount", requests, lb_dims, "Count"))
                out.append(
                    Sample(
                        elb,
                        "RequestCountPerTarget",
                        requests / max(1, healthy),
                        {"TargetGroup": group},
                        "Count",
                    )
                )
                if responses:
                    out.append(
                        Sample(
                            elb,
                            "TargetResponseTime",
                            (now[2] - before[2]) / responses,
                            lb_dims,
                            "Seconds",
                        )
                    )
                out.append(
                    Sample(elb, "HTTPCode_Target_5XX_Count", now[3] - before[3], lb_dims, "Count")
                )
                out.append(Sample(elb, "HealthyHostCount", healthy, lb_dims, "Count"))
                out.append(
                    Sample(
                        elb,
                        "UnHealthyHostCount",
                        sum(1 for s in states if s == "unhealthy"),
                        lb_dims,
                        "Count",
                    )
                )
        for gone in set(self._counters) - seen:
            del self._counters[gone]
        return out
