"""The seams of pyecs: the :class:`Backend` base class and the placement protocols.

A backend does "one low-level thing per call" on *containers*: create, start, wait for the
exit, stop, remove, report health and logs. It knows nothing of services, and nothing of
ECS task semantics either: the order of ``dependsOn``, essential containers, stop order,
stop codes and task states are the cluster's (``pyecs.runtime._task_runner``), so every backend
behaves the same way. A backend that differs on purpose says so in its
:class:`BackendCapabilities`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import attrs

from pyecs.abc._capacity import InstanceProvider
from pyecs.abc._feature import FeatureContext, FeatureStop, FeatureVerdicts, ServiceFeature
from pyecs.exceptions import BackendError
from pyecs.models.instance import InstanceSpec
from pyecs.models.security_group import SecurityPolicy
from pyecs.models.task import HealthStatus, NetworkBinding
from pyecs.placement._protocols import (
    CandidateInstance,
    PlacementConstraint,
    PlacementStrategy,
    PlacementView,
)

if TYPE_CHECKING:
    from pyecs.models.task_definition import ContainerDefinition, TaskDefinition

__all__ = [
    "AdoptedContainer",
    "AdoptedTask",
    "Backend",
    "BackendCapabilities",
    "CandidateInstance",
    "ClusterContext",
    "ContainerExit",
    "ContainerLaunch",
    "ContainerStartError",
    "ContainerUsage",
    "FeatureContext",
    "FeatureStop",
    "FeatureVerdicts",
    "InstanceProvider",
    "PlacementConstraint",
    "PlacementStrategy",
    "PlacementView",
    "ServiceFeature",
    "StartedContainer",
    "TaskLaunch",
]


@attrs.frozen
class BackendCapabilities:
    """What a backend does natively. Code that must know how a backend behaves reads these,
    never its name: the contract suite, service discovery, the CLI and the pytest plugin.

    Attributes:
        health_checks: Runs task-definition health checks.
        memory_limit: Enforces the container ``memory`` hard limit (OOM kill, exit 137).
        images: Pulls and runs images (``image`` matters, and a pull policy applies);
            False when ``image`` is ignored.
        logs: Captures stdout/stderr for ``logs()``.
        real_processes: Runs real programs (False for the simulation).
        shares_host_network: Tasks share this machine's network with the Python process:
            a listener on ``127.0.0.1`` here (a load balancer) is reachable from inside a
            task. False when tasks have network namespaces of their own (Docker).
        containers_outlive_process: Containers can keep running after the Python process
            is gone (Docker): leftovers of a crashed run must be removed (``pyecs gc``),
            and a cluster can be kept for debugging (``--pyecs-keep``). False when they
            end with the process that started them.
        fargate_limits: Enforces a Fargate task's ``cpu`` and ``memory`` as limits on its
            containers (Docker: CPU quota and memory limit). False: the task size is an
            envelope that placement reserves, and nothing caps what the task uses.
        task_addresses: Gives each ``awsvpc`` task an address of its own, reported as the
            private IPv4 address of its ENI (Docker). False: tasks share this machine's
            addresses and their ENI shows no private address.
        security_groups: Enforces security group rules on connections between tasks
            (``apply_security_groups``): a task in groups accepts a new connection from
            another task only when a rule of one of its groups admits the source's group or
            address on that protocol and port. Docker sets it per instance once it has
            checked that this host can filter (iptables in ``DOCKER-USER``, bridge
            netfilter, local engines); every other backend leaves it False: groups are
            recorded, checked and shown there, not enforced. See docs/security-groups.md.
    """

    health_checks: bool = True
    memory_limit: bool = True
    images: bool = True
    logs: bool = True
    real_processes: bool = True
    shares_host_network: bool = False
    containers_outlive_process: bool = False
    fargate_limits: bool = False
    task_addresses: bool = False
    security_groups: bool = False


@attrs.frozen
class ClusterContext:
    """What a backend is told about the cluster that opens it.

    Attributes:
        cluster: The cluster name.
        cluster_arn: The cluster ARN.
        labels: Labels every resource the backend creates for this cluster must carry
            (cluster name, owner process), so leftovers can be found and removed.
        adopt: ARNs of tasks of an earlier run that the cluster means to adopt: their
            containers are not leftovers, even when the process that made them is gone
            (the cluster asks for each with :meth:`Backend.adopt_task` after ``open``).
    """

    cluster: str
    cluster_arn: str
    labels: Mapping[str, str] = attrs.field(factory=dict)
    adopt: frozenset[str] = frozenset()


@attrs.frozen
class AdoptedContainer:
    """A container of an earlier run that a backend took over (:meth:`Backend.adopt_task`).

    Attributes:
        name: The container name from the task definition.
        runtime_id: The backend's id of the container.
        running: False when it exited meanwhile (the task runner then sees the exit).
        network_bindings: Its published ports.
    """

    name: str
    runtime_id: str
    running: bool = True
    network_bindings: tuple[NetworkBinding, ...] = ()


@attrs.frozen
class AdoptedTask:
    """The containers of one adopted task, and the instance they run on."""

    instance_id: str
    containers: tuple[AdoptedContainer, ...]


@attrs.frozen
class TaskLaunch:
    """One task as the backend sees it: where it runs and what it is.

    Attributes:
        task_arn: The task ARN.
        task_id: The 32-hex id of the task (use it in resource names).
        instance_id: The container instance the scheduler chose (one of the backend's).
        task_definition: The definition, overrides already applied.
        labels: Labels to put on every resource of this task (cluster labels included).
        launch_type: ``EC2`` (on a container instance) or ``FARGATE`` (sized by the task's
            own ``cpu`` and ``memory``; ``instance_id`` is then the backend instance that
            hosts it).
        security_groups: The security groups of an ``awsvpc`` task's ENI (empty: the task
            names none, and no backend filters its inbound traffic).
    """

    task_arn: str
    task_id: str
    instance_id: str
    task_definition: TaskDefinition
    labels: Mapping[str, str] = attrs.field(factory=dict)
    launch_type: str = "EC2"
    security_groups: tuple[str, ...] = ()

    @property
    def fargate(self) -> bool:
        """True for a Fargate task: its ``cpu`` and ``memory`` are its own capacity, which
        a backend that can enforce limits applies to the task's containers."""
        return self.launch_type == "FARGATE"


@attrs.frozen
class ContainerLaunch:
    """One container of a :class:`TaskLaunch` to create."""

    task: TaskLaunch
    definition: ContainerDefinition
    labels: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def name(self) -> str:
        """The container name from the task definition."""
        return str(self.definition.name)


@attrs.frozen
class StartedContainer:
    """What ``start_container`` reports: the published ports, and the container's own
    address when it has one (Docker: its IP on the task's network)."""

    network_bindings: tuple[NetworkBinding, ...] = ()
    private_ipv4: str | None = None


@attrs.frozen
class ContainerExit:
    """How a container ended.

    Attributes:
        exit_code: The exit code (137 for SIGKILL and OOM kills); None if unknown.
        reason: The ECS container ``reason``, such as
            ``OutOfMemoryError: Container killed due to memory usage``.
        oom_killed: The memory limit killed it.
    """

    exit_code: int | None
    reason: str | None = None
    oom_killed: bool = False


class ContainerUsage(NamedTuple):
    """What a container has used so far, as cumulative counters (for metrics).

    A named tuple (a backend reports one per container each metrics round: a million
    containers make a million of these, which a tuple of two floats keeps cheap).

    Attributes:
        cpu_seconds: CPU time used since it started (user + system), in seconds; a rate
            over an interval is the difference of two samples divided by the interval.
        memory_mib: Memory in use now, in MiB (without the page cache, as ``docker stats``).
    """

    cpu_seconds: float
    memory_mib: float


class ContainerStartError(BackendError):
    """A container could not be created or started; the task stops with TaskFailedToStart.

    Attributes:
        code: The ECS error name: ``CannotPullContainerError``,
            ``CannotCreateContainerError`` or ``CannotStartContainerError``.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.detail = message
        super().__init__(f"{code}: {message}")


class Backend(abc.ABC):
    """Runs containers for a cluster. Subclass it to add a backend of your own.

    The cluster calls ``open`` once when it opens and ``aclose`` once when it closes
    (after it stopped every task). Between them, for each task: ``setup_task``, then per
    container ``create_container`` and ``start_container`` (in ``dependsOn`` order),
    ``wait_container`` in a task of its own, ``stop_container`` when the task stops, then
    ``remove_container`` and ``teardown_task``. ``teardown_task`` must be safe to call
    after a partial setup.

    A backend that owns background work (an anyio task group entered in ``open`` and
    exited in ``aclose``) relies on the cluster calling both from the same task at the
    same nesting level, which it does; call them the same way if you drive a backend by
    hand (not from inside ``fail_after`` or another cancel scope opened between them).
    """

    #: What this backend does natively: what other code reads to know how it behaves. A
    #: backend may refine it per instance once open (Docker: ``security_groups``).
    capabilities: BackendCapabilities = BackendCapabilities()
    #: A short name for messages and docs ("docker", "process", "simulated"); never a
    #: switch on behaviour (read :attr:`capabilities`).
    name: ClassVar[str] = "backend"

    @abc.abstractmethod
    async def open(self, context: ClusterContext) -> Sequence[InstanceSpec]:
        """Connect, remove leftovers of dead earlier runs, and return the instances.

        Raises:
            BackendError: when the backend cannot be reached, saying how to fix it.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and background readers. Idempotent."""

    async def setup_task(self, task: TaskLaunch) -> None:  # noqa: B027 - optional hook
        """Prepare what the task's containers share (networks, volumes, image pulls).

        Raises:
            ContainerStartError: ``CannotPullContainerError`` and the like.
        """

    async def teardown_task(self, task: TaskLaunch) -> None:  # noqa: B027 - optional hook
        """Remove what :meth:`setup_task` created (safe after a partial setup)."""

    @abc.abstractmethod
    async def create_container(self, container: ContainerLaunch) -> str:
        """Create (not start) a container; return its runtime id.

        Raises:
            ContainerStartError: ``CannotCreateContainerError`` and the like.
        """

    @abc.abstractmethod
    async def start_container(self, runtime_id: str) -> StartedContainer:
        """Start a created container and report its published ports.

        Raises:
            ContainerStartError: ``CannotStartContainerError`` (a port already taken...).
        """

    @abc.abstractmethod
    async def wait_container(self, runtime_id: str) -> ContainerExit:
        """Return when the container has exited (event-driven, no busy polling)."""

    @abc.abstractmethod
    async def stop_container(self, runtime_id: str, timeout: float) -> None:
        """Send the stop signal; kill after ``timeout`` seconds. No-op if it exited."""

    @abc.abstractmethod
    async def remove_container(self, runtime_id: str) -> None:
        """Remove a stopped container and what only it used. No-op if already gone."""

    def start_tasks_at_once(
        self, tasks: Sequence[TaskLaunch], on_exit: Callable[[str], None]
    ) -> Sequence[Sequence[tuple[str, StartedContainer]] | None] | None:
        """Optionally, the whole start of several tasks in one synchronous step (a fast
        path for a backend that can start without waiting: the simulated one).

        For each task, what :meth:`setup_task`, then :meth:`create_container` and
        :meth:`start_container` of each container in task-definition order would do. The
        cluster asks only for tasks without ``dependsOn`` and health checks, in batches
        (the copies of a launch share their definition). Return, for each task in order,
        its containers' runtime ids and start reports in task-definition order, or None
        for a task the cluster should drive step by step; None (the default) for all.
        Call ``on_exit`` with the task's ARN when one of these containers exits by
        itself: the cluster then reads the exit with :meth:`wait_container` as usual.
        The ``tasks`` are made for this call: keep what you need from them, not them.
        """
        return None

    def stop_task_at_once(
        self, task: TaskLaunch, runtime_ids: Sequence[str]
    ) -> Sequence[ContainerExit] | None:
        """Optionally, stop and remove a task's running containers (and tear the task down)
        in one synchronous step: the stopping twin of :meth:`start_tasks_at_once`.

        Return each container's exit, in the order of ``runtime_ids``, or None (the
        default) when anything would have to wait (a stop timeout): the cluster then calls
        :meth:`stop_container`, :meth:`remove_container` and :meth:`teardown_task`.
        """
        return None

    async def adopt_task(self, task: TaskLaunch) -> AdoptedTask | None:
        """Take over the containers of a task an earlier run of this cluster started.

        Only ARNs listed in :attr:`ClusterContext.adopt` are asked for, after :meth:`open`.
        ``task.instance_id`` is empty: the backend says where the containers are. From
        then on the backend answers ``wait_container``, ``health``, ``stop_container``,
        ``remove_container`` and ``teardown_task`` for them as for its own. The default
        adopts nothing (the task is then unknown, and replaced by its service): backends
        whose containers end with the process (``containers_outlive_process`` False)
        have nothing to adopt.

        Returns:
            The task's containers, or None when none of them is left.
        """
        return None

    def health(self, runtime_id: str) -> AsyncIterator[HealthStatus]:
        """Yield the container's health status each time it changes.

        Only containers with a ``healthCheck`` report health. The default yields nothing.
        """
        return _no_health()

    def logs(self, runtime_id: str, *, follow: bool = False) -> AsyncIterator[str]:
        """Yield the container's output lines (stdout and stderr).

        Raises:
            BackendError: when the backend keeps no logs.
        """
        raise BackendError(f"the {self.name} backend keeps no container logs")

    async def apply_security_groups(self, policy: SecurityPolicy) -> None:  # noqa: B027
        """Enforce ``policy`` (every group of the cluster, after each change) from now on.

        Called once after :meth:`open` and after every change of a group. A backend that
        enforces groups (``capabilities.security_groups``) rebuilds its filters so that new
        connections follow the new rules; the default does nothing.

        Raises:
            BackendError: the filters could not be changed.
        """

    def spot_interruption_after(self, task: TaskLaunch) -> float | None:
        """Seconds after a FARGATE_SPOT task is RUNNING at which its capacity is taken back
        (a simulated Spot interruption); None: never (the default)."""
        return None

    async def stats(self, runtime_id: str) -> dict[str, float]:
        """One sample of the container's resource use (``cpu_percent``, ``memory_mib``...).

        Raises:
            BackendError: when the backend does not measure usage.
        """
        raise BackendError(f"the {self.name} backend does not report container stats")

    async def usage(self, runtime_ids: Sequence[str]) -> Mapping[str, ContainerUsage]:
        """The cumulative CPU time and current memory of these containers, in one call.

        The metrics collector calls it once per period with every running container; ids
        the backend does not know (yet, or any more) are left out of the answer. A backend
        that keeps something open per container (a stats stream) releases it when the
        container is removed and in :meth:`aclose`.

        Raises:
            BackendError: when the backend does not measure usage.
        """
        raise BackendError(
            f"the {self.name} backend does not measure container usage: metrics of its "
            "tasks stay empty"
        )


async def _no_health() -> AsyncIterator[HealthStatus]:
    return
    yield  # pragma: no cover - makes this an async generator
