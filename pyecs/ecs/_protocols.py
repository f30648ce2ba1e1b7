"""The values of the layers above :mod:`pyecs.ecs`, by shape rather than by import.

``pyecs.ecs`` sits below the runtime and the services in the layers (they use it), so it
cannot import ``RunTaskResult``, ``ServiceEvent`` or ``Service``. It serializes them through
these protocols instead: anything with the same read-only attributes is written the same
way. ``pyecs.RunTaskResult``, ``pyecs.TaskFailure``, ``pyecs.Service`` and the other results
satisfy them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Protocol

from pyecs.models.service import Deployment, DeploymentConfiguration
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition

__all__ = [
    "FailureLike",
    "LoadBalancerConfigLike",
    "ServiceEventLike",
    "ServiceLike",
    "ServiceLoadBalancerLike",
    "ServicesAndFailures",
    "TaskDefinitionsAndFailures",
    "TasksAndFailures",
]


class FailureLike(Protocol):
    """An ECS ``Failure``: ``pyecs.TaskFailure``, ``pyecs.TaskDefinitionFailure``."""

    @property
    def arn(self) -> str | None:
        """The resource that failed (None: not known)."""
        ...

    @property
    def reason(self) -> str:
        """``MISSING``, ``RESOURCE:MEMORY``, ``TASK_DEFINITION_NOT_INACTIVE``..."""
        ...

    @property
    def detail(self) -> str:
        """More words on the reason; empty for none."""
        ...


class TasksAndFailures(Protocol):
    """``pyecs.RunTaskResult`` and ``pyecs.DescribeTasksResult``."""

    @property
    def tasks(self) -> Sequence[Task]:
        """The tasks."""
        ...

    @property
    def failures(self) -> Sequence[FailureLike]:
        """What failed, one entry each."""
        ...


class TaskDefinitionsAndFailures(Protocol):
    """``pyecs.DeleteTaskDefinitionsResult``."""

    @property
    def task_definitions(self) -> Sequence[TaskDefinition]:
        """The task definitions."""
        ...

    @property
    def failures(self) -> Sequence[FailureLike]:
        """What failed, one entry each."""
        ...


class ServiceEventLike(Protocol):
    """An ECS ``ServiceEvent``: ``pyecs.ServiceEvent``."""

    @property
    def id(self) -> str:
        """The event id."""
        ...

    @property
    def message(self) -> str:
        """ECS's message text."""
        ...

    @property
    def created_at(self) -> datetime.datetime:
        """When it happened."""
        ...


class LoadBalancerConfigLike(Protocol):
    """The ECS half of ``pyecs.LoadBalancer``: where the traffic goes."""

    @property
    def container_name(self) -> str:
        """The container that receives the traffic."""
        ...

    @property
    def container_port(self) -> int:
        """Its port."""
        ...


class ServiceLoadBalancerLike(Protocol):
    """A service's running load balancer (``svc.load_balancers[i]``)."""

    @property
    def target_group_arn(self) -> str:
        """The target group's ARN."""
        ...

    @property
    def config(self) -> LoadBalancerConfigLike:
        """What the service was created with."""
        ...


class ServiceLike(Protocol):
    """An ECS ``Service``: the public attributes of ``pyecs.Service`` that ECS describes."""

    @property
    def name(self) -> str:
        """The service name."""
        ...

    @property
    def arn(self) -> str:
        """``arn:aws:ecs:<region>:<account>:service/<cluster>/<name>``."""
        ...

    @property
    def status(self) -> str:
        """ACTIVE, DRAINING or INACTIVE."""
        ...

    @property
    def scheduling_strategy(self) -> str:
        """REPLICA or DAEMON."""
        ...

    @property
    def created_at(self) -> datetime.datetime:
        """When it was created."""
        ...

    @property
    def desired_count(self) -> int:
        """Tasks the service keeps."""
        ...

    @property
    def running_count(self) -> int:
        """Tasks RUNNING."""
        ...

    @property
    def pending_count(self) -> int:
        """Tasks placed, not RUNNING yet."""
        ...

    @property
    def task_definition(self) -> TaskDefinition:
        """The PRIMARY deployment's task definition."""
        ...

    @property
    def deployments(self) -> Sequence[Deployment]:
        """PRIMARY first."""
        ...

    @property
    def events(self) -> Sequence[ServiceEventLike]:
        """Newest first."""
        ...

    @property
    def placement_strategy(self) -> Sequence[object]:
        """Strategies; those with a ``to_dict()`` (the built-ins) have an ECS form."""
        ...

    @property
    def placement_constraints(self) -> Sequence[object]:
        """Constraints; those with a ``to_dict()`` (the built-ins) have an ECS form."""
        ...

    @property
    def deployment_configuration(self) -> DeploymentConfiguration:
        """Deployment bounds and circuit breaker."""
        ...

    @property
    def health_check_grace_period(self) -> float:
        """Seconds."""
        ...

    @property
    def tags(self) -> Mapping[str, str]:
        """The service's tags."""
        ...

    @property
    def load_balancers(self) -> Sequence[ServiceLoadBalancerLike]:
        """The service's load balancers."""
        ...


class ServicesAndFailures(Protocol):
    """``pyecs.DescribeServicesResult``."""

    @property
    def services(self) -> Sequence[ServiceLike]:
        """The services found."""
        ...

    @property
    def failures(self) -> Sequence[FailureLike]:
        """The ones not found."""
        ...
