"""``up()``: a service from a task definition, stable, with its endpoints.

The one call a test needs before it sends traffic: register the definition, create the
service, wait for ECS's steady state (every task RUNNING and, where the definition has a
health check, HEALTHY), optionally wait until each endpoint answers HTTP, and hand back
where to reach the tasks. When the service does not get there, the error says why: the
service events, and each stopped task's stop code, reason, exit codes and last log lines.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

import anyio
import anyio.abc
import attrs

from pyecs._checks import check_timeout
from pyecs.cluster._cluster import Cluster
from pyecs.exceptions import InvalidParameterError, PyecsError, TimeoutError
from pyecs.models.task import Task
from pyecs.models.task_definition import TaskDefinition
from pyecs.runtime._registry import TaskDefinitionSource
from pyecs.service._service import Service

__all__ = ["ServiceUp", "bring_up", "pick_port", "wait_http"]


class _HasTasks(Protocol):
    @property
    def tasks(self) -> list[Task]: ...


S = TypeVar("S", bound=_HasTasks)


@attrs.frozen
class ServiceUp(Generic[S]):
    """A service that reached a steady state, and where to reach its tasks.

    ``endpoints`` are read live from the service's RUNNING tasks, so they follow
    replacements and scaling; ``url`` is the service's load balancer when it has one
    (``load_balancers=`` passed to ``up()``), else the first task.

    Attributes:
        service: The service (:class:`pyecs.Service`, or :class:`pyecs.sync.Service` from
            a blocking cluster).
        task_definition: The registered definition the service runs.
        container: The container whose port the endpoints reach (None: no port mapping).
        container_port: That container port.
        scheme: The URL scheme of :attr:`url`.
    """

    service: S
    task_definition: TaskDefinition
    container: str | None
    container_port: int | None
    scheme: str = "http"

    @property
    def tasks(self) -> list[Task]:
        """The service's tasks that are not STOPPED."""
        return self.service.tasks

    @property
    def endpoints(self) -> list[str]:
        """``"127.0.0.1:49153"`` for each RUNNING task, oldest task first."""
        if self.container is None or self.container_port is None:
            return []
        out = []
        for task in self.service.tasks:
            if task.last_status != "RUNNING":
                continue
            try:
                out.append(task.endpoint(self.container, self.container_port))
            except KeyError:
                continue
        return out

    @property
    def endpoint(self) -> str:
        """The first task's endpoint.

        Raises:
            PyecsError: when no task publishes the port.
        """
        endpoints = self.endpoints
        if not endpoints:
            if self.container is None:
                raise PyecsError(
                    f"task definition {self.task_definition.ref} publishes no port: add "
                    "portMappings to a container, or pass container= and port= to up()"
                )
            raise PyecsError(
                f"no RUNNING task of service {_name(self.service)} publishes "
                f"{self.container}:{self.container_port} right now"
            )
        return endpoints[0]

    @property
    def urls(self) -> list[str]:
        """``"http://127.0.0.1:49153"`` for each endpoint."""
        return [f"{self.scheme}://{e}" for e in self.endpoints]

    @property
    def address(self) -> str:
        """The service's load balancer address when it has one, else :attr:`endpoint`."""
        balancers = getattr(self.service, "load_balancers", None) or []
        if balancers:
            return str(balancers[0].address)
        return self.endpoint

    @property
    def url(self) -> str:
        """``http://`` + :attr:`address`: the load balancer, else the first task."""
        return f"{self.scheme}://{self.address}"


def _name(service: object) -> str:
    return str(getattr(service, "name", "?"))


def pick_port(
    td: TaskDefinition, container: str | None, port: int | None
) -> tuple[str | None, int | None]:
    """The container and container port the endpoints reach.

    Default: the first essential container with a port mapping, and its first mapping.

    Raises:
        InvalidParameterError: when ``container`` or ``port`` names nothing published.
    """
    if container is not None:
        c = td.container(container)
        ports = [int(pm.container_port) for pm in c.port_mappings or () if pm.container_port]
        if port is None:
            if not ports:
                raise InvalidParameterError(
                    f"container {container!r} of {td.ref} has no portMappings; add one"
                )
            return container, ports[0]
        if port not in ports:
            raise InvalidParameterError(
                f"container {container!r} of {td.ref} maps no containerPort {port} "
                f"(it maps {ports or 'none'})"
            )
        return container, port
    candidates = sorted(td.containers, key=lambda c: not c.is_essential)
    for c in candidates:
        ports = [int(pm.container_port) for pm in c.port_mappings or () if pm.container_port]
        if port is not None and port in ports:
            return str(c.name), port
        if port is None and ports:
            return str(c.name), ports[0]
    if port is not None:
        raise InvalidParameterError(f"no container of {td.ref} maps containerPort {port}")
    return None, None


def _service_name(cluster: Cluster, family: str) -> str:
    taken = {arn.rsplit("/", 1)[-1] for arn in cluster.list_services()}
    for n in itertools.count(1):
        name = family if n == 1 else f"{family}-{n}"
        if name not in taken:
            return name
    raise AssertionError("unreachable")  # pragma: no cover


async def bring_up(
    cluster: Cluster,
    task_definition: TaskDefinitionSource,
    *,
    desired_count: int = 1,
    service_name: str | None = None,
    container: str | None = None,
    port: int | None = None,
    timeout: float = 120.0,
    http_path: str | None = None,
    removed_logs: Mapping[str, list[str]] | None = None,
    **service_options: Any,
) -> tuple[Service, TaskDefinition, str | None, int | None]:
    """Register, create the service, wait until stable (and HTTP-ready); see ``up()``."""
    timeout = check_timeout(timeout)  # before anything is registered or started
    td = await cluster.register_task_definition(task_definition)
    container, port = pick_port(td, container, port)
    if http_path is not None and container is None:
        raise InvalidParameterError(
            f"http_path needs a published port, and {td.ref} has no portMappings"
        )
    name = service_name or _service_name(cluster, str(td.family))
    svc = await cluster.create_service(
        name, task_definition=td, desired_count=desired_count, **service_options
    )
    deadline = anyio.current_time() + timeout
    answered: set[str] = set()
    try:
        if http_path is not None and container is not None and port is not None:
            answered = await _stable_and_serving(svc, container, port, http_path, timeout)
        else:
            await svc.wait_stable(timeout=timeout)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}{stopped_tasks_report(cluster, name, removed_logs)}") from None
    if http_path is not None and container is not None and port is not None:
        # Tasks with health checks may have turned stable before their probe answered.
        endpoints = [t.endpoint(container, port) for t in svc.tasks if t.arn not in answered]
        remaining = max(0.0, deadline - anyio.current_time())
        for endpoint in endpoints:
            await wait_http(endpoint, http_path, timeout=remaining)
    return svc, td, container, port


async def _stable_and_serving(
    svc: Service, container: str, port: int, path: str, timeout: float
) -> set[str]:
    """``wait_stable``, while probing each RUNNING task's endpoint with ``GET path``;
    return the ARNs of the tasks that answered.

    A task that answers counts as healthy at once (``Service.confirm_serving``): an
    answer is better evidence than the ``healthy_delay`` a task without health checks
    otherwise has to run for. Tasks with health checks still need HEALTHY.
    """
    answered: set[str] = set()

    async def probe(task: Task) -> None:
        try:
            endpoint = task.endpoint(container, port)
        except KeyError:
            return  # not published (yet): the wait after the steady state covers it
        with contextlib.suppress(TimeoutError):
            await wait_http(endpoint, path, timeout=timeout)
            answered.add(task.arn)
            svc.confirm_serving(task.arn)

    async def watch(tg: anyio.abc.TaskGroup) -> None:
        probing: set[str] = set()
        while True:
            changed = svc.change_event  # taken before the read: no change is missed
            for task in svc.tasks:
                if task.last_status == "RUNNING" and task.arn not in probing:
                    probing.add(task.arn)
                    tg.start_soon(probe, task)
            await changed.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch, tg)
        await svc.wait_stable(timeout=timeout)
        tg.cancel_scope.cancel()
    return answered


def stopped_tasks_report(
    cluster: Cluster, service_name: str, removed_logs: Mapping[str, list[str]] | None
) -> str:
    """Why the service's tasks stopped: code, reason, exit codes and last log lines."""
    arns = cluster.list_tasks(service_name=service_name, desired_status="STOPPED")
    if not arns:
        return ""
    lines = ["", "stopped tasks:"]
    for task in cluster.describe_tasks(arns[-5:]).tasks:
        lines.append(f"  task {task.id}: {task.stop_code}: {task.stopped_reason}")
        for c in task.containers:
            lines.append(f"    container {c.name}: exit code {c.exit_code}, reason {c.reason}")
            tail = (removed_logs or {}).get(c.runtime_id or "", [])[-10:]
            lines.extend(f"      | {line}" for line in tail)
    return "\n".join(lines)


async def wait_http(endpoint: str, path: str = "/", *, timeout: float = 30.0) -> int:
    """Poll ``GET http://<endpoint><path>`` until it answers below 500; return the status.

    Only for endpoints on this machine (``127.0.0.1:port``).

    Raises:
        TimeoutError: naming the last problem seen.
    """
    timeout = check_timeout(timeout)
    host, _, port_text = endpoint.rpartition(":")
    last = "no answer yet"
    pause = 0.01  # a server that is nearly up gets found at once; then back off
    with anyio.move_on_after(timeout):
        while True:
            try:
                status = await _get_status(host, int(port_text), path)
                if status < 500:
                    return status
                last = f"HTTP {status}"
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await anyio.sleep(pause)
            pause = min(0.1, pause * 1.5)
    raise TimeoutError(
        f"http://{endpoint}{path} did not answer within {timeout:.1f} s (last: {last}); "
        "is the program listening on that port?"
    )


async def _get_status(host: str, port: int, path: str) -> int:
    with anyio.fail_after(5):
        async with await anyio.connect_tcp(host, port) as stream:
            request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
            await stream.send(request.encode())
            head = b""
            while b"\r\n" not in head and len(head) < 4096:
                head += await stream.receive()
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split()
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
    return int(parts[1])
