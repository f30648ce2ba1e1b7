"""Loose arguments to the public API are refused with a typed error, and change nothing.

Each refusal is an :class:`InvalidParameterError` whose message names the parameter and the
value it got; the cluster is left as it was (no task started, no service created, nothing
deleted or drained).
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pyecs
import pyecs.sync
from pyecs._checks import check_str_list, check_timeout
from pyecs.backends import BACKEND_NAMES, backend_from_name
from pyecs.backends.docker import DockerBackend
from pyecs.backends.process import ProcessBackend
from pyecs.backends.simulated import SimulatedBackend
from pyecs.exceptions import InvalidParameterError
from pyecs.testing._backends import BACKEND_CHOICES, make_backend
from pyecs.testing._clusters import ClusterFixture
from pyecs.testing._up import wait_http

TD: dict[str, Any] = {
    "family": "web",
    "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}],
}

BAD_TIMEOUTS = [math.nan, -1, -0.5, "5", None, True, [5]]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test here runs on both event loops."""
    return str(request.param)


@pytest.fixture
async def cluster() -> AsyncIterator[pyecs.Cluster]:
    """An open cluster on two simulated instances, with ``web:1`` registered."""
    async with pyecs.Cluster("args", backend=SimulatedBackend(2)) as c:
        await c.register_task_definition(TD)
        yield c


def no_tasks(cluster: pyecs.Cluster) -> bool:
    return cluster.list_tasks() == [] and cluster.list_tasks(desired_status="STOPPED") == []


# -- backend= ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [("process", ProcessBackend), ("simulated", SimulatedBackend), ("docker", DockerBackend)],
)
def test_cluster_builds_the_default_backend_of_a_name(name: str, cls: type) -> None:
    cluster = pyecs.Cluster("named", backend=name)  # type: ignore[arg-type]
    assert type(cluster.backend) is cls
    assert type(pyecs.sync.Cluster("named", backend=name).backend) is cls  # type: ignore[arg-type]


def test_cluster_refuses_an_unknown_backend_name_and_lists_the_names() -> None:
    with pytest.raises(InvalidParameterError) as info:
        pyecs.Cluster("c", backend="podman")  # type: ignore[arg-type]
    message = str(info.value)
    assert "backend 'podman'" in message
    assert all(repr(n) in message for n in ("docker", "process", "simulated"))


@pytest.mark.parametrize(
    ("value", "shown"),
    [(42, "got 42 (an int)"), (object(), "(an object)"), (ProcessBackend, "class ProcessBackend")],
)
def test_cluster_refuses_a_backend_of_the_wrong_kind(value: object, shown: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        pyecs.Cluster("c", backend=value)  # type: ignore[arg-type]
    assert str(info.value).startswith("backend must be")
    assert shown in str(info.value)


@pytest.mark.anyio
async def test_a_cluster_on_a_named_backend_runs_tasks() -> None:
    async with pyecs.Cluster("named", backend="simulated") as cluster:
        await cluster.register_task_definition(TD)
        (task,) = (await cluster.run_task("web")).tasks
        (running,) = await cluster.wait_tasks_running([task.arn], timeout=5)
    assert running.last_status == "RUNNING"


def test_one_registry_of_backend_names_serves_library_cli_and_plugin() -> None:
    assert BACKEND_NAMES == ("docker", "process", "simulated")
    assert BACKEND_CHOICES[0] == "auto"
    assert BACKEND_CHOICES[1:] == BACKEND_NAMES
    assert type(backend_from_name("simulated")) is SimulatedBackend
    assert isinstance(make_backend("process").wrapped, ProcessBackend)
    with pytest.raises(InvalidParameterError, match=r"unknown backend 'podman'"):
        make_backend("podman")


def test_a_backend_name_does_not_import_docker_unless_it_is_docker() -> None:
    code = (
        "import sys, pyecs; pyecs.Cluster('c', backend='process'); "
        "pyecs.Cluster('c', backend='simulated'); print('docker' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- timeout= ------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
def test_check_timeout_refuses_what_is_not_seconds(timeout: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_timeout(timeout)
    message = str(info.value)
    assert message.startswith("timeout must be a number of seconds >= 0")
    assert repr(timeout) in message


def test_check_timeout_takes_ints_floats_and_infinity() -> None:
    assert check_timeout(0) == 0.0
    assert check_timeout(2.5) == 2.5
    assert check_timeout(math.inf) == math.inf
    assert check_timeout(10**400) == math.inf  # too large for a float: no limit either


@pytest.mark.anyio
@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
@pytest.mark.parametrize("wait", ["wait_tasks_running", "wait_tasks_stopped"])
async def test_wait_tasks_refuses_a_bad_timeout(
    cluster: pyecs.Cluster, wait: str, timeout: object
) -> None:
    (task,) = (await cluster.run_task("web")).tasks
    with pytest.raises(InvalidParameterError) as info:
        await getattr(cluster, wait)([task.arn], timeout=timeout)
    assert "timeout must be" in str(info.value)
    assert repr(timeout) in str(info.value)


@pytest.mark.anyio
async def test_an_infinite_timeout_waits_until_the_condition_holds(
    cluster: pyecs.Cluster,
) -> None:
    (task,) = (await cluster.run_task("web")).tasks
    (running,) = await cluster.wait_tasks_running([task.arn], timeout=math.inf)
    assert running.last_status == "RUNNING"
    assert await cluster.wait_tasks_running([task.arn], timeout=0) == [running]


@pytest.mark.parametrize("timeout", [math.nan, -5, "5"], ids=repr)
def test_sync_wait_tasks_refuses_a_bad_timeout(timeout: object) -> None:
    with pyecs.sync.Cluster("sync-args", backend=SimulatedBackend(1)) as cluster:
        cluster.register_task_definition(TD)
        (task,) = cluster.run_task("web").tasks
        for wait in (cluster.wait_tasks_running, cluster.wait_tasks_stopped):
            with pytest.raises(InvalidParameterError, match=r"timeout must be"):
                wait([task.arn], timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("timeout", [math.nan, -1, "60"], ids=repr)
async def test_testing_up_refuses_a_bad_timeout_before_registering_anything(
    timeout: object,
) -> None:
    async with ClusterFixture("up-args", backend=SimulatedBackend(1)) as cluster:
        with pytest.raises(InvalidParameterError, match=r"timeout must be"):
            await cluster.up(TD, timeout=timeout)  # type: ignore[arg-type]
        assert cluster.list_task_definition_families() == []
        assert cluster.list_services() == []
        assert no_tasks(cluster)


@pytest.mark.anyio
async def test_wait_http_refuses_a_bad_timeout() -> None:
    with pytest.raises(InvalidParameterError, match=r"timeout must be .* got nan"):
        await wait_http("127.0.0.1:1", timeout=math.nan)


# -- task_healthy_delay= -------------------------------------------------------------------


@pytest.mark.parametrize("delay", [math.nan, math.inf, -math.inf, -1, "40", True], ids=repr)
def test_cluster_refuses_a_task_healthy_delay_that_is_not_finite_seconds(delay: object) -> None:
    for make in (pyecs.Cluster, pyecs.sync.Cluster):
        with pytest.raises(InvalidParameterError) as info:
            make("c", task_healthy_delay=delay)  # type: ignore[arg-type]
        assert "task_healthy_delay must be a finite number of seconds >= 0" in str(info.value)
        assert repr(delay) in str(info.value)


# -- run_task(tags=, started_by=) and create_service(tags=) ----------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (
            "x",
            "tags must be a mapping of tag keys to values, such as {'team': 'web'}, got the "
            "string 'x'",
        ),
        ([("team", "web")], "tags must be a mapping"),
        ({1: 2}, "tags must map strings to strings, got the key 1 (an int)"),
        ({"team": 2}, "got the key the string 'team' with the value 2 (an int)"),
        ({"": "x"}, "tags['']"),
        ({"k" * 129: "x"}, "must be at most 128 characters, got 129"),
        ({"team": "v" * 257}, "tags['team'].value: must be at most 256 characters, got 257"),
        ({"aws:team": "x"}, "tags['aws:team'].key: the 'aws:' prefix is reserved for AWS"),
        ({f"k{i}": "v" for i in range(51)}, "tags: has 51 tags; at most 50 are allowed"),
        ({"team": "\ud800"}, "tags['team']: is not valid Unicode (lone surrogate \\ud800"),
    ],
    ids=[
        "string",
        "list",
        "non-string-key",
        "non-string-value",
        "empty-key",
        "long-key",
        "long-value",
        "aws-prefix",
        "51-tags",
        "surrogate",
    ],
)
async def test_run_task_refuses_bad_tags_and_starts_nothing(
    cluster: pyecs.Cluster, tags: object, expected: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await cluster.run_task("web", count=2, tags=tags)  # type: ignore[arg-type]
    assert expected in str(info.value)
    assert no_tasks(cluster)


@pytest.mark.anyio
async def test_run_task_records_good_tags(cluster: pyecs.Cluster) -> None:
    tags = {f"k{i}": "v" * 256 for i in range(49)} | {"k" * 128: ""}
    (task,) = (await cluster.run_task("web", tags=tags)).tasks
    assert dict(task.tags) == tags


@pytest.mark.anyio
@pytest.mark.parametrize("started_by", [5, "", "two words", "x" * 129, "caf\u00e9", "a:b"])
async def test_run_task_refuses_a_bad_started_by_and_starts_nothing(
    cluster: pyecs.Cluster, started_by: object
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        await cluster.run_task("web", started_by=started_by)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("started_by must be 1-128 letters, digits, hyphens (-), forward")
    assert repr(started_by)[:40] in message
    assert no_tasks(cluster)


@pytest.mark.anyio
@pytest.mark.parametrize("started_by", ["me", "ecs-svc/1234567890", "Job_7-b", "x" * 128])
async def test_run_task_takes_the_started_by_ecs_allows(
    cluster: pyecs.Cluster, started_by: str
) -> None:
    (task,) = (await cluster.run_task("web", started_by=started_by)).tasks
    assert task.started_by == started_by
    assert cluster.list_tasks(started_by=started_by) == [task.arn]


@pytest.mark.anyio
@pytest.mark.parametrize("tags", ["team=web", {"team": 1}, {"aws:x": "y"}], ids=repr)
async def test_create_service_refuses_bad_tags_and_creates_nothing(
    cluster: pyecs.Cluster, tags: object
) -> None:
    with pytest.raises(InvalidParameterError, match=r"^tags"):
        await cluster.create_service("web", task_definition="web", tags=tags)  # type: ignore[arg-type]
    assert cluster.list_services() == []
    assert no_tasks(cluster)


@pytest.mark.anyio
async def test_run_task_refuses_overrides_with_a_nul_argument_and_starts_nothing(
    cluster: pyecs.Cluster,
) -> None:
    overrides = {"containerOverrides": [{"name": "app", "command": ["echo", "a\x00b"]}]}
    with pytest.raises(InvalidParameterError) as info:
        await cluster.run_task("web", overrides=overrides)
    assert "containerDefinitions[0].command[1]: contains a NUL character" in str(info.value)
    assert no_tasks(cluster)


# -- a string where a list belongs -----------------------------------------------------------


def test_check_str_list_refuses_a_lone_string_and_says_how_to_wrap_it() -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_str_list("abc", "tasks", "task ARNs or ids")
    assert str(info.value) == (
        "tasks must be a list of task ARNs or ids, got the string 'abc'; wrap it in a list: ['abc']"
    )
    assert check_str_list(("a", "b"), "tasks", "task ARNs or ids") == ["a", "b"]
    assert check_str_list(iter(["a"]), "tasks", "task ARNs or ids") == ["a"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "tasks must be a list of task ARNs or ids, got the string 'abc'; wrap it"),
        (b"abc", "got b'abc' (a bytes)"),
        (42, "tasks must be a list of task ARNs or ids, got 42 (an int)"),
        ({"a": 1}, "got {'a': 1} (a dict)"),
        (["ok", 7], "tasks[1] must be a string (a list of task ARNs or ids), got 7 (an int)"),
    ],
    ids=["str", "bytes", "int", "dict", "non-string-item"],
)
async def test_describe_tasks_refuses_what_is_not_a_list_of_strings(
    cluster: pyecs.Cluster, value: object, expected: str
) -> None:
    (task,) = (await cluster.run_task("web")).tasks
    with pytest.raises(InvalidParameterError) as info:
        cluster.describe_tasks(value)  # type: ignore[arg-type]
    assert expected in str(info.value)
    assert cluster.describe_tasks([task.id]).tasks[0].arn == task.arn


@pytest.mark.anyio
async def test_wait_tasks_refuses_a_lone_task_arn(cluster: pyecs.Cluster) -> None:
    (task,) = (await cluster.run_task("web")).tasks
    for wait in (cluster.wait_tasks_running, cluster.wait_tasks_stopped):
        with pytest.raises(InvalidParameterError, match=r"tasks must be a list .*; wrap it"):
            await wait(task.arn, timeout=5)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_delete_task_definitions_refuses_a_lone_reference_and_deletes_nothing(
    cluster: pyecs.Cluster,
) -> None:
    await cluster.deregister_task_definition("web:1")
    with pytest.raises(InvalidParameterError, match=r"^references must be a list of task def"):
        await cluster.delete_task_definitions("web:1")  # type: ignore[arg-type]
    assert cluster.list_task_definitions(status="INACTIVE") == [
        cluster.describe_task_definition("web:1").task_definition_arn
    ]


@pytest.mark.anyio
async def test_describe_services_refuses_a_lone_name(cluster: pyecs.Cluster) -> None:
    await cluster.create_service("web", task_definition="web", desired_count=0)
    with pytest.raises(InvalidParameterError, match=r"^names must be a list of service names"):
        cluster.describe_services("web")  # type: ignore[arg-type]
    assert [s.name for s in cluster.describe_services(["web"]).services] == ["web"]


@pytest.mark.anyio
async def test_container_instance_calls_refuse_a_lone_string_and_change_nothing(
    cluster: pyecs.Cluster,
) -> None:
    first, second = (ci.id for ci in cluster.list_container_instances())
    with pytest.raises(InvalidParameterError, match=r"^instances must be a list of container"):
        await cluster.update_container_instances_state(first, "DRAINING")
    # An unknown instance anywhere in the list: none of them is drained.
    with pytest.raises(InvalidParameterError, match=r"not registered"):
        await cluster.update_container_instances_state([first, "i-nope", second], "DRAINING")
    assert {ci.status for ci in cluster.list_container_instances()} == {"ACTIVE"}
    await cluster.put_attributes(first, {"stage": "blue"})
    with pytest.raises(InvalidParameterError, match=r"^names must be a list of attribute names"):
        await cluster.delete_attributes(first, "stage")
    assert ("stage", "blue") in cluster.describe_container_instance(first).attributes.items()
    with pytest.raises(InvalidParameterError, match=r"^instance must be a container instance id"):
        cluster.describe_container_instance([first])  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["placement_constraints", "placement_strategy"])
@pytest.mark.parametrize("value", ["distinctInstance", {"type": "distinctInstance"}])
async def test_run_task_refuses_one_placement_item_where_a_list_belongs(
    cluster: pyecs.Cluster, param: str, value: object
) -> None:
    with pytest.raises(pyecs.PlacementError, match=r"must be a list.*wrap one in a list"):
        await cluster.run_task("web", **{param: value})
    assert no_tasks(cluster)
