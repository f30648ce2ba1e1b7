"""Auto scaling as a service feature: the service's :class:`ServiceScaler`, run and fed.

Every service carries one; it does nothing until a scalable target is registered for
the service (``cluster.autoscaling.register_scalable_target``). It changes the desired
count through the feature context, writes its scaling activities as service events, and
holds back scale-in while a deployment is in progress (Application Auto Scaling turns
scale-in off during ECS deployments).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import AsyncIterator, Callable

import anyio

from pyecs.abc import FeatureContext, ServiceFeature
from pyecs.autoscaling import ServiceScaler
from pyecs.metrics import MetricStore

__all__ = ["AutoScaling"]


class AutoScaling(ServiceFeature):
    """The auto scaling of one service (idle until a scalable target is registered)."""

    def __init__(self, store: MetricStore, clock: Callable[[], datetime.datetime]) -> None:
        self.store = store
        self.clock = clock
        self._messages: list[str] = []
        self._scaler: ServiceScaler | None = None

    @property
    def scaler(self) -> ServiceScaler:
        """The scaler (after :meth:`bind`)."""
        assert self._scaler is not None, "bind() first"
        return self._scaler

    def bind(self, context: FeatureContext) -> None:
        """Build the scaler on the service's desired count and deployments."""
        super().bind(context)
        snapshot, set_desired = context.snapshot, context.set_desired_count
        assert snapshot is not None and set_desired is not None

        def deploying() -> bool:
            deployments = snapshot().deployments
            return len(deployments) > 1 or any(
                d.rollout_state == "IN_PROGRESS" for d in deployments
            )

        self._scaler = ServiceScaler(
            self.store,
            clock=self.clock,
            desired_count=lambda: snapshot().desired_count,
            set_desired_count=set_desired,
            deploying=deploying,
            event=self._event,
        )

    def _event(self, message: str) -> None:
        assert self.context is not None
        self._messages.append(f"(service {self.context.service_name}) {message}")
        self.context.wake()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The scaler's loops run as long as the service."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.scaler.run)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    def messages(self) -> list[str]:
        """Scaling activities since the last call, as service events."""
        out, self._messages = self._messages, []
        return out
