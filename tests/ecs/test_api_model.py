"""botocore's ECS model is the source of truth for task definitions.

- ``pyecs/ecs/_api_model.py`` is botocore's model, copied: it must not drift.
- Every member of ``RegisterTaskDefinitionRequest`` (and the output-only members of a
  describe ``TaskDefinition``), at every depth, and every enum value, loads and
  round-trips. When botocore gains a member, this fails until pyecs supports it.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from pyecs import TaskDefinition, TaskDefinitionWarning

ROOT = Path(__file__).resolve().parents[2]

SHAPES: dict[str, Any] = (
    botocore.session.get_session().get_service_model("ecs")._shape_resolver._shape_map
)

BASE: dict[str, Any] = {
    "family": "walk",
    "containerDefinitions": [
        {"name": "app", "image": "busybox", "memory": 128},
        {"name": "side", "image": "busybox", "memory": 64, "essential": False},
    ],
}

#: Members a structure starts with when a test sets another member inside it: what the
#: ECS rules need for the structure to be valid on its own.
STRUCTURE_DEFAULTS: dict[str, dict[str, Any]] = {
    "PortMapping": {"containerPort": 8080},
    "Volume": {"name": "data"},
    "MountPoint": {"sourceVolume": "data", "containerPath": "/data"},
    "Ulimit": {"name": "nofile", "softLimit": 1024, "hardLimit": 2048},
    "Tmpfs": {"containerPath": "/run/cache", "size": 64},
    "TaskDefinitionPlacementConstraint": {
        "type": "memberOf",
        "expression": "attribute:ecs.os-type == linux",
    },
    "KeyValuePair": {"name": "MODE", "value": "walk"},
    "Secret": {"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:111122223333:parameter/t"},
    "ContainerDependency": {"containerName": "side", "condition": "START"},
    "HealthCheck": {"command": ["CMD", "true"]},
    "VolumeFrom": {"sourceContainer": "side"},
    "ContainerRestartPolicy": {"enabled": True},
    "LogConfiguration": {"logDriver": "json-file"},
    "HostEntry": {"hostname": "db", "ipAddress": "10.0.0.5"},
    "EnvironmentFile": {"value": "arn:aws:s3:::bucket/app.env", "type": "s3"},
    "Tag": {"key": "team", "value": "web"},
}

#: Leaf values the ECS rules constrain, by ``Structure.member``.
LEAVES: dict[str, Any] = {
    "Volume.name": "data",
    "HostVolumeProperties.sourcePath": "/srv/data",
    "ContainerDefinition.links": ["side"],
    "ContainerDefinition.name": "app",
    "ContainerDefinition.memory": 128,
    "ContainerDefinition.memoryReservation": 64,
    "ContainerDefinition.startTimeout": 60,
    "ContainerDefinition.stopTimeout": 30,
    "ContainerDefinition.healthCheck": {"command": ["CMD", "true"]},
    "HealthCheck.command": ["CMD-SHELL", "true"],
    "HealthCheck.interval": 30,
    "HealthCheck.timeout": 5,
    "HealthCheck.retries": 3,
    "HealthCheck.startPeriod": 10,
    "PortMapping.containerPort": 8080,
    "PortMapping.hostPort": 8080,
    "PortMapping.containerPortRange": "8000-8010",
    "ContainerRestartPolicy.restartAttemptPeriod": 300,
    "Ulimit.softLimit": 1024,
    "Ulimit.hardLimit": 2048,
    "Tmpfs.size": 64,
    "LinuxParameters.sharedMemorySize": 64,
    "TaskDefinitionPlacementConstraint.expression": "attribute:ecs.os-type == linux",
    "RegisterTaskDefinitionRequest.family": "walk",
    "RegisterTaskDefinitionRequest.containerDefinitions": copy.deepcopy(
        BASE["containerDefinitions"]
    ),
    "RegisterTaskDefinitionRequest.cpu": "256",
    "RegisterTaskDefinitionRequest.memory": "512",
    "TaskDefinition.taskDefinitionArn": "arn:aws:ecs:us-east-1:111122223333:task-definition/walk:3",
    "TaskDefinition.revision": 3,
    "TaskDefinition.registeredAt": 1767225600.0,
    "TaskDefinition.deregisteredAt": 1767225600.0,
    "TaskDefinition.deleteRequestedAt": 1767225600.0,
    "ContainerDependency.containerName": "side",
    "VolumeFrom.sourceContainer": "side",
    "MountPoint.sourceVolume": "data",
    "MountPoint.containerPath": "/data",
    "NvidiaMpsAllocation.maxComputePercent": 50,
    "Tmpfs.containerPath": "/run/cache",
    "KeyValuePair.name": "MODE",
    "Secret.name": "TOKEN",
    "Tag.key": "team",
}

#: A member that may not be set beside the structure's default members.
EXCLUDES = {"PortMapping.containerPortRange": ("containerPort",)}


def sample(shape_name: str) -> Any:
    """A valid value of a shape: required members filled, the first enum value."""
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if "enum" in shape:
        return shape["enum"][0]
    if kind == "structure":
        out = dict(STRUCTURE_DEFAULTS.get(shape_name, {}))
        for name in shape.get("required", ()):
            if name not in out:
                out[name] = _leaf(shape_name, name)
        return out
    if kind == "list":
        return [sample(shape["member"]["shape"])]
    if kind == "map":
        return {"key": sample(shape["value"]["shape"])}
    return {
        "string": "x",
        "integer": max(1, shape.get("min", 1)),
        "long": 1,
        "boolean": True,
        "double": 1.5,
        "timestamp": 1767225600.0,
    }[kind]


def _leaf(structure: str, member: str) -> Any:
    key = f"{structure}.{member}"
    if key in LEAVES:
        return copy.deepcopy(LEAVES[key])
    return sample(SHAPES[structure]["members"][member]["shape"])


Step = tuple[str, str]  # (structure shape, member)


def walk(shape_name: str, trail: tuple[Step, ...] = ()) -> Iterator[tuple[Step, ...]]:
    """Every member path below a structure, depth first."""
    shape = SHAPES[shape_name]
    for member, spec in shape["members"].items():
        here = (*trail, (shape_name, member))
        yield here
        target = SHAPES[spec["shape"]]
        while target["type"] == "list":
            target = SHAPES[target["member"]["shape"]]
        if target["type"] == "structure":
            name = next(n for n, s in SHAPES.items() if s is target)
            yield from walk(name, here)


def member_target(step: Step) -> str:
    return str(SHAPES[step[0]]["members"][step[1]]["shape"])


def enum_of(shape_name: str) -> tuple[str, ...]:
    shape = SHAPES[shape_name]
    while shape["type"] == "list":
        shape = SHAPES[shape["member"]["shape"]]
    return tuple(shape.get("enum", ()))


def build(trail: tuple[Step, ...], leaf: Any) -> dict[str, Any]:
    """BASE with the member at ``trail`` set to ``leaf`` (lists get one item; the
    container lists' first item is the one set)."""
    doc = copy.deepcopy(BASE)
    node: Any = doc
    for depth, (structure, member) in enumerate(trail):
        last = depth == len(trail) - 1
        if last:
            node[member] = leaf
            for excluded in EXCLUDES.get(f"{structure}.{member}", ()):
                node.pop(excluded, None)
            break
        target = member_target((structure, member))
        if node.get(member) is None:
            node[member] = sample(target)
        node = node[member]
        while isinstance(node, list):
            node = node[0]
    return doc


def fixups(doc: dict[str, Any]) -> dict[str, Any]:
    """Cross-member ECS rules a single member can trip: satisfy them around it."""
    if "FARGATE" in (doc.get("requiresCompatibilities") or ()):
        doc.setdefault("cpu", "256")
        doc.setdefault("memory", "512")
        doc["networkMode"] = "awsvpc"
    app = doc["containerDefinitions"][0]
    if app.get("mountPoints") and not any(
        v.get("name") == "data" for v in doc.get("volumes") or ()
    ):
        doc.setdefault("volumes", []).append({"name": "data"})
    for dep in app.get("dependsOn") or ():
        if dep.get("condition") == "HEALTHY":
            doc["containerDefinitions"][1]["healthCheck"] = {"command": ["CMD", "true"]}
    if doc.get("networkMode") in ("host", "awsvpc", "none") and "links" in app:
        doc["networkMode"] = "bridge"
    if doc.get("networkMode") == "none":
        app.pop("portMappings", None)
    vol = (doc.get("volumes") or [{}])[0]
    dvc = vol.get("dockerVolumeConfiguration")
    if dvc is not None and dvc.get("autoprovision"):
        dvc["scope"] = "shared"
    if "host" in vol and "dockerVolumeConfiguration" in vol:
        del vol["host"]
    return doc


def request_paths() -> list[tuple[Step, ...]]:
    paths = list(walk("RegisterTaskDefinitionRequest"))
    request = set(SHAPES["RegisterTaskDefinitionRequest"]["members"])
    response_only = [p for p in walk("TaskDefinition") if p[0][1] not in request]
    return paths + response_only


def label(trail: tuple[Step, ...]) -> str:
    return ".".join(member for _, member in trail)


PATHS = request_paths()

#: Members the ECS service requires although botocore's model does not mark them (its
#: rules say so: a container needs a name and an image, a port mapping a port...).
ECS_REQUIRES = {
    "containerDefinitions.name",
    "containerDefinitions.image",
    "containerDefinitions.memory",  # or memoryReservation, or task memory
    "containerDefinitions.portMappings.containerPort",  # or containerPortRange
    "containerDefinitions.portMappings.containerPortRange",
    "containerDefinitions.environment.name",
    "containerDefinitions.mountPoints.sourceVolume",
    "containerDefinitions.mountPoints.containerPath",
    "containerDefinitions.volumesFrom.sourceContainer",
    "volumes.name",
    "placementConstraints.type",
    "placementConstraints.expression",
    "tags.key",
}
ENUM_CASES = [(trail, value) for trail in PATHS for value in enum_of(member_target(trail[-1]))]


def load_quietly(doc: dict[str, Any]) -> TaskDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("error", TaskDefinitionWarning)
        return TaskDefinition.from_dict(doc)


def test_the_committed_model_copy_matches_the_installed_botocore() -> None:
    """``scripts/gen_ecs_model.py --check``: run the script when botocore changes."""
    spec = importlib.util.spec_from_file_location(
        "gen_ecs_model", ROOT / "scripts" / "gen_ecs_model.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_the_walk_covers_the_whole_request() -> None:
    """The walk reaches deep members and new ones (a check on the walk itself)."""
    labels = {label(p) for p in PATHS}
    assert "trustedExecutionConfiguration.isolationMode" in labels
    assert "volumes.s3filesVolumeConfiguration.fileSystemArn" in labels
    assert (
        "containerDefinitions.resourceRequirements.sharingStrategy.nvidiaMps.maxComputePercent"
        in labels
    )
    assert "revision" in labels  # output only, from a pasted describe output
    assert len(PATHS) > 150
    assert len(ENUM_CASES) > 80


@pytest.mark.parametrize("trail", PATHS, ids=[label(p) for p in PATHS])
def test_every_member_loads_and_round_trips(trail: tuple[Step, ...]) -> None:
    structure, member = trail[-1]
    doc = fixups(build(trail, _leaf(structure, member)))
    td = load_quietly(doc)
    assert td.to_dict() == doc
    assert TaskDefinition.from_dict(td.to_dict()) == td


@pytest.mark.parametrize(
    ("trail", "value"),
    ENUM_CASES,
    ids=[f"{label(t)}={v}" for t, v in ENUM_CASES],
)
def test_every_enum_value_loads_and_round_trips(trail: tuple[Step, ...], value: str) -> None:
    target = SHAPES[member_target(trail[-1])]
    leaf: Any = [value] if target["type"] == "list" else value
    doc = fixups(build(trail, leaf))
    td = load_quietly(doc)
    assert td.to_dict() == doc


@pytest.mark.parametrize("trail", PATHS, ids=[label(p) for p in PATHS])
def test_null_is_the_member_left_out(trail: tuple[Step, ...]) -> None:
    """JSON null anywhere is an absent member: it loads, and the round trip omits it."""
    structure, member = trail[-1]
    required = SHAPES[structure].get("required", ())
    if member in required or label(trail) in ECS_REQUIRES:
        pytest.skip("a required member cannot be left out")
    doc = fixups(build(trail, None))
    td = load_quietly(doc)
    expected = copy.deepcopy(doc)
    _drop_nulls(expected)
    assert td.to_dict() == expected


def _drop_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            del value[key]
        for v in value.values():
            _drop_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _drop_nulls(v)
