"""The task-definition registry, reached through ``pyecs.Cluster``."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import pyecs
from pyecs.exceptions import ClusterClosedError, InvalidParameterError

pytestmark = pytest.mark.anyio


def _td(family: str = "web-app", image: str = "nginx:latest") -> dict[str, object]:
    return {
        "family": family,
        "containerDefinitions": [{"name": "nginx", "image": image, "memory": 256}],
    }


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_seed_example_registers_as_web_app_1(seed_task_definition_path: Path) -> None:
    td = pyecs.TaskDefinition.from_file(seed_task_definition_path)
    async with pyecs.Cluster("production") as cluster:
        web = await cluster.register_task_definition(td)
    assert (web.family, web.revision, web.status) == ("web-app", 1, "ACTIVE")
    assert web.task_definition_arn == "arn:aws:ecs:local:000000000000:task-definition/web-app:1"
    assert web.container("nginx").memory == 256


async def test_revisions_count_up_and_are_never_reused() -> None:
    async with pyecs.Cluster("c") as cluster:
        one = await cluster.register_task_definition(_td())
        two = await cluster.register_task_definition(_td(image="nginx:1.27"))
        await cluster.deregister_task_definition("web-app:2")
        await cluster.delete_task_definitions(["web-app:2"])
        three = await cluster.register_task_definition(_td())
    assert [one.revision, two.revision, three.revision] == [1, 2, 3]


async def test_register_accepts_dict_path_and_model(seed_task_definition_path: Path) -> None:
    async with pyecs.Cluster("c") as cluster:
        a = await cluster.register_task_definition(_td())
        b = await cluster.register_task_definition(seed_task_definition_path)
        c = await cluster.register_task_definition(str(seed_task_definition_path))
    assert [a.revision, b.revision, c.revision] == [1, 2, 3]


async def test_register_ignores_response_only_fields_of_pasted_describe_output() -> None:
    pasted = {
        "taskDefinition": {
            **_td(),
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web-app:7",
            "revision": 7,
            "status": "INACTIVE",
            "compatibilities": ["EC2"],
        }
    }
    async with pyecs.Cluster("c", region="eu-west-1", account="111122223333") as cluster:
        web = await cluster.register_task_definition(pasted)
    assert web.revision == 1
    assert web.status == "ACTIVE"
    assert web.task_definition_arn == (
        "arn:aws:ecs:eu-west-1:111122223333:task-definition/web-app:1"
    )


async def test_describe_by_family_revision_and_arn() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        two = await cluster.register_task_definition(_td(image="nginx:2"))
        assert cluster.describe_task_definition("web-app") == two
        assert cluster.describe_task_definition("web-app:2") == two
        assert cluster.describe_task_definition(str(two.task_definition_arn)) == two
        assert cluster.describe_task_definition("web-app:1").revision == 1


async def test_family_resolves_to_latest_active_revision() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        await cluster.register_task_definition(_td(image="nginx:2"))
        await cluster.deregister_task_definition("web-app:2")
        assert cluster.describe_task_definition("web-app").revision == 1
        # An INACTIVE revision stays describable by its exact reference.
        assert cluster.describe_task_definition("web-app:2").status == "INACTIVE"


async def test_missing_reference_names_what_exists() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        await cluster.register_task_definition(_td("worker"))
        with pytest.raises(pyecs.TaskDefinitionNotFoundError) as err:
            cluster.describe_task_definition("wbe-app")
        assert "web-app" in str(err.value) and "worker" in str(err.value)
        with pytest.raises(pyecs.TaskDefinitionNotFoundError, match="no revision 9"):
            cluster.describe_task_definition("web-app:9")


async def test_all_revisions_inactive_is_not_found_with_reason() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        await cluster.deregister_task_definition("web-app:1")
        with pytest.raises(pyecs.TaskDefinitionNotFoundError, match="no ACTIVE revision"):
            cluster.describe_task_definition("web-app")


async def test_deregister_needs_a_revision() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        with pytest.raises(InvalidParameterError, match="family:revision"):
            await cluster.deregister_task_definition("web-app")


async def test_bad_references_are_typed_errors() -> None:
    async with pyecs.Cluster("c") as cluster:
        for ref in ("web-app:x", "web-app:0", "arn:aws:ecs:local:1:task/abc", ""):
            with pytest.raises(InvalidParameterError):
                cluster.describe_task_definition(ref)


async def test_list_task_definitions_filters_and_sorts() -> None:
    async with pyecs.Cluster("c") as cluster:
        for fam in ("web-app", "worker", "web-app", "web-admin"):
            await cluster.register_task_definition(_td(fam))
        await cluster.deregister_task_definition("worker:1")
        refs = [a.rsplit("/", 1)[1] for a in cluster.list_task_definitions()]
        assert refs == ["web-admin:1", "web-app:1", "web-app:2"]
        desc = [a.rsplit("/", 1)[1] for a in cluster.list_task_definitions(sort="DESC")]
        assert desc == list(reversed(refs))
        web = cluster.list_task_definitions(family_prefix="web-app")
        assert [a.rsplit("/", 1)[1] for a in web] == ["web-app:1", "web-app:2"]
        inactive = cluster.list_task_definitions(status="INACTIVE")
        assert [a.rsplit("/", 1)[1] for a in inactive] == ["worker:1"]
        assert cluster.list_task_definition_families() == ["web-admin", "web-app"]
        assert cluster.list_task_definition_families(status="INACTIVE") == ["worker"]
        assert cluster.list_task_definition_families(status="ALL", family_prefix="w") == [
            "web-admin",
            "web-app",
            "worker",
        ]
        with pytest.raises(InvalidParameterError, match="sort"):
            cluster.list_task_definitions(sort="UP")  # type: ignore[arg-type]


async def test_delete_only_inactive_revisions() -> None:
    async with pyecs.Cluster("c") as cluster:
        await cluster.register_task_definition(_td())
        await cluster.register_task_definition(_td())
        await cluster.deregister_task_definition("web-app:1")
        result = await cluster.delete_task_definitions(["web-app:1", "web-app:2", "nope:1"])
    assert [td.ref for td in result.task_definitions] == ["web-app:1"]
    assert result.task_definitions[0].status == "DELETE_IN_PROGRESS"
    assert [f.reason for f in result.failures] == ["TASK_DEFINITION_NOT_INACTIVE", "MISSING"]


async def test_registered_at_comes_from_the_cluster_clock() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    async with pyecs.Cluster("c", clock=lambda: when) as cluster:
        web = await cluster.register_task_definition(_td())
    assert web.registered_at == when.isoformat()


async def test_invalid_definition_is_refused_and_leaves_no_revision() -> None:
    async with pyecs.Cluster("c") as cluster:
        with pytest.raises(pyecs.InvalidTaskDefinitionError):
            await cluster.register_task_definition({"family": "web-app"})
        ok = await cluster.register_task_definition(_td())
    assert ok.revision == 1


async def test_cluster_must_be_open_for_writes() -> None:
    cluster = pyecs.Cluster("c")
    with pytest.raises(ClusterClosedError, match="async with"):
        await cluster.register_task_definition(_td())
    async with cluster:
        pass
    with pytest.raises(ClusterClosedError):
        await cluster.register_task_definition(_td())
    with pytest.raises(ClusterClosedError, match="create a new Cluster"):
        async with cluster:
            pass


def test_cluster_name_is_validated() -> None:
    with pytest.raises(InvalidParameterError, match="cluster name"):
        pyecs.Cluster("bad name!")


async def test_clusters_given_one_registry_share_task_definitions() -> None:
    """ECS task definitions belong to the account and region, not to a cluster."""
    registry = pyecs.TaskDefinitionRegistry(region="eu-west-1", account="123456789012")
    async with (
        pyecs.Cluster(
            "a", region="eu-west-1", account="123456789012", task_definitions=registry
        ) as a,
        pyecs.Cluster(
            "b", region="eu-west-1", account="123456789012", task_definitions=registry
        ) as b,
    ):
        td = await a.register_task_definition(
            {"family": "web", "containerDefinitions": [{"name": "c", "image": "i", "memory": 8}]}
        )
        assert td.task_definition_arn == (
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1"
        )
        assert b.describe_task_definition("web:1") == td
        assert (await b.register_task_definition(td)).revision == 2
        assert a.task_definitions is b.task_definitions is registry


def test_a_registry_of_another_region_is_refused() -> None:
    registry = pyecs.TaskDefinitionRegistry(region="eu-west-1")
    with pytest.raises(pyecs.InvalidParameterError, match="eu-west-1"):
        pyecs.Cluster("a", region="us-east-1", task_definitions=registry)


def test_restored_revisions_are_never_reused() -> None:
    old = pyecs.TaskDefinitionRegistry(region="r")
    spec = {"family": "web", "containerDefinitions": [{"name": "c", "image": "i", "memory": 8}]}
    first = old.register(spec)
    old.register(spec)
    old.deregister("web:2")
    old.delete(["web:2"])
    new = pyecs.TaskDefinitionRegistry(region="r")
    for td in (first, old.describe("web:2")):
        new.restore(td)
    assert new.register(spec).revision == 3
    assert new.describe("web:1") == first


def test_a_family_starts_its_latest_active_revision_after_every_write() -> None:
    """resolve_active remembers its answers between writes: each write must forget them."""
    from pyecs.exceptions import TaskDefinitionNotFoundError

    registry = pyecs.TaskDefinitionRegistry()
    registry.register(_td())
    assert registry.resolve_active("web-app").revision == 1
    registry.register(_td(image="nginx:2"))
    assert registry.resolve_active("web-app").revision == 2
    assert registry.resolve_active("web-app:1").revision == 1
    registry.deregister("web-app:2")
    assert registry.resolve_active("web-app").revision == 1
    with pytest.raises(TaskDefinitionNotFoundError, match="INACTIVE"):
        registry.resolve_active("web-app:2")
    registry.deregister("web-app:1")
    with pytest.raises(TaskDefinitionNotFoundError):
        registry.resolve_active("web-app:1")
