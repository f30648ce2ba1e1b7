"""What ECS itself accepts and refuses in a task definition, where pyecs used to differ.

Each rule names the ECS documentation it follows.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import anyio
import botocore.session
import botocore.validate
import pytest

import pyecs
from pyecs import InvalidTaskDefinitionError, TaskDefinition, TaskDefinitionWarning
from pyecs.backends import ProcessBackend
from pyecs.ecs import cli_problems, task_definition_warnings

ECS_MODEL = botocore.session.get_session().get_service_model("ecs")


def td(**task: Any) -> dict[str, Any]:
    containers = task.pop("containers", None) or [
        {"name": "app", "image": "busybox", "memory": 128}
    ]
    return {"family": "fidelity", "containerDefinitions": containers, **task}


def fargate(cpu: str, memory: str, **task: Any) -> dict[str, Any]:
    return td(
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu=cpu,
        memory=memory,
        containers=[{"name": "app", "image": "busybox"}],
        **task,
    )


def paths(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(doc)
    assert all(p.message for p in info.value.problems)
    return info.value.paths


# -- 1. null is an absent member -------------------------------------------------------------


def test_null_members_of_a_console_export_are_unset_at_every_level() -> None:
    """The old console exported every unset member as null; ECS reads them as absent."""
    doc = td(
        networkMode=None,
        proxyConfiguration=None,
        runtimePlatform={"cpuArchitecture": None, "operatingSystemFamily": "LINUX"},
        inferenceAccelerators=None,
        volumes=[{"name": "data", "host": {"sourcePath": None}, "efsVolumeConfiguration": None}],
        containers=[
            {
                "name": "app",
                "image": "busybox",
                "memory": 128,
                "portMappings": [{"containerPort": 80, "hostPort": None, "protocol": None}],
                "healthCheck": None,
                "linuxParameters": {"capabilities": None, "initProcessEnabled": True},
                "firelensConfiguration": None,
                "dockerLabels": {"team": "web", "owner": None},
                "environment": [{"name": "A", "value": None}],
            }
        ],
    )
    loaded = TaskDefinition.from_dict(doc)
    assert loaded.network_mode is None
    assert loaded.runtime_platform == {"operatingSystemFamily": "LINUX"}
    out = loaded.to_dict()
    assert "null" not in json.dumps(out)
    assert out["volumes"] == [{"name": "data", "host": {}}]
    assert out["containerDefinitions"][0]["dockerLabels"] == {"team": "web"}
    assert out["containerDefinitions"][0]["portMappings"] == [{"containerPort": 80}]


def test_null_inside_a_plain_json_member_built_in_python_is_dropped_too() -> None:
    built = TaskDefinition(
        family="py",
        container_definitions=[pyecs.ContainerDefinition(name="a", image="b", memory=64)],
        runtime_platform={"cpuArchitecture": "ARM64", "operatingSystemFamily": None},
    )
    assert built.runtime_platform == {"cpuArchitecture": "ARM64"}


def test_a_null_list_item_is_not_an_absent_member() -> None:
    assert paths(td(containers=[{"name": "a", "image": "b", "memory": 64, "command": [None]}])) == [
        "containerDefinitions[0].command[0]"
    ]


# -- 2. health checks of another kind ----------------------------------------------------------


def _otel(command: list[str]) -> dict[str, Any]:
    return td(
        containers=[
            {
                "name": "collector",
                "image": "busybox",
                "memory": 128,
                "command": ["sleep", "600"],
                "healthCheck": {"command": command, "interval": 5, "timeout": 2},
            }
        ]
    )


def test_a_health_check_of_another_kind_loads_with_a_warning_naming_its_path() -> None:
    """AWS's OpenTelemetry collector templates use ["/healthcheck"]; ECS registers it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = TaskDefinition.from_dict(_otel(["/healthcheck"]))
    found = [w for w in caught if issubclass(w.category, TaskDefinitionWarning)]
    assert len(found) == 1
    assert str(found[0].message).startswith("containerDefinitions[0].healthCheck.command: ")
    assert found[0].filename == __file__  # the warning points at the caller's line
    assert not loaded.containers[0].has_health_probe
    assert [w.path for w in task_definition_warnings(loaded)] == [
        "containerDefinitions[0].healthCheck.command"
    ]


def test_the_warning_clips_a_long_command_it_quotes() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TaskDefinition.from_dict(_otel(["x" * 50_000]))  # (the JSON may be 64 KiB)
    (found,) = [w for w in caught if issubclass(w.category, TaskDefinitionWarning)]
    message = str(found.message)
    assert "starts with 'xxxxxxxx" in message and "...," in message
    assert len(message) < 500


def test_registering_a_definition_does_not_warn_twice() -> None:
    async def main() -> None:
        async with pyecs.Cluster("warn-once") as cluster:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await cluster.register_task_definition(_otel(["powershell", "-Command", "x"]))
            assert len([w for w in caught if w.category is TaskDefinitionWarning]) == 1

    anyio.run(main)


def test_cmd_or_cmd_shell_alone_is_still_refused() -> None:
    assert paths(_otel(["CMD-SHELL"])) == ["containerDefinitions[0].healthCheck.command"]


async def _service_health(command: list[str]) -> tuple[str, bool]:
    async with pyecs.Cluster(
        "otel", backend=ProcessBackend(health_check_time_scale=0.1), task_healthy_delay=0.2
    ) as cluster:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TaskDefinitionWarning)
            await cluster.register_task_definition(_otel(command))
        svc = await cluster.create_service("collector", task_definition="fidelity", desired_count=1)
        await svc.wait_stable(timeout=20)
        await anyio.sleep(1.5)  # several check intervals (0.5 s at this time scale)
        container = svc.tasks[0].containers[0]
        return container.health_status, container.has_health_check


@pytest.mark.anyio
async def test_a_health_check_of_another_kind_runs_no_probe_as_in_docker() -> None:
    """Docker runs no probe for an unknown kind ("Unknown healthcheck type"): the
    container's health stays UNKNOWN and the service reaches a steady state as without a
    check. The same service with ["CMD", "true"] becomes HEALTHY (the control)."""
    assert await _service_health(["/healthcheck"]) == ("UNKNOWN", False)
    assert await _service_health(["CMD", "true"]) == ("HEALTHY", True)


# -- 3. fractional units ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory", "units", "mib"),
    [
        (".25 vCPU", ".5 GB", 256, 512),  # the ECS Exec example of the developer guide
        ("0.25 vcpu", "0.5 GB", 256, 512),
        (".5 vCPU", "1 GB", 512, 1024),
        ("1 vCPU", "2GB", 1024, 2048),
    ],
)
def test_fractional_task_sizes_load(cpu: str, memory: str, units: int, mib: int) -> None:
    loaded = TaskDefinition.from_dict(fargate(cpu, memory))
    assert (loaded.cpu_units, loaded.memory_mib) == (units, mib)
    assert loaded.to_dict()["cpu"] == cpu


def test_an_unreadable_size_suggests_the_fractional_form() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(td(cpu="a quarter"))
    assert '".25 vCPU"' in info.value.problems[0].message


# -- 4/5. members kept as JSON are typed by botocore's model -------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"runtimePlatform": "oops"}, "runtimePlatform"),
        ({"ephemeralStorage": "big"}, "ephemeralStorage"),
        ({"ephemeralStorage": {"sizeInGiB": "21"}}, "ephemeralStorage.sizeInGiB"),
        ({"runtimePlatform": {"cpuArchitecture": "ARM"}}, "runtimePlatform.cpuArchitecture"),
        ({"proxyConfiguration": {"type": "APPMESH"}}, "proxyConfiguration.containerName"),
        ({"trustedExecutionConfiguration": {}}, "trustedExecutionConfiguration.isolationMode"),
        (
            {
                "volumes": [
                    {"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "x": 1}}
                ]
            },
            "volumes[0].efsVolumeConfiguration.x",
        ),
        (
            {"volumes": [{"name": "v", "s3filesVolumeConfiguration": {"rootDirectory": "/"}}]},
            "volumes[0].s3filesVolumeConfiguration.fileSystemArn",
        ),
    ],
)
def test_task_members_kept_as_json_are_checked(change: dict[str, Any], expected: str) -> None:
    assert paths(td(**change)) == [expected]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"firelensConfiguration": {"type": "NOT_AN_ENUM_VALUE"}}, "firelensConfiguration.type"),
        ({"versionConsistency": "on"}, "versionConsistency"),
        ({"systemControls": [{"namespace": 1}]}, "systemControls[0].namespace"),
        ({"resourceRequirements": [{"value": "1"}]}, "resourceRequirements[0].type"),
        ({"repositoryCredentials": {}}, "repositoryCredentials.credentialsParameter"),
        ({"credentialSpecs": "x"}, "credentialSpecs"),
        ({"logConfiguration": {"logDriver": "local"}}, "logConfiguration.logDriver"),
        ({"logConfiguration": {"logDriver": "none"}}, "logConfiguration.logDriver"),
        (
            {"linuxParameters": {"devices": [{"hostPath": "/dev/x", "permissions": ["all"]}]}},
            "linuxParameters.devices[0].permissions[0]",
        ),
    ],
)
def test_container_members_kept_as_json_are_checked(change: dict[str, Any], expected: str) -> None:
    container = {"name": "app", "image": "busybox", "memory": 128, **change}
    assert paths(td(containers=[container])) == [f"containerDefinitions[0].{expected}"]


def test_an_enum_mistake_gets_a_close_match() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(td(runtimePlatform={"cpuArchitecture": "arm64"}))
    assert "did you mean 'ARM64'?" in info.value.problems[0].message


def test_python_built_json_members_are_checked_too() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition(
            family="py",
            container_definitions=[pyecs.ContainerDefinition(name="a", image="b", memory=64)],
            ephemeral_storage={"sizeInGiB": "lots"},
        )
    assert info.value.paths == ["ephemeralStorage.sizeInGiB"]


# -- 6. rules ECS enforces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [
        ("256", "512"),
        ("256", "2048"),
        ("512", "4096"),
        ("4096", "30720"),
        ("8192", "61440"),
        ("16384", "122880"),
        ("2 vCPU", "16 GB"),
    ],
)
def test_fargate_task_sizes_of_the_table_load(cpu: str, memory: str) -> None:
    """ "Task CPU and memory" table (developer guide; troubleshooting page
    task-cpu-memory-error.html)."""
    TaskDefinition.from_dict(fargate(cpu, memory))


@pytest.mark.parametrize(
    ("cpu", "memory", "path", "words"),
    [
        ("384", "1024", "cpu", "Invalid 'cpu' setting for task"),
        ("256", "4096", "memory", "Invalid 'memory' setting for task"),
        ("8192", "18432", "memory", "16384 to 61440 in steps of 4096"),
        ("1024", "1536", "memory", "2048 to 8192 in steps of 1024"),
    ],
)
def test_fargate_refuses_other_sizes_with_ecs_words(
    cpu: str, memory: str, path: str, words: str
) -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(fargate(cpu, memory))
    assert info.value.paths == [path]
    assert words in info.value.problems[0].message


def test_ec2_has_no_fargate_size_rule() -> None:
    TaskDefinition.from_dict(td(cpu="384", memory="1000"))


def test_fargate_bind_mounts_have_no_source_path() -> None:
    """Developer guide, "Bind mounts": sourcePath is not supported on Fargate."""
    ok = fargate("256", "512", volumes=[{"name": "scratch", "host": {}}])
    TaskDefinition.from_dict(ok)
    bad = fargate("256", "512", volumes=[{"name": "scratch", "host": {"sourcePath": "/srv"}}])
    assert paths(bad) == ["volumes[0].host.sourcePath"]


def test_the_containers_memory_fits_in_the_task_memory() -> None:
    """ContainerDefinition memory / memoryReservation (ECS API reference): the containers'
    memory may not add up to more than the task's."""
    two = [
        {"name": "a", "image": "busybox", "memory": 300},
        {"name": "b", "image": "busybox", "memoryReservation": 300},
    ]
    assert paths(td(memory="512", containers=two)) == ["memory"]
    TaskDefinition.from_dict(td(memory="600", containers=two))


# -- 7. messages -----------------------------------------------------------------------------


def test_depends_on_message_on_a_skeleton_names_no_empty_list() -> None:
    skeleton = td(
        containers=[
            {"name": "", "image": "busybox", "memory": 64, "dependsOn": [{"containerName": ""}]}
        ]
    )
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(skeleton)
    text = str(info.value)
    assert "()" not in text
    assert "it has none yet" in text


def test_environment_files_message_says_what_ecs_expects() -> None:
    container = {
        "name": "app",
        "image": "busybox",
        "memory": 64,
        "environmentFiles": [{"value": "", "type": "s3"}],
    }
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(td(containers=[container]))
    message = info.value.problems[0].message
    assert "S3 object" in message and "local path" in message


# -- --strict-cli: the aws CLI's own checks ------------------------------------------------


def _botocore_refuses(doc: object) -> bool:
    shape = ECS_MODEL.operation_model("RegisterTaskDefinition").input_shape
    report = botocore.validate.ParamValidator().validate(doc, shape)
    return bool(report.has_errors())


STRICT_CASES: list[tuple[str, Any]] = [
    ("plain", td()),
    ("null member", td(networkMode=None)),
    ("null deep", td(containers=[{"name": "a", "image": "b", "memory": 64, "healthCheck": None}])),
    ("number cpu", td(cpu=256, memory="512")),
    ("describe members", {**td(), "revision": 3, "status": "ACTIVE"}),
    ("describe wrapper", {"taskDefinition": td()}),
    ("string memory", td(containers=[{"name": "a", "image": "b", "memory": "64"}])),
    ("missing family", {"containerDefinitions": td()["containerDefinitions"]}),
    ("empty tag key", td(tags=[{"key": "", "value": "v"}])),
    ("fractional", fargate(".25 vCPU", ".5 GB")),
]


@pytest.mark.parametrize(("name", "doc"), STRICT_CASES, ids=[c[0] for c in STRICT_CASES])
def test_strict_cli_refuses_exactly_what_botocore_refuses(name: str, doc: Any) -> None:
    """A differential test against botocore's own parameter validation."""
    assert bool(cli_problems(copy.deepcopy(doc))) == _botocore_refuses(copy.deepcopy(doc)), name


def test_validate_command_prints_warnings_and_strict_cli_problems(tmp_path: Path) -> None:
    otel = tmp_path / "otel.json"
    otel.write_text(json.dumps(_otel(["/healthcheck"])))
    nulls = tmp_path / "nulls.json"
    nulls.write_text(json.dumps(td(networkMode=None)))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pyecs.cli", "validate", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    done = run(str(otel), str(nulls))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: containerDefinitions[0].healthCheck.command: starts with" in done.stdout
    strict = run("--strict-cli", "--json", str(nulls))
    assert strict.returncode == 1
    report = json.loads(strict.stdout)
    assert [p["path"] for p in report[0]["problems"]] == ["networkMode"]
    assert "aws CLI" in report[0]["problems"][0]["message"]
