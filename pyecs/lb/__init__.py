"""The in-process load balancer: a TCP listener per service load balancer, and its targets.

``pyecs.LoadBalancer`` and ``pyecs.TargetGroupHealthCheck`` configure one
(``cluster.create_service(..., load_balancers=[...])``); ``svc.load_balancer`` is the
running :class:`ServiceLoadBalancer`. See ``docs/load-balancing.md``.
"""

from pyecs.lb._balancer import ServiceLoadBalancer, TargetDescription
from pyecs.lb._config import LoadBalancer, TargetGroupHealthCheck
from pyecs.lb._forwarder import LoadBalancerStats
from pyecs.lb._health import TargetState

__all__ = [
    "LoadBalancer",
    "LoadBalancerStats",
    "ServiceLoadBalancer",
    "TargetDescription",
    "TargetGroupHealthCheck",
    "TargetState",
]
