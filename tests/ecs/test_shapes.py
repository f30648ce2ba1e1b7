"""pyecs's ECS JSON is what the ECS API sends: checked against botocore's ECS model.

A real cluster on the simulated backend produces the values (a service with two
deployments and events, a stopped task with its stop code and exit code, a placement
failure, a MISSING task, container instances, task definitions with many fields); each
response is then walked against the OUTPUT shape of its operation in botocore's ECS
service model: every member name known, every type and enum value right, required
members present, timestamps as the JSON 1.1 protocol carries them (epoch seconds).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import botocore.parsers
import botocore.session
import pytest
import trio.testing
from botocore.model import ListShape, MapShape, Shape, StructureShape

import pyecs
import pyecs.ecs as ecs
from pyecs.backends.simulated import Behavior, SimulatedBackend

MODEL = botocore.session.get_session().get_service_model("ecs")
VALID = sorted((Path(__file__).parent.parent / "data" / "valid").glob("*.json"))


# -- a walker over botocore shapes ---------------------------------------------------------


def shape_problems(value: object, shape: Shape, path: str = "$") -> list[str]:
    """Everything in ``value`` that the botocore ``shape`` does not allow, with its path."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return [f"{path}: {shape.name} must be an object, not {type(value).__name__}"]
        out = [
            f"{path}: required member {name!r} of {shape.name} is missing"
            for name in shape.required_members
            if name not in value
        ]
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out.append(f"{path}.{key}: {shape.name} has no member {key!r}")
            else:
                out.extend(shape_problems(item, member, f"{path}.{key}"))
        return out
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            return [f"{path}: {shape.name} must be a list, not {type(value).__name__}"]
        return [
            p for i, v in enumerate(value) for p in shape_problems(v, shape.member, f"{path}[{i}]")
        ]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            return [f"{path}: {shape.name} must be a map, not {type(value).__name__}"]
        out = []
        for key, item in value.items():
            out.extend(shape_problems(key, shape.key, f"{path}<key {key!r}>"))
            out.extend(shape_problems(item, shape.value, f"{path}.{key}"))
        return out
    ok = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        # JSON 1.1 sends timestamps as epoch seconds, a number.
        "timestamp": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    }.get(kind)
    if ok is None:
        return [f"{path}: unexpected shape type {kind} ({shape.name})"]
    if not ok(value):
        return [f"{path}: {shape.name} must be a {kind}, not {value!r}"]
    enum = shape.enum if kind == "string" else []
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {shape.name} {enum}"]
    return []


def output_problems(operation: str, body: dict[str, Any]) -> list[str]:
    """Problems of ``body`` as the response of ``operation``, plus JSON round-trip ones."""
    problems = shape_problems(body, MODEL.operation_model(operation).output_shape)
    if json.loads(json.dumps(body)) != body:
        problems.append("$: does not survive json.dumps/json.loads unchanged")
    return problems


def parsed_by_botocore(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """The response as boto3 would hand it over (timestamps parsed to datetimes)."""
    parser = botocore.parsers.create_parser("json")
    response = {"body": json.dumps(body).encode(), "headers": {}, "status_code": 200}
    parsed: dict[str, Any] = parser.parse(response, MODEL.operation_model(operation).output_shape)
    return parsed


def test_the_walker_reports_unknown_names_types_enums_and_missing_required() -> None:
    shape = MODEL.operation_model("DescribeContainerInstances").output_shape
    body = {
        "containerInstances": [
            {
                "containerInstanceArn": 7,
                "agentConnected": "yes",
                "registeredAt": "2024-01-01T00:00:00Z",
                "attributes": [{"value": "x"}],
                "agentUpdateStatus": "SOMETIMES",
                "tasksCount": 1,
            }
        ],
        "failures": {},
    }
    problems = shape_problems(body, shape)
    assert len(problems) == 7, problems
    for fragment in (
        "containerInstanceArn: String must be a string",
        "agentConnected: Boolean must be a boolean",
        "registeredAt: Timestamp must be a timestamp",
        "required member 'name' of Attribute is missing",
        "'SOMETIMES' is not one of AgentUpdateStatus",
        "ContainerInstance has no member 'tasksCount'",
        "failures: Failures must be a list",
    ):
        assert any(fragment in p for p in problems), (fragment, problems)


# -- one cluster's worth of responses ------------------------------------------------------


def _web(image: str, *, memory: int = 256) -> dict[str, Any]:
    return {
        "family": "web-app",
        "containerDefinitions": [
            {
                "name": "web",
                "image": image,
                "memory": memory,
                "portMappings": [{"containerPort": 80}],
                "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 5},
            },
            {"name": "sidecar", "image": "busybox:1", "memory": 32, "essential": False},
        ],
        "tags": [{"key": "team", "value": "web"}],
    }


class Scene:
    """Responses by operation, and the values they were made from."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[dict[str, Any]]] = {}
        self.values: dict[str, Any] = {}

    def add(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.setdefault(operation, []).append(body)
        return body


async def _play(scene: Scene) -> None:
    backend = SimulatedBackend(
        2, behaviors={"busybox:crash": Behavior(exit_code=3, exit_after=2.0)}
    )
    async with pyecs.Cluster("production", backend=backend, task_healthy_delay=1) as cluster:
        for image in ("nginx:1", "nginx:2"):
            td = await cluster.register_task_definition(_web(image))
            scene.add("RegisterTaskDefinition", ecs.register_task_definition_response(td))
        for path in VALID:
            td = await cluster.register_task_definition(pyecs.TaskDefinition.from_file(path))
            scene.add("RegisterTaskDefinition", ecs.register_task_definition_response(td))
            again = cluster.describe_task_definition(str(td.task_definition_arn))
            scene.add("DescribeTaskDefinition", ecs.describe_task_definition_response(again))
        crash = {
            "family": "crash",
            "containerDefinitions": [{"name": "main", "image": "busybox:crash", "memory": 64}],
        }
        await cluster.register_task_definition(crash)
        await cluster.register_task_definition(
            {
                "family": "huge",
                "containerDefinitions": [{"name": "m", "image": "x", "memory": 3900}],
            }
        )

        svc = await cluster.create_service(
            "web",
            task_definition="web-app:1",
            desired_count=2,
            placement_strategy=[
                pyecs.Spread("attribute:ecs.availability-zone"),
                {"type": "binpack", "field": "memory"},
            ],
            placement_constraints=[pyecs.DistinctInstance()],
            deployment_configuration=pyecs.DeploymentConfiguration(
                minimum_healthy_percent=50,
                circuit_breaker=pyecs.CircuitBreaker(enable=True, rollback=True),
            ),
            health_check_grace_period=10,
            tags={"team": "web"},
        )
        scene.add("CreateService", ecs.create_service_response(svc))
        await svc.wait_stable(timeout=300)
        await svc.update(task_definition="web-app:2")
        with anyio.fail_after(300):
            while len(svc.deployments) < 2 or not svc.tasks:
                await anyio.sleep(0.1)
        scene.values["rolling"] = rolling = ecs.update_service_response(svc)
        scene.add("UpdateService", rolling)
        await svc.wait_stable(timeout=600)
        scene.values["service"] = svc
        scene.add(
            "DescribeServices",
            ecs.describe_services_response(cluster.describe_services(["web", "nope"])),
        )

        run = await cluster.run_task("crash", count=1, started_by="batch", tags={"job": "7"})
        scene.add("RunTask", ecs.run_task_response(run))
        (stopped,) = await cluster.wait_tasks_stopped([t.arn for t in run.tasks], timeout=60)
        scene.values["stopped"] = stopped
        unplaced = await cluster.run_task("huge", count=1)
        scene.values["unplaced"] = unplaced
        scene.add("RunTask", ecs.run_task_response(unplaced))
        described = cluster.describe_tasks([stopped.arn, svc.tasks[0].arn, "0" * 32])
        scene.values["described"] = described
        scene.add("DescribeTasks", ecs.describe_tasks_response(described))
        scene.add("ListTasks", ecs.list_tasks_response(cluster.list_tasks()))
        scene.add("ListTasks", ecs.list_tasks_response(cluster.list_tasks(), next_token="t"))

        (standalone,) = (await cluster.run_task("web-app:2")).tasks
        await cluster.wait_tasks_running([standalone.arn], timeout=60)
        scene.add("StopTask", ecs.stop_task_response(await cluster.stop_task(standalone.arn)))

        instances = cluster.list_container_instances()
        scene.values["instances"] = instances
        missing = pyecs.TaskFailure(instances[0].arn.rsplit("/", 1)[0] + "/i-nope", "MISSING")
        scene.add(
            "DescribeContainerInstances",
            ecs.describe_container_instances_response(instances, [missing]),
        )
        scene.add(
            "ListContainerInstances",
            ecs.list_container_instances_response([ci.arn for ci in instances]),
        )
        scene.add("ListServices", ecs.list_services_response(cluster.list_services()))
        scene.add(
            "ListTaskDefinitions",
            ecs.list_task_definitions_response(cluster.list_task_definitions()),
        )
        scene.add(
            "ListTaskDefinitionFamilies",
            ecs.list_task_definition_families_response(cluster.list_task_definition_families()),
        )
        inactive = await cluster.deregister_task_definition("crash:1")
        scene.add("DeregisterTaskDefinition", ecs.deregister_task_definition_response(inactive))
        deleted = await cluster.delete_task_definitions(["crash:1", "web-app:2", "nope:7"])
        scene.values["deleted"] = deleted
        scene.add("DeleteTaskDefinitions", ecs.delete_task_definitions_response(deleted))
        scene.add("DeleteService", ecs.delete_service_response(await svc.delete(force=True)))


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    """Play the cluster once on trio with a MockClock: simulated minutes pass at once."""
    played = Scene()

    async def play() -> None:
        await _play(played)

    anyio.run(
        play,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    yield played


OPERATIONS = [
    "CreateService",
    "DeleteService",
    "DeleteTaskDefinitions",
    "DeregisterTaskDefinition",
    "DescribeContainerInstances",
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeTasks",
    "ListContainerInstances",
    "ListServices",
    "ListTaskDefinitionFamilies",
    "ListTaskDefinitions",
    "ListTasks",
    "RegisterTaskDefinition",
    "RunTask",
    "StopTask",
    "UpdateService",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_response_matches_the_botocore_output_shape(scene: Scene, operation: str) -> None:
    bodies = scene.bodies[operation]
    assert bodies
    for body in bodies:
        assert output_problems(operation, body) == []
        parsed_by_botocore(operation, body)  # and botocore's own parser takes it


# -- what the responses say ----------------------------------------------------------------


def test_a_stopped_task_carries_its_stop_code_exit_code_and_epoch_timestamps(scene: Scene) -> None:
    stopped: pyecs.Task = scene.values["stopped"]
    (body,) = [t for t in scene.bodies["DescribeTasks"][0]["tasks"] if t["taskArn"] == stopped.arn]
    assert body["lastStatus"] == "STOPPED" and body["desiredStatus"] == "STOPPED"
    assert body["stopCode"] == "EssentialContainerExited"
    assert body["stoppedReason"] == "Essential container in task exited"
    assert body["launchType"] == "EC2" and body["group"] == "family:crash"
    assert body["startedBy"] == "batch" and body["tags"] == [{"key": "job", "value": "7"}]
    (container,) = body["containers"]
    assert container["exitCode"] == 3 and container["lastStatus"] == "STOPPED"
    assert container["taskArn"] == stopped.arn
    assert container["containerArn"].startswith(stopped.arn.replace(":task/", ":container/") + "/")
    assert isinstance(body["stoppedAt"], float)
    assert stopped.stopped_at is not None
    assert body["stoppedAt"] == stopped.stopped_at.timestamp()
    parsed = parsed_by_botocore("DescribeTasks", scene.bodies["DescribeTasks"][0])
    (again,) = [t for t in parsed["tasks"] if t["taskArn"] == stopped.arn]
    assert abs(again["stoppedAt"] - stopped.stopped_at) < datetime.timedelta(milliseconds=1)


def test_describe_tasks_reports_an_unknown_arn_as_missing(scene: Scene) -> None:
    body = scene.bodies["DescribeTasks"][0]
    assert len(body["tasks"]) == 2
    (failure,) = body["failures"]
    assert failure["reason"] == "MISSING" and failure["arn"].endswith("0" * 32)
    assert "detail" not in failure  # ECS sends no detail for MISSING


def test_run_task_reports_a_placement_failure_with_reason_and_detail(scene: Scene) -> None:
    body = scene.bodies["RunTask"][1]
    assert body["tasks"] == []
    assert body["failures"]
    for failure in body["failures"]:
        assert failure["reason"] == "RESOURCE:MEMORY"
        assert ":container-instance/production/" in failure["arn"]
        assert "MiB" in failure["detail"]


def test_a_rolling_service_shows_both_deployments_and_its_events(scene: Scene) -> None:
    service = scene.values["rolling"]["service"]
    primary, active = service["deployments"][:2]
    assert (primary["status"], active["status"]) == ("PRIMARY", "ACTIVE")
    assert primary["taskDefinition"].endswith(":task-definition/web-app:2")
    assert active["taskDefinition"].endswith(":task-definition/web-app:1")
    assert primary["rolloutState"] == "IN_PROGRESS" and primary["launchType"] == "EC2"
    assert service["taskDefinition"] == primary["taskDefinition"]
    assert service["clusterArn"] == "arn:aws:ecs:local:000000000000:cluster/production"
    assert service["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 50,
    }
    assert service["placementStrategy"] == [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "binpack", "field": "memory"},
    ]
    assert service["placementConstraints"] == [{"type": "distinctInstance"}]
    assert service["healthCheckGracePeriodSeconds"] == 10
    assert service["tags"] == [{"key": "team", "value": "web"}]
    messages = [e["message"] for e in service["events"]]
    assert any("has started 1 tasks" in m or "has started 2 tasks" in m for m in messages)
    times = [e["createdAt"] for e in service["events"]]
    assert times == sorted(times, reverse=True)  # newest first, as ECS lists them


def test_a_steady_service_has_one_completed_deployment(scene: Scene) -> None:
    (service,) = scene.bodies["DescribeServices"][0]["services"]
    assert (service["status"], service["desiredCount"], service["runningCount"]) == (
        "ACTIVE",
        2,
        2,
    )
    (deployment,) = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED"
    assert any("has reached a steady state" in e["message"] for e in service["events"])
    (failure,) = scene.bodies["DescribeServices"][0]["failures"]
    assert failure == {
        "arn": "arn:aws:ecs:local:000000000000:service/production/nope",
        "reason": "MISSING",
    }
    deleted = scene.bodies["DeleteService"][0]["service"]
    assert deleted["status"] in ("DRAINING", "INACTIVE") and deleted["desiredCount"] == 0


def test_container_instances_carry_resources_and_attributes_as_ecs_does(scene: Scene) -> None:
    ci: pyecs.ContainerInstance = scene.values["instances"][0]
    body = scene.bodies["DescribeContainerInstances"][0]["containerInstances"][0]
    registered = {r["name"]: r for r in body["registeredResources"]}
    assert list(registered) == ["CPU", "MEMORY", "PORTS", "PORTS_UDP"]
    assert registered["CPU"]["integerValue"] == ci.registered_resources.cpu
    assert registered["MEMORY"] == {
        "name": "MEMORY",
        "type": "INTEGER",
        "doubleValue": 0.0,
        "longValue": 0,
        "integerValue": ci.registered_resources.memory,
    }
    assert registered["PORTS"]["stringSetValue"] == ["22", "2375", "2376", "51678", "51679"]
    attributes = {a["name"]: a.get("value") for a in body["attributes"]}
    assert attributes["ecs.availability-zone"] == ci.attributes["ecs.availability-zone"]
    assert body["versionInfo"] == {"agentVersion": ci.agent_version}
    assert body["registeredAt"] == ci.registered_at.timestamp()


def test_delete_task_definitions_reports_active_and_unknown_revisions(scene: Scene) -> None:
    body = scene.bodies["DeleteTaskDefinitions"][0]
    (deleted,) = body["taskDefinitions"]
    assert deleted["status"] == "DELETE_IN_PROGRESS" and deleted["family"] == "crash"
    assert isinstance(deleted["deleteRequestedAt"], float)
    reasons = [f["reason"] for f in body["failures"]]
    assert reasons == ["TASK_DEFINITION_NOT_INACTIVE", "MISSING"]


def test_task_definition_tags_sit_beside_the_definition(scene: Scene) -> None:
    body = scene.bodies["RegisterTaskDefinition"][0]
    assert body["tags"] == [{"key": "team", "value": "web"}]
    assert "tags" not in body["taskDefinition"]
    assert body["taskDefinition"]["status"] == "ACTIVE"
    assert isinstance(body["taskDefinition"]["registeredAt"], float)


# -- to_ecs dispatches on the type ---------------------------------------------------------


def test_to_ecs_gives_the_same_json_as_the_responses(scene: Scene) -> None:
    described: pyecs.DescribeTasksResult = scene.values["described"]
    assert ecs.to_ecs(described) == ecs.describe_tasks_response(described)
    task = described.tasks[0]
    assert ecs.to_ecs(task) == scene.bodies["DescribeTasks"][0]["tasks"][0]
    assert ecs.to_ecs(described.failures[0]) == scene.bodies["DescribeTasks"][0]["failures"][0]
    ci = scene.values["instances"][0]
    assert ecs.to_ecs(ci) == scene.bodies["DescribeContainerInstances"][0]["containerInstances"][0]
    deleted = scene.values["deleted"]
    assert ecs.to_ecs(deleted) == scene.bodies["DeleteTaskDefinitions"][0]
    binding = ecs.to_ecs(pyecs.NetworkBinding("0.0.0.0", 80, 32768))
    assert binding == {
        "bindIP": "0.0.0.0",
        "containerPort": 80,
        "hostPort": 32768,
        "protocol": "tcp",
    }
    assert shape_problems(binding, MODEL.shape_for("NetworkBinding")) == []
    container = ecs.to_ecs(task.containers[0])
    assert shape_problems(container, MODEL.shape_for("Container")) == []
    service: pyecs.Service = scene.values["service"]
    for deployment in service.deployments:
        assert shape_problems(ecs.to_ecs(deployment), MODEL.shape_for("Deployment")) == []
    for event in service.events:
        assert shape_problems(ecs.to_ecs(event), MODEL.shape_for("ServiceEvent")) == []


def test_a_task_that_knows_its_zone_says_so(scene: Scene) -> None:
    """The runtime fills the zone from the instance's ``ecs.availability-zone``."""
    stopped = scene.values["stopped"]
    assert stopped.availability_zone is not None
    body = ecs.to_ecs(stopped)
    assert body["availabilityZone"] == stopped.availability_zone
    assert shape_problems(body, MODEL.shape_for("Task")) == []
    assert "availabilityZone" not in ecs.to_ecs(attrs.evolve(stopped, availability_zone=None))


def test_to_ecs_refuses_what_ecs_does_not_describe() -> None:
    with pytest.raises(TypeError, match=r"cannot write a builtins\.object"):
        ecs.to_ecs(object())
    with pytest.raises(TypeError, match="Resources"):
        ecs.to_ecs(pyecs.Resources(cpu=1, memory=1))


# -- round trips where ECS JSON goes in ----------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_a_described_task_definition_loads_back(path: Path) -> None:
    td = pyecs.TaskDefinition.from_file(path)
    body = ecs.describe_task_definition_response(td)
    assert output_problems("DescribeTaskDefinition", body) == []
    again = pyecs.TaskDefinition.from_dict(json.loads(json.dumps(body)))
    assert again.to_dict(include_response_fields=False) == td.to_dict(include_response_fields=False)
    assert (again.task_definition_arn, again.revision, again.status) == (
        td.task_definition_arn,
        td.revision,
        td.status,
    )


def test_iso_registered_at_goes_out_as_epoch_seconds() -> None:
    td = pyecs.TaskDefinition.from_file(next(p for p in VALID if p.stem == "describe-output"))
    body = ecs.task_definition_to_ecs(td)
    assert td.registered_at == "2024-05-14T09:41:27.312000+02:00"
    assert (
        body["registeredAt"]
        == datetime.datetime(2024, 5, 14, 7, 41, 27, 312000, tzinfo=datetime.UTC).timestamp()
    )


async def _recreate(placement: dict[str, Any]) -> dict[str, Any]:
    async with pyecs.Cluster("again", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(_web("nginx:1"))
        svc = await cluster.create_service(
            "web",
            task_definition="web-app:1",
            desired_count=0,
            placement_strategy=placement["placementStrategy"],
            placement_constraints=placement["placementConstraints"],
        )
        return ecs.to_ecs(svc)


def test_placement_json_goes_back_into_create_service(scene: Scene) -> None:
    service = scene.bodies["DescribeServices"][0]["services"][0]
    again = anyio.run(_recreate, service)
    for key in ("placementStrategy", "placementConstraints"):
        assert again[key] == service[key]


async def _balanced_service() -> dict[str, Any]:
    async with pyecs.Cluster("lb", backend=SimulatedBackend(1)) as cluster:
        await cluster.register_task_definition(_web("nginx:1"))
        svc = await cluster.create_service(
            "web",
            task_definition="web-app:1",
            desired_count=1,
            load_balancers=[pyecs.LoadBalancer(container_name="web", container_port=80)],
        )
        body = ecs.create_service_response(svc)
        await svc.delete(force=True)
        return body


def test_a_load_balanced_service_lists_its_target_group() -> None:
    body = anyio.run(
        _balanced_service,
        backend="trio",
        backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)},
    )
    assert output_problems("CreateService", body) == []
    (lb,) = body["service"]["loadBalancers"]
    assert (lb["containerName"], lb["containerPort"]) == ("web", 80)
    assert lb["targetGroupArn"].startswith("arn:aws:elasticloadbalancing:local:000000000000:")
