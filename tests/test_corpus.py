"""A corpus of real-world ECS task definitions, each checked against its expected outcome.

``tests/data/corpus`` holds task definitions the way people write them: Fargate, EC2,
EXTERNAL and Managed Instances, Linux and Windows, FireLens, App Mesh, EFS and S3 Files
volumes, secrets, pasted ``describe-task-definition`` output, old console exports full of
``null``... ``expected.json`` gives, for every file, its outcome (``valid`` or ``invalid``),
the JSON paths of the warnings a valid file raises or of the problems an invalid one
reports (in order), and ``why``: the ECS documentation the rule or the example comes from.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from td_support import request_shape

import pyecs
from pyecs import InvalidTaskDefinitionError, TaskDefinition

CORPUS = Path(__file__).parent / "data" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(p for p in CORPUS.glob("*.json") if p.name != "expected.json")
VALID = [p for p in FILES if EXPECTED.get(p.name, {}).get("outcome") == "valid"]
INVALID = [p for p in FILES if EXPECTED.get(p.name, {}).get("outcome") == "invalid"]

#: A few representative files for the command line (a subprocess each, so not all).
CLI_SAMPLES = [
    "ec2-bridge-links.json",
    "console-export-nulls-ec2.json",
    "fargate-otel-collector.json",
    "fargate-memory-not-for-cpu.json",
    "log-driver-local.json",
]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _raw(path: Path) -> Any:
    return json.loads(path.read_text())


def _without_nulls(value: Any) -> Any:
    """``value`` with every null-valued key removed, at every level (null means unset)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _definition(path: Path) -> dict[str, Any]:
    """What ``to_dict()`` must give for a valid file."""
    result: dict[str, Any] = _without_nulls(request_shape(_raw(path)))
    return result


def _warning_path(message: Warning | str) -> str:
    """The JSON path a task-definition warning starts with (the text before ``": "``)."""
    return str(message).split(": ", 1)[0]


def _load_quietly(load: Any) -> TaskDefinition:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        td: TaskDefinition = load()
    return td


# -- the corpus itself ---------------------------------------------------------------------


def test_every_file_has_an_expected_outcome_and_every_outcome_a_file() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in FILES)


def test_corpus_is_large_enough_and_has_both_outcomes() -> None:
    assert len(FILES) >= 30
    assert len(VALID) >= 20
    assert len(INVALID) >= 12
    assert len(VALID) + len(INVALID) == len(FILES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_entry_is_well_formed(name: str) -> None:
    entry = EXPECTED[name]
    assert entry["outcome"] in ("valid", "invalid")
    assert "https://" in entry["why"], "cite the documentation the rule or example comes from"
    if entry["outcome"] == "invalid":
        assert entry["paths"], "an invalid file names the paths of its problems"
        assert "warnings" not in entry
    else:
        assert "paths" not in entry
        assert isinstance(entry.get("warnings", []), list)


def test_valid_files_cover_every_launch_type_platform_and_network_mode() -> None:
    compatibilities: set[str] = set()
    network_modes: set[str] = set()
    os_families: set[str] = set()
    for path in VALID:
        td = _definition(path)
        compatibilities.update(td.get("requiresCompatibilities", []))
        network_modes.add(td.get("networkMode", "(default)"))
        os_families.add(td.get("runtimePlatform", {}).get("operatingSystemFamily", "LINUX"))
    assert {"FARGATE", "EC2", "EXTERNAL"} <= compatibilities
    assert {"awsvpc", "bridge", "host", "none"} <= network_modes
    assert any(family.startswith("WINDOWS_SERVER_") for family in os_families)


def test_valid_files_include_pasted_describe_output_and_a_null_filled_export() -> None:
    raws = [_raw(p) for p in VALID]
    assert any("taskDefinition" in raw and "tags" in raw for raw in raws)
    assert any("taskDefinitionArn" in raw and "revision" in raw for raw in raws)
    assert any(_without_nulls(raw) != raw for raw in raws)


# -- valid definitions ---------------------------------------------------------------------


def test_task_definition_warning_is_a_public_user_warning() -> None:
    assert issubclass(pyecs.TaskDefinitionWarning, UserWarning)


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_loads_with_exactly_the_expected_warnings(path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TaskDefinition.from_file(path)
    paths = [
        _warning_path(w.message)
        for w in caught
        if issubclass(w.category, pyecs.TaskDefinitionWarning)
    ]
    assert paths == EXPECTED[path.name].get("warnings", [])


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_writes_back_without_its_nulls(path: Path) -> None:
    td = _load_quietly(lambda: TaskDefinition.from_file(path))
    assert td.to_dict() == _definition(path)


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_file_reloads_from_its_own_output_as_an_equal_model(path: Path) -> None:
    td = _load_quietly(lambda: TaskDefinition.from_file(path))
    again = _load_quietly(lambda: TaskDefinition.from_dict(td.to_dict()))
    assert again == td


# -- invalid definitions -------------------------------------------------------------------


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_file_reports_exactly_the_expected_paths(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidTaskDefinitionError) as info:
            TaskDefinition.from_file(path)
    problems = info.value.problems
    assert [p.path for p in problems] == EXPECTED[path.name]["paths"]
    assert all(p.message.strip() for p in problems)


# -- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize("name", CLI_SAMPLES)
def test_pyecs_validate_exit_status_follows_the_expected_outcome(name: str) -> None:
    path = CORPUS / name
    proc = subprocess.run(
        [sys.executable, "-m", "pyecs.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    if EXPECTED[name]["outcome"] == "valid":
        assert proc.returncode == 0, output
    else:
        assert proc.returncode != 0, output
        for problem_path in EXPECTED[name]["paths"]:
            assert problem_path in output
