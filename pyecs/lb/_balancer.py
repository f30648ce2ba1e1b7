"""``ServiceLoadBalancer``: one listener and its target group, running in-process.

The listener accepts TCP connections and splices each one to a target the algorithm
picks among the ``healthy`` ones (or, as ELB does when every registered target is
unhealthy, among the unhealthy ones: fail open). A connection that a target refuses is
tried on another target; nothing has been sent to the client yet then, so the client
never notices. Deregistration drains: no new connections, open ones may finish within
the deregistration delay.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable

import anyio
import anyio.abc
import attrs
from anyio.abc import SocketAttribute

from pyecs.exceptions import InvalidParameterError
from pyecs.lb._algorithms import make_picker
from pyecs.lb._config import LoadBalancer
from pyecs.lb._forwarder import Forwarder, LoadBalancerStats, Target
from pyecs.lb._health import TargetHealth, TargetState, run_check

__all__ = [
    "LoadBalancerStats",
    "ServiceLoadBalancer",
    "TargetDescription",
    "target_group_arn",
]


@attrs.frozen
class TargetDescription:
    """A registered target as ELB's ``DescribeTargetHealth`` shows it.

    Attributes:
        task_arn: The task behind the target.
        address: ``host:port`` the load balancer connects to.
        state: ``initial``, ``healthy``, ``unhealthy`` or ``draining``.
        reason: Why the last health check failed, or "".
        connections: Connections open through the load balancer now.
    """

    task_arn: str
    task_id: str
    address: str
    state: TargetState
    reason: str
    connections: int


class ServiceLoadBalancer:
    """The running load balancer of a service: read ``address``/``url``, ``targets()``.

    Created by ``cluster.create_service(..., load_balancers=[...])``; the service opens
    its listener when it starts and closes it when it goes INACTIVE or the cluster closes.
    """

    def __init__(
        self,
        config: LoadBalancer,
        *,
        service_name: str,
        target_group_name: str,
        target_group_arn: str,
        on_change: Callable[[], None],
    ) -> None:
        self.config = config
        self.service_name = service_name
        self.target_group_name = target_group_name
        self.target_group_arn = target_group_arn
        self._on_change = on_change
        self._forwarder = Forwarder(
            make_picker(config.algorithm), self._eligible, config.connect_timeout
        )
        self._targets: dict[str, Target] = {}
        self._listener: anyio.abc.SocketListener | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._host = config.listener_host
        self._port = config.listener_port
        self._registered: list[str] = []
        self._deregistered: list[str] = []
        #: Whether the security groups of a target's task admit this balancer now
        #: (task ARN -> bool); set by the service's load-balancing feature.
        self.admits: Callable[[str], bool] = lambda task_arn: True

    def __repr__(self) -> str:
        return f"<ServiceLoadBalancer {self.target_group_name} {self.address}>"

    # -- reads -----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``: where clients connect (the port is known once listening)."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self._port}"

    @property
    def is_listening(self) -> bool:
        """True while the listener is open (from service start until INACTIVE or close)."""
        return self._listener is not None

    @property
    def port(self) -> int:
        """The listener port."""
        return self._port

    @property
    def url(self) -> str:
        """``http://`` + :attr:`address`."""
        return f"http://{self.address}"

    @property
    def stats(self) -> LoadBalancerStats:
        """Connections accepted, retried on another target, and rejected."""
        return self._forwarder.stats

    def targets(self) -> list[TargetDescription]:
        """The registered targets, in registration order."""
        return [
            TargetDescription(
                t.task_arn, t.task_id, t.address, t.health.state, t.health.reason, t.outstanding
            )
            for t in self._targets.values()
        ]

    def state_of(self, task_arn: str) -> TargetState | None:
        """The target state of a task, or None when it is not registered."""
        target = self._targets.get(task_arn)
        return None if target is None else target.health.state

    def is_registered(self, task_arn: str) -> bool:
        """Whether the task is a target (in any state, draining included)."""
        return task_arn in self._targets

    def take_messages(self) -> list[str]:
        """Service event messages for registrations since the last call (batched)."""
        out = []
        prefix = f"(service {self.service_name})"
        where = f"(target-group {self.target_group_arn})"
        if self._registered:
            out.append(f"{prefix} registered {len(self._registered)} targets in {where}")
        if self._deregistered:
            out.append(f"{prefix} deregistered {len(self._deregistered)} targets in {where}")
        self._registered, self._deregistered = [], []
        return out

    # -- life cycle ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[ServiceLoadBalancer]:
        """Bind the listener (``address`` is known inside); close it on the way out.

        Raises:
            InvalidParameterError: when the address cannot be bound (in use...).
        """
        host, port = self.config.listener_host, self.config.listener_port
        try:
            multi = await anyio.create_tcp_listener(local_host=host, local_port=port)
        except OSError as exc:
            raise InvalidParameterError(
                f"load balancer of service {self.service_name!r} cannot listen on "
                f"{host}:{port}: {exc.strerror or exc}; choose another listener_port, or 0 "
                "for a free one"
            ) from None
        listener = multi.listeners[0]
        assert isinstance(listener, anyio.abc.SocketListener)
        for extra in multi.listeners[1:]:
            with anyio.CancelScope(shield=True):
                await extra.aclose()
        self._listener = listener
        local = listener.extra(SocketAttribute.local_address)
        assert isinstance(local, tuple)
        self._host, self._port = str(local[0]), int(local[1])
        try:
            yield self
        finally:
            self._listener = None
            self._forwarder.close()  # its loop callbacks let go of the socket first
            with anyio.CancelScope(shield=True):
                await listener.aclose()

    async def serve(self) -> None:
        """Accept connections and run the health checks (until cancelled)."""
        listener = self._listener
        assert listener is not None, "serve() runs inside listening()"
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for target in self._targets.values():
                    tg.start_soon(self._check_loop, target)
                await self._forwarder.serve(listener, tg)
        finally:
            self._tg = None

    # -- targets ---------------------------------------------------------------------------

    def register(self, task_arn: str, task_id: str, address: str) -> bool:
        """Register a task's ``host:port``: ``initial``, checked at once, every interval after.

        It takes traffic once it passes one check (ELB: "After your target is registered,
        it must pass one health check to be considered healthy").
        """
        if task_arn in self._targets:
            return False
        host, _, port = address.rpartition(":")
        hc = self.config.health_check
        target = Target(
            task_arn,
            task_id,
            host.strip("[]"),
            int(port),
            TargetHealth(hc.healthy_threshold, hc.unhealthy_threshold),
        )
        self._targets[task_arn] = target
        self._registered.append(task_arn)
        if self._tg is not None:
            self._tg.start_soon(self._check_loop, target)
        return True

    def remove(self, task_arn: str) -> None:
        """Forget a target at once (its task is gone): close its connections."""
        target = self._targets.pop(task_arn, None)
        if target is None:
            return
        if target.health.state != "draining":
            self._deregistered.append(task_arn)
        target.checks.cancel()
        target.close_connections()

    def deregister(self, task_arn: str) -> bool:
        """Stop sending new connections to a target (it is ``draining`` from now on).

        Returns:
            Whether it was registered and not draining already.
        """
        target = self._targets.get(task_arn)
        if target is None or not target.health.drain():
            return False
        target.checks.cancel()
        target.drain_started = anyio.current_time()
        self._deregistered.append(task_arn)
        self._on_change()
        return True

    async def drain(self, task_arn: str, *, delay: float | None = None) -> None:
        """Deregister the target, wait for its connections (at most the delay), forget it.

        A target with no open connection is forgotten at once, without waiting for the
        delay: "If a deregistering target has no in-flight requests and no active
        connections, Elastic Load Balancing immediately completes the deregistration
        process, without waiting for the deregistration delay to elapse" ("Deregistration
        delay",
        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/modify-target-group-health-settings.html).

        Args:
            delay: Instead of the deregistration delay (0 when the cluster is closing).
        """
        target = self._targets.get(task_arn)
        if target is None:
            return
        self.deregister(task_arn)
        wait = self.config.deregistration_delay if delay is None else delay
        deadline = (target.drain_started or anyio.current_time()) + wait
        if target.outstanding:
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                await target.idle.wait()
        self.remove(task_arn)

    def _eligible(self) -> list[Target]:
        # A target whose security groups refuse the balancer gets no traffic, even when
        # every target is unhealthy (the fail-open below must not open what groups close).
        targets = [t for t in self._targets.values() if self.admits(t.task_arn)]
        healthy = [t for t in targets if t.health.state == "healthy"]
        if healthy:
            return healthy
        return [t for t in targets if t.health.state == "unhealthy"]

    async def _check_loop(self, target: Target) -> None:
        """Check the target now, then every ``interval`` (measured start to start).

        The first check is sent at registration, not one interval later. ELB documents no
        wait before it: the load balancer "starts routing requests to the target as soon as
        the registration process completes and the target passes the initial health checks"
        (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-register-targets.html),
        and ``initial`` means it "is in the process of registering the target or performing
        the initial health checks on the target"
        (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
        After that, checks go out every interval: "The time it takes for the target to
        respond does not affect the interval for the next health check request" (same page).
        """
        check = self.config.health_check
        with target.checks:
            while True:
                started = anyio.current_time()
                if self.admits(target.task_arn):
                    ok, reason = await run_check(check, target.host, target.port)
                else:  # ELB: the check cannot connect through the groups (Target.Timeout)
                    ok, reason = False, BLOCKED_REASON
                if target.health.record(ok, reason):
                    self._on_change()
                await anyio.sleep(max(0.0, check.interval - (anyio.current_time() - started)))


#: ELB's ``TargetHealth.Description`` when the target's security groups refuse the
#: balancer: its health checks time out (reason code ``Target.Timeout``).
BLOCKED_REASON = "Request timed out"


def target_group_arn(region: str, account: str, name: str, service_arn: str) -> str:
    """An ELB-shaped target group ARN, stable for one service and name."""
    digest = hashlib.sha256(f"{service_arn}/{name}".encode()).hexdigest()[:16]
    return f"arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/{name}/{digest}"
