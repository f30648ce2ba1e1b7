"""Task definitions read from real-looking ECS JSON files, valid and invalid.

``tests/data/valid`` holds definitions as people write them (and one pasted
``describe-task-definition`` output); each must load and be written back unchanged.
``tests/data/invalid`` holds one mistake (or family of mistakes) per file, and
``expected.json`` the exact JSON paths pyecs must report for it, in order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from td_support import request_shape

import pyecs
from pyecs import ContainerDefinition, InvalidTaskDefinitionError, PortMapping, TaskDefinition
from pyecs.ecs._converter import RESPONSE_ONLY_FIELDS

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
VALID = sorted((DATA / "valid").glob("*.json"))
INVALID = sorted(p for p in (DATA / "invalid").glob("*.json") if p.name != "expected.json")
INVALID_PARSEABLE = [p for p in INVALID if p.name != "malformed-json.json"]
EXPECTED: dict[str, list[str]] = json.loads((DATA / "invalid" / "expected.json").read_text())


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


# -- the data set itself -------------------------------------------------------------------


def test_data_set_is_large_enough_and_expected_json_covers_every_invalid_file() -> None:
    assert len(VALID) >= 10
    assert len(INVALID) >= 20
    assert sorted(EXPECTED) == sorted(p.name for p in INVALID)


# -- valid definitions ---------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_loads_and_writes_back_exactly(path: Path) -> None:
    raw = json.loads(path.read_text())
    td = TaskDefinition.from_file(path)
    assert td.to_dict() == request_shape(raw)


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_reloads_from_its_own_output_as_an_equal_model(path: Path) -> None:
    td = TaskDefinition.from_file(path)
    again = TaskDefinition.from_dict(td.to_dict())
    assert again == td
    assert TaskDefinition.from_json(json.dumps(td.to_dict())) == td


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_loads_the_same_through_every_entry_point(path: Path) -> None:
    text = path.read_text()
    td = TaskDefinition.from_file(path)
    assert TaskDefinition.from_json(text) == td
    assert TaskDefinition.from_json(text.encode()) == td
    assert TaskDefinition.from_dict(json.loads(text)) == td
    assert TaskDefinition.from_file(str(path)) == td


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_request_shape_output_has_no_response_only_fields(path: Path) -> None:
    out = TaskDefinition.from_file(path).to_dict(include_response_fields=False)
    assert not RESPONSE_ONLY_FIELDS & set(out)
    TaskDefinition.from_dict(out)


def test_describe_output_keeps_response_fields_and_moves_tags_in() -> None:
    td = TaskDefinition.from_file(DATA / "valid" / "describe-output.json")
    assert td.family == "billing-api"
    assert td.revision == 14
    assert td.status == "ACTIVE"
    assert td.task_definition_arn == (
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/billing-api:14"
    )
    assert td.compatibilities == ["EC2", "FARGATE"]
    assert td.requires_attributes[0] == {
        "name": "com.amazonaws.ecs.capability.logging-driver.awslogs"
    }
    assert td.registered_at == "2024-05-14T09:41:27.312000+02:00"
    assert [(t.key, t.value) for t in td.tags or ()] == [
        ("team", "payments"),
        ("cost-center", "cc-4410"),
    ]
    assert td.ref == "billing-api:14"
    # Empty lists in the describe output are kept, not dropped: they round-trip.
    assert td.container("billing-api").mount_points == ()


def test_boto3_describe_response_metadata_is_ignored() -> None:
    raw = json.loads((DATA / "valid" / "describe-output.json").read_text())
    raw["ResponseMetadata"] = {"RequestId": "5f0d7f3e", "HTTPStatusCode": 200}
    td = TaskDefinition.from_dict(raw)
    assert td == TaskDefinition.from_file(DATA / "valid" / "describe-output.json")


def test_effective_values_of_a_multi_container_definition() -> None:
    td = TaskDefinition.from_file(DATA / "valid" / "web-with-sidecars.json")
    assert td.effective_network_mode == "bridge"
    assert [c.name for c in td.containers if not c.is_essential] == [
        "migrate",
        "fetch-config",
        "log-router",
    ]
    app = td.container("app")
    assert app.reserved_memory == 512  # memoryReservation, not memory
    assert app.health_check is not None
    assert app.health_check.effective_start_period == 30
    nginx = td.container("nginx")
    assert nginx.health_check is not None
    assert nginx.health_check.effective_interval == 30
    assert nginx.health_check.effective_retries == 3
    assert nginx.effective_stop_timeout == 30
    assert [(d.container_name, d.condition) for d in app.depends_on or ()] == [
        ("migrate", "SUCCESS"),
        ("fetch-config", "COMPLETE"),
        ("redis", "HEALTHY"),
    ]
    assert td.static_host_ports() == frozenset({8080})
    assert td.reserved_memory == 256 + 32 + 128 + 512 + 128 + 50


def test_fargate_definition_normalises_task_size() -> None:
    td = TaskDefinition.from_file(DATA / "valid" / "fargate-api.json")
    assert (td.cpu, td.memory) == ("1 vCPU", "2GB")
    assert (td.cpu_units, td.memory_mib) == (1024, 2048)
    assert (td.reserved_cpu, td.reserved_memory) == (1024, 2048)
    assert td.effective_network_mode == "awsvpc"
    assert td.runtime_platform == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
    assert td.static_host_ports() == frozenset({3000})
    assert td.static_host_ports("udp") == frozenset({2000})


def test_host_network_ports_and_udp() -> None:
    td = TaskDefinition.from_file(DATA / "valid" / "host-network.json")
    assert td.static_host_ports("tcp") == frozenset({9100, 9102})
    assert td.static_host_ports("udp") == frozenset({9125})


# -- invalid definitions -------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_file_reports_exactly_the_expected_paths(path: Path) -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(path)
    err = info.value
    assert err.paths == EXPECTED[path.name]
    assert err.problems, "an InvalidTaskDefinitionError always carries its problems"
    assert all(p.message.strip() for p in err.problems)
    assert err.source == str(path)
    text = str(err)
    assert str(path) in text
    for problem in err.problems:
        assert str(problem) in text


@pytest.mark.parametrize("path", INVALID_PARSEABLE, ids=_ids(INVALID_PARSEABLE))
def test_invalid_file_is_invalid_through_from_dict_too(path: Path) -> None:
    data = json.loads(path.read_text())
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(data)
    assert info.value.paths == EXPECTED[path.name]
    assert info.value.source is None


def test_malformed_json_names_file_line_and_column() -> None:
    path = DATA / "invalid" / "malformed-json.json"
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(path)
    (problem,) = info.value.problems
    assert f"{path}:8:5" in problem.message
    assert "line 8, column 5" in problem.message


def test_malformed_json_text_without_a_file_names_the_line() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_json('{"family": "web",\n "containerDefinitions": [}')
    assert "line 2" in info.value.problems[0].message


def test_unknown_field_suggests_the_right_name() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(DATA / "invalid" / "unknown-field.json")
    messages = {p.path: p.message for p in info.value.problems}
    assert (
        "did you mean 'memoryReservation'?" in messages["containerDefinitions[0].memoryReservaton"]
    )
    assert "did you mean 'portMappings'?" in messages["containerDefinitions[0].portMapping"]
    assert "did you mean 'networkMode'?" in messages["networkmode"]
    # A response-only field is never offered as the fix for an input mistake.
    assert "registeredAt" not in messages["restart"]


def test_wrong_type_messages_say_what_was_expected_and_what_was_found() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(DATA / "invalid" / "string-where-list-belongs.json")
    assert info.value.problems[0].message == 'must be a list of strings, not a string ("npm start")'


def test_dependency_cycle_message_shows_the_cycle() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(DATA / "invalid" / "dependency-cycle.json")
    assert "app -> envoy -> config-agent -> app" in info.value.problems[0].message


def test_paths_property_lists_problem_paths_in_order() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_file(DATA / "invalid" / "health-check-ranges.json")
    assert info.value.paths == [p.path for p in info.value.problems]


# -- text that cannot reach a process: NUL, lone surrogates, '=' in variable names --------


def _container(**fields: object) -> dict[str, object]:
    return {
        "family": "text",
        "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32, **fields}],
    }


def _messages(data: object) -> dict[str, str]:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(data)
    return {p.path: p.message for p in info.value.problems}


def test_nul_message_says_what_the_string_would_become() -> None:
    messages = _messages(
        _container(
            command=["echo", "a\x00b"],
            environment=[{"name": "X", "value": "\x00"}],
            workingDirectory="/srv\x00",
            dockerLabels={"team": "web\x00"},
            image="busybox\x00",
        )
    )
    prefix = "containerDefinitions[0]"
    assert messages[f"{prefix}.command[1]"] == (
        "contains a NUL character (\\u0000) at offset 1, which no process argument can hold; "
        "remove it"
    )
    assert "which no environment variable can hold" in messages[f"{prefix}.environment[0].value"]
    assert "which no file path can hold" in messages[f"{prefix}.workingDirectory"]
    assert "which no Docker label can hold" in messages[f"{prefix}.dockerLabels.team"]
    assert "cannot pass on" in messages[f"{prefix}.image"]


def test_lone_surrogate_is_reported_with_its_code_point_and_offset() -> None:
    text = json.dumps(_container(command=["sh", "-c", "abc\ud800"]))
    assert "\\ud800" in text  # JSON text, as a file holds it
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_json(text)
    (problem,) = info.value.problems
    assert problem.path == "containerDefinitions[0].command[2]"
    assert problem.message.startswith(
        "is not valid Unicode (lone surrogate \\ud800 at offset 3); write the character itself"
    )
    str(info.value).encode("utf-8")  # the message itself is printable anywhere


def test_a_json_surrogate_pair_is_one_valid_character() -> None:
    td = TaskDefinition.from_json(
        '{"family": "x", "containerDefinitions": [{"name": "a", '
        '"image": "b", "memory": 8, "command": ["\\ud83d\\ude00"]}]}'
    )
    assert td.containers[0].command == ("\U0001f600",)


def test_python_built_definition_with_a_lone_surrogate_is_invalid() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition(
            family="web",
            container_definitions=[
                ContainerDefinition(name="a", image="x", memory=8, command=("\ud83d\ude00",))
            ],
        )
    assert info.value.paths == ["containerDefinitions[0].command[0]"]
    assert "lone surrogate \\ud83d at offset 0" in info.value.problems[0].message


def test_a_mapping_key_with_nul_or_a_surrogate_is_shown_escaped_in_its_path() -> None:
    messages = _messages(_container(dockerLabels={"a\x00": "x", "\udc80": "y"}))
    assert set(messages) == {
        "containerDefinitions[0].dockerLabels.a\\u0000",
        "containerDefinitions[0].dockerLabels.\\udc80",
    }
    assert all(m.startswith("this key ") for m in messages.values())


def test_a_value_the_text_check_reports_is_not_reported_again_by_a_rule() -> None:
    messages = _messages({**_container(), "family": "web\x00"})
    assert list(messages) == ["family"]
    assert "NUL" in messages["family"]


def test_cloud_only_json_fields_are_checked_for_unicode_but_may_hold_nul() -> None:
    """pyecs never passes runtimePlatform & co. to a process: only JSON must hold them."""
    tec = {"isolationMode": "SHARED", "attestationPolicy": "a\x00"}
    td = TaskDefinition.from_dict({**_container(), "trustedExecutionConfiguration": tec})
    assert td.trusted_execution_configuration == tec
    tec = {"isolationMode": "SHARED", "attestationPolicy": "\ud800"}
    assert list(_messages({**_container(), "trustedExecutionConfiguration": tec})) == [
        "trustedExecutionConfiguration.attestationPolicy"
    ]


@pytest.mark.parametrize("field", ["environment", "secrets"])
def test_environment_variable_names_cannot_hold_equals(field: str) -> None:
    other = "value" if field == "environment" else "valueFrom"
    messages = _messages(_container(**{field: [{"name": "A=B", other: "x"}]}))
    assert messages == {
        f"containerDefinitions[0].{field}[0].name": "environment variable names cannot contain "
        "'=' (got 'A=B'): the variable would be split there; rename it"
    }


# -- task-level cpu and memory -------------------------------------------------------------


def _one_container(**task: object) -> dict[str, object]:
    return {
        "family": "sized",
        "containerDefinitions": [{"name": "app", "image": "busybox"}],
        **task,
    }


@pytest.mark.parametrize(
    ("cpu", "units"),
    [
        (1024, 1024),
        (256, 256),
        ("1024", 1024),
        ("1 vCPU", 1024),
        ("0.5 vCPU", 512),
        ("0.25 vcpu", 256),
        ("2 vCPU", 2048),
        ("4vCPU", 4096),
    ],
)
def test_task_cpu_normalises_to_units(cpu: object, units: int) -> None:
    td = TaskDefinition.from_dict(_one_container(cpu=cpu, memory="512"))
    assert td.cpu_units == units
    assert td.reserved_cpu == units


@pytest.mark.parametrize(
    ("memory", "mib"),
    [
        (512, 512),
        ("512", 512),
        ("2GB", 2048),
        ("2 GB", 2048),
        ("0.5GB", 512),
        ("1 GiB", 1024),
        ("512 MiB", 512),
    ],
)
def test_task_memory_normalises_to_mib(memory: object, mib: int) -> None:
    td = TaskDefinition.from_dict(_one_container(memory=memory))
    assert td.memory_mib == mib
    assert td.reserved_memory == mib


def test_numeric_task_size_is_kept_as_the_ecs_string() -> None:
    td = TaskDefinition.from_dict(_one_container(cpu=1024, memory=512))
    assert (td.cpu, td.memory) == ("1024", "512")
    assert td.to_dict()["cpu"] == "1024"


def test_unset_task_size_is_none() -> None:
    td = TaskDefinition.from_file(DATA / "valid" / "minimal.json")
    assert (td.cpu, td.memory, td.cpu_units, td.memory_mib) == (None, None, None, None)
    assert td.reserved_memory == 16


@pytest.mark.parametrize(
    ("task", "paths"),
    [
        ({"cpu": "two cpus", "memory": "512"}, ["cpu"]),
        ({"cpu": "1024", "memory": "lots"}, ["memory"]),
        ({"cpu": "0.1 vCPU", "memory": "512"}, ["cpu"]),
        ({"cpu": "0", "memory": "512"}, ["cpu"]),
        ({"cpu": "1024", "memory": "4"}, ["memory"]),
        ({"cpu": 1.5, "memory": "512"}, ["cpu"]),
        ({"cpu": True, "memory": "512"}, ["cpu"]),
        ({"cpu": "9" * 400, "memory": "512"}, ["cpu"]),
        ({"cpu": "1024", "memory": 10**400}, ["memory"]),
    ],
)
def test_bad_task_size_is_reported_at_its_path(task: dict[str, object], paths: list[str]) -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(_one_container(**task))
    assert info.value.paths == paths


def test_unparseable_cpu_message_shows_the_accepted_forms() -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        TaskDefinition.from_dict(_one_container(cpu="two cpus", memory="512"))
    assert '"1 vCPU"' in info.value.problems[0].message


# -- examples/ and Python-built definitions ------------------------------------------------


def test_example_task_definition_loads_and_round_trips() -> None:
    path = ROOT / "examples" / "task-definition.json"
    td = TaskDefinition.from_file(path)
    assert td.family == "web-app"
    assert td.to_dict() == json.loads(path.read_text())
    assert TaskDefinition.from_dict(td.to_dict()) == td


def test_python_built_definition_equals_the_json_one() -> None:
    td = TaskDefinition(
        family="web-app",
        container_definitions=[
            ContainerDefinition(
                name="nginx",
                image="nginx:latest",
                memory=256,
                cpu=256,
                essential=True,
                port_mappings=[PortMapping(container_port=80, host_port=80)],
            )
        ],
    )
    assert td == TaskDefinition.from_file(ROOT / "examples" / "task-definition.json")


@pytest.mark.parametrize(
    ("build", "paths"),
    [
        (
            lambda: TaskDefinition(
                family="web app",
                container_definitions=[ContainerDefinition(name="a", image="x", memory=64)],
            ),
            ["family"],
        ),
        (
            lambda: TaskDefinition(
                family="web",
                container_definitions=[
                    ContainerDefinition(name="a", image="x", memory=64, essential=False)
                ],
            ),
            ["containerDefinitions"],
        ),
        (
            lambda: TaskDefinition(
                family="web",
                container_definitions=[
                    ContainerDefinition(
                        name="a",
                        image="x",
                        memory=64,
                        port_mappings=[PortMapping(container_port=70000)],
                    )
                ],
            ),
            ["containerDefinitions[0].portMappings[0].containerPort"],
        ),
        # Wrong Python types are reported like wrong JSON types, never as a TypeError.
        (
            lambda: TaskDefinition(
                family=123,
                container_definitions=[ContainerDefinition(name="a", image="x", memory="64")],
            ),
            ["family", "containerDefinitions[0].memory"],
        ),
        (
            lambda: TaskDefinition(family="web", container_definitions=[{"name": "a"}]),
            ["containerDefinitions[0]"],
        ),
        (
            lambda: TaskDefinition(family="web", container_definitions="nginx"),
            ["containerDefinitions"],
        ),
        (
            lambda: TaskDefinition(
                family="web",
                cpu=[1024],
                container_definitions=[ContainerDefinition(name="a", image="x", memory=64)],
            ),
            ["cpu"],
        ),
        (
            lambda: TaskDefinition(
                family="web",
                runtime_platform={"cpuArchitecture": {"X86_64"}},
                container_definitions=[
                    ContainerDefinition(name="a", image="x", memory=64, command=("sh", 1))
                ],
            ),
            ["containerDefinitions[0].command[1]", "runtimePlatform"],
        ),
    ],
    ids=[
        "bad-family",
        "no-essential",
        "port-range",
        "wrong-scalar-types",
        "dict-for-container",
        "string-for-list",
        "list-task-cpu",
        "non-json-and-bad-item",
    ],
)
def test_python_built_bad_definition_raises_the_same_error(build: Any, paths: list[str]) -> None:
    with pytest.raises(InvalidTaskDefinitionError) as info:
        build()
    assert info.value.paths == paths
    assert isinstance(info.value, pyecs.PyecsError)


def test_python_built_task_cpu_and_memory_may_be_numbers() -> None:
    td = TaskDefinition(
        family="web",
        cpu=1024,
        memory=2048,
        container_definitions=[ContainerDefinition(name="a", image="x")],
    )
    assert (td.cpu, td.memory, td.cpu_units, td.memory_mib) == ("1024", "2048", 1024, 2048)
