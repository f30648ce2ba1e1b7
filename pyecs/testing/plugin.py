"""The pyecs pytest plugin: ECS clusters as fixtures. Installing pyecs registers it.

Fixtures:

- ``pyecs_cluster``: an async :class:`~pyecs.testing.ClusterFixture` for one test (anyio);
- ``pyecs_cluster_sync``: its blocking twin, a :class:`~pyecs.testing.SyncClusterFixture`;
- ``pyecs_cluster_module`` and ``pyecs_cluster_session``: blocking clusters shared by a
  module's or the whole session's tests (sync or async tests alike);
- ``pyecs_ecs_endpoint``: the ECS API (``pyecs serve``) for one test, with the environment
  set (``AWS_ENDPOINT_URL_ECS``, region, dummy credentials) so that an unchanged
  ``boto3.client("ecs")`` talks to it; needs ``pyecs[server]``;
- ``pyecs_backend_name`` and ``pyecs_backend_factory``: the backend in use, and the
  factory that builds one per cluster (override it in ``conftest.py`` to configure it).

Options: ``--pyecs-backend=auto|docker|process|simulated`` (or ``PYECS_BACKEND``, or the
``pyecs_backend`` ini key; auto: Docker when an engine answers, else local processes) and
``--pyecs-keep`` (keep a failing test's cluster running on Docker, for debugging).

Nothing a test starts outlives it: leaving a fixture stops every task and removes its
containers. What a crashed earlier run left (Docker containers of a dead process) is
removed when the first pyecs fixture of a session is set up; cluster names carry the
xdist worker id, so parallel workers never share one. A failing test's report gets a
section with its tasks' status and the last lines of their containers' output.

Everything here is lazy: a session that uses no pyecs fixture never contacts Docker.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import anyio
import attrs
import pluggy
import pytest

from pyecs.abc import Backend
from pyecs.ops import (
    BACKEND_CHOICES,
    BackendChoice,
    GcResult,
    HookedBackend,
    collect_leftovers_for,
    make_backend,
    resolve_backend,
)
from pyecs.testing._clusters import ClusterFixture, SyncClusterFixture
from pyecs.testing._endpoint import EcsEndpoint, serve_in_thread

__all__ = [
    "pyecs_backend_factory",
    "pyecs_backend_name",
    "pyecs_cluster",
    "pyecs_cluster_module",
    "pyecs_cluster_session",
    "pyecs_cluster_sync",
    "pyecs_ecs_endpoint",
]

Scope = Literal["function", "module", "session"]

#: Seconds a task without health checks must run before a fixture cluster counts it as
#: healthy (ECS: 40). Long enough for a program that crashes at once not to look stable.
TASK_HEALTHY_DELAY = 0.5

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_STARTED = pytest.StashKey[datetime.datetime]()
_STATE = pytest.StashKey["_State"]()


@attrs.define
class _State:
    """One per pytest process: the backend choice, what was cleaned, what was kept."""

    choice: BackendChoice
    keep: bool
    cleaned: GcResult | None = None
    kept: list[str] = attrs.field(factory=list)
    scopes: dict[int, Scope] = attrs.field(factory=dict)


# -- options and hooks ---------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--pyecs-backend``, ``--pyecs-keep`` and the ``pyecs_backend`` ini key."""
    group = parser.getgroup("pyecs", "pyecs: ECS clusters as fixtures")
    group.addoption(
        "--pyecs-backend",
        dest="pyecs_backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="backend of the pyecs fixtures: auto (Docker when an engine answers, else "
        "process), docker, process or simulated. Default: $PYECS_BACKEND, the "
        "pyecs_backend ini key, else auto.",
    )
    group.addoption(
        "--pyecs-keep",
        dest="pyecs_keep",
        action="store_true",
        default=False,
        help="keep a failing test's cluster running (Docker) for debugging; `pyecs gc` "
        "removes it afterwards.",
    )
    parser.addini("pyecs_backend", "default backend of the pyecs fixtures (see --pyecs-backend)")


def _wanted_backend(config: pytest.Config) -> tuple[str | None, str]:
    option = config.getoption("pyecs_backend", None)
    if option:
        return str(option), "--pyecs-backend"
    if os.environ.get("PYECS_BACKEND"):
        return None, ""  # resolve_backend() reads it
    ini = str(config.getini("pyecs_backend") or "").strip()
    return (ini, "pyecs_backend in the ini file") if ini else (None, "")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport]]:
    """Remember each phase's report, so that fixtures know whether the test failed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note when the test started: a shared cluster reports the tasks live since then."""
    item.stash[_STARTED] = datetime.datetime.now(datetime.UTC)


def _failed(item: pytest.Item) -> bool:
    return any(r.failed for r in item.stash.get(_REPORTS, {}).values())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """A failing test: attach the logs of the blocking clusters it used; keep them if asked.

    (This runs before the test's own fixtures are torn down; the async cluster does the
    same in its fixture's teardown, in its event loop.)
    """
    if not _failed(item):
        return
    state = item.config.stash.get(_STATE, None)
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    for value in funcargs.values():
        if not isinstance(value, SyncClusterFixture) or not value.is_open:
            continue
        scope = state.scopes.get(id(value), "function") if state else "function"
        since = item.stash.get(_STARTED, None) if scope != "function" else None
        try:
            text = value.logs_report(since=since)
        except Exception as exc:
            text = f"(could not read the cluster's logs: {exc})"
        _attach(item, value.name, text)
        if state is not None and state.keep:
            _mark_kept(item, state, value.name, value.backend)


def _attach(item: pytest.Item, cluster: str, text: str) -> None:
    if text:
        item.add_report_section("teardown", f"pyecs cluster {cluster}", text)


def _mark_kept(item: pytest.Item, state: _State, cluster: str, backend: Backend | None) -> bool:
    """Say what --pyecs-keep does for this cluster; True when it will be kept."""
    outlives = backend is not None and backend.capabilities.containers_outlive_process
    if isinstance(backend, HookedBackend) and backend.can_keep:
        if cluster not in state.kept:
            state.kept.append(cluster)
        text = (
            f"kept running for debugging (--pyecs-keep).\n"
            f"  see it:    docker ps --filter label=pyecs.cluster={cluster}\n"
            f"  remove it: pyecs gc  (once this pytest has exited; the next pytest session "
            "that uses pyecs removes it too)"
        )
        keeps = True
    elif backend is not None and outlives:
        text = (
            f"not kept: this {type(backend).__name__} was not built by "
            "pyecs.testing.make_backend(), which can leave containers running"
        )
        keeps = False
    else:
        name = backend.name if backend is not None else "no"
        text = (
            f"not kept: the {name} backend's tasks cannot outlive pytest "
            "(use a backend whose containers can, --pyecs-backend=docker, with --pyecs-keep)"
        )
        keeps = False
    item.add_report_section("teardown", f"pyecs keep {cluster}", text)
    return keeps


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The backend used, leftovers removed, clusters kept."""
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    lines = [f"backend: {state.choice.name} ({state.choice.reason})"]
    if state.cleaned is not None and not state.cleaned.empty:
        lines += [f"leftovers of earlier runs: {line}" for line in state.cleaned.lines()]
    for name in state.kept:
        lines.append(
            f"kept cluster {name} (--pyecs-keep): docker ps --filter label=pyecs.cluster={name}"
            "; remove it with `pyecs gc` once pytest has exited"
        )
    terminalreporter.write_sep("-", "pyecs")
    for line in lines:
        terminalreporter.write_line(line)


# -- fixtures ------------------------------------------------------------------------------


def _run_async(fn: Callable[[], Any]) -> Any:
    """Run a coroutine function to completion, also from inside a running event loop."""
    with ThreadPoolExecutor(1, thread_name_prefix="pyecs-setup") as pool:
        return pool.submit(anyio.run, fn).result()


@pytest.fixture(scope="session")
def _pyecs_state(pytestconfig: pytest.Config) -> _State:
    """Resolve the backend and remove leftovers of dead runs, once per pytest process."""
    state = pytestconfig.stash.get(_STATE, None)
    if state is None:
        choice = resolve_backend(*_wanted_backend(pytestconfig))
        state = _State(choice, keep=bool(pytestconfig.getoption("pyecs_keep", False)))
        collect = functools.partial(collect_leftovers_for, choice.capabilities)
        try:
            state.cleaned = _run_async(collect)
        except Exception as exc:  # a failed cleanup must not fail the tests
            state.cleaned = GcResult(skipped=(f"cleanup failed: {exc}",))
        pytestconfig.stash[_STATE] = state
    return state


@pytest.fixture(scope="session")
def pyecs_backend_name(_pyecs_state: _State) -> str:
    """The backend the pyecs fixtures use: ``docker``, ``process`` or ``simulated``."""
    return _pyecs_state.choice.name


@pytest.fixture(scope="session")
def pyecs_backend_factory(pyecs_backend_name: str) -> Callable[[], Backend]:
    """Builds a new backend for each cluster. Override it to configure the backends::

    @pytest.fixture(scope="session")
    def pyecs_backend_factory(pyecs_backend_name):
        return lambda: pyecs.testing.make_backend(
            pyecs_backend_name,
            **({"health_check_time_scale": 0.1} if pyecs_backend_name == "process" else {}),
        )
    """
    return functools.partial(make_backend, pyecs_backend_name)


def _worker_id(config: pytest.Config) -> str:
    # xdist gives each worker's config its id; the PYTEST_XDIST_WORKER variable would also
    # be inherited by a pytest that a worker runs in a subprocess.
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return str(workerinput.get("workerid", "main"))


def cluster_name(scope: Scope, node: pytest.Item | pytest.Collector | pytest.Session) -> str:
    """``pytest-<worker>-<test or module>-<random>``: unique across xdist workers and runs."""
    worker = _worker_id(node.config)
    if scope == "function":
        base = node.name
    elif scope == "module":
        base = node.name.rsplit("/", 1)[-1].removesuffix(".py")
    else:
        base = "session"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-")[:40] or "test"
    return f"pytest-{worker}-{slug}-{secrets.token_hex(3)}"


@pytest.fixture
async def pyecs_cluster(
    request: pytest.FixtureRequest,
    anyio_backend: Any,
    _pyecs_state: _State,
    pyecs_backend_factory: Callable[[], Backend],
) -> AsyncIterator[ClusterFixture]:
    """An open async cluster for one test; ``await pyecs_cluster.up("td.json")``."""
    cluster = ClusterFixture(
        cluster_name("function", request.node),
        backend=pyecs_backend_factory(),
        task_healthy_delay=TASK_HEALTHY_DELAY,
    )
    async with cluster:
        yield cluster
        item = request.node
        if isinstance(item, pytest.Item) and _failed(item):
            try:
                text = await cluster.logs_report()
            except Exception as exc:
                text = f"(could not read the cluster's logs: {exc})"
            _attach(item, cluster.name, text)
            backend = cluster.backend
            if _pyecs_state.keep and _mark_kept(item, _pyecs_state, cluster.name, backend):
                assert isinstance(backend, HookedBackend)
                backend.detach()


def _sync_cluster(
    request: pytest.FixtureRequest,
    scope: Scope,
    state: _State,
    factory: Callable[[], Backend],
) -> Iterator[SyncClusterFixture]:
    cluster = SyncClusterFixture(
        cluster_name(scope, request.node),
        backend=factory(),
        task_healthy_delay=TASK_HEALTHY_DELAY,
    )
    with cluster:
        state.scopes[id(cluster)] = scope
        try:
            yield cluster
        finally:
            state.scopes.pop(id(cluster), None)
            backend = cluster.backend
            if cluster.name in state.kept and isinstance(backend, HookedBackend):
                cluster.portal.call(backend.detach)


@pytest.fixture
def pyecs_cluster_sync(
    request: pytest.FixtureRequest,
    _pyecs_state: _State,
    pyecs_backend_factory: Callable[[], Backend],
) -> Iterator[SyncClusterFixture]:
    """A blocking cluster for one test; ``pyecs_cluster_sync.up("td.json")``."""
    yield from _sync_cluster(request, "function", _pyecs_state, pyecs_backend_factory)


@pytest.fixture(scope="module")
def pyecs_cluster_module(
    request: pytest.FixtureRequest,
    _pyecs_state: _State,
    pyecs_backend_factory: Callable[[], Backend],
) -> Iterator[SyncClusterFixture]:
    """A blocking cluster shared by the tests of one module."""
    yield from _sync_cluster(request, "module", _pyecs_state, pyecs_backend_factory)


@pytest.fixture(scope="session")
def pyecs_cluster_session(
    request: pytest.FixtureRequest,
    _pyecs_state: _State,
    pyecs_backend_factory: Callable[[], Backend],
) -> Iterator[SyncClusterFixture]:
    """A blocking cluster shared by every test of the session (of one xdist worker)."""
    yield from _sync_cluster(request, "session", _pyecs_state, pyecs_backend_factory)


#: Variables that would send boto3 elsewhere or sign with a profile's credentials.
_AWS_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE")


@pytest.fixture
def pyecs_ecs_endpoint(
    monkeypatch: pytest.MonkeyPatch,
    _pyecs_state: _State,
    pyecs_backend_factory: Callable[[], Backend],
) -> Iterator[EcsEndpoint]:
    """The ECS API of a ``pyecs serve`` for one test; ``boto3.client("ecs")`` talks to it.

    The environment points boto3 and the aws CLI at it (``AWS_ENDPOINT_URL_ECS``,
    ``AWS_DEFAULT_REGION=us-east-1``, dummy credentials). Its clusters run on the
    fixtures' backend; they are closed (tasks stopped, containers removed) after the test.
    """
    with serve_in_thread(
        backend=pyecs_backend_factory, task_healthy_delay=TASK_HEALTHY_DELAY
    ) as endpoint:
        for name in _AWS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        for name, value in endpoint.env.items():
            monkeypatch.setenv(name, value)
        yield endpoint
