"""What every backend shares: the environment rules and the label vocabulary.

The contract suite checks that a container sees the same environment on every backend;
these tests pin the rules themselves, without running anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyecs.abc import ContainerStartError
from pyecs.backends._shared import (
    LABEL_CLUSTER,
    LABEL_OWNER,
    LABEL_SERVICE,
    LABEL_TASK,
    parse_env_file,
    read_secrets,
    resolve_environment,
)
from pyecs.models.task_definition import ContainerDefinition, TaskDefinition

pytestmark = pytest.mark.anyio


def container(**fields: Any) -> ContainerDefinition:
    td = TaskDefinition.from_dict(
        {
            "family": "f",
            "containerDefinitions": [{"name": "app", "image": "x", "memory": 16, **fields}],
        }
    )
    return td.containers[0]


def test_lines_are_variable_equals_value_taken_literally() -> None:
    text = (
        "# comment\n  # indented comment\n\n  \n"
        "A=1\nB = spaced name\nC=x=y\nD=\"quoted\"\nE='single'\nF= lead and trail \n"
        "G=value # kept\nBARE\nEMPTY=\nA=later line wins\r\n"
    )
    assert parse_env_file(text.encode()) == {
        "A": "later line wins",
        "B": " spaced name",
        "C": "x=y",
        "D": '"quoted"',
        "E": "'single'",
        "F": " lead and trail ",
        "G": "value # kept",
    }


def test_a_line_without_a_name_is_an_error_naming_the_line() -> None:
    with pytest.raises(ValueError, match=r"line 2 has no variable name before '='"):
        parse_env_file(b"A=1\n=value\n")


async def test_environment_over_secrets_over_the_first_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.env").write_text("X=a\nY=a\nZ=a\n")
    (tmp_path / "b c.env").write_text("X=b\nW=b\n")
    monkeypatch.setenv("Y", "secret")
    monkeypatch.chdir(tmp_path)
    c = container(
        environmentFiles=[
            {"value": "a.env", "type": "s3"},
            {"value": (tmp_path / "b c.env").as_uri(), "type": "s3"},
        ],
        secrets=[{"name": "Y", "valueFrom": "arn:aws:ssm:::parameter/y"}],
        environment=[{"name": "Z", "value": "explicit"}],
    )
    assert await resolve_environment(c) == {"X": "a", "Y": "secret", "Z": "explicit", "W": "b"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("arn:aws:s3:::bucket/app.env", "is an S3 object, which pyecs cannot fetch"),
        ("s3://bucket/app.env", "is not a local file"),
        ("https://example.com/app.env", "is not a local file"),
    ],
)
async def test_an_environment_file_that_is_not_local_says_so(value: str, says: str) -> None:
    c = container(environmentFiles=[{"value": value, "type": "s3"}])
    with pytest.raises(ContainerStartError) as info:
        await resolve_environment(c)
    assert info.value.code == "CannotCreateContainerError"
    assert str(info.value).startswith(
        f"CannotCreateContainerError: container 'app': environmentFiles[0] {value!r} {says}"
    )
    assert "file:// URL" in str(info.value)


def test_a_missing_secret_names_the_variable_to_set_and_never_a_value() -> None:
    c = container(secrets=[{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:::parameter/db"}])
    with pytest.raises(ContainerStartError, match="set DB_PASSWORD there"):
        read_secrets(c, environ={})
    assert read_secrets(c, environ={"DB_PASSWORD": "s3cret"}) == {"DB_PASSWORD": "s3cret"}


def test_the_label_vocabulary() -> None:
    """The names on every resource; ``pyecs gc`` and docs/docker-backend.md rely on them."""
    assert (LABEL_CLUSTER, LABEL_OWNER, LABEL_TASK, LABEL_SERVICE) == (
        "pyecs.cluster",
        "pyecs.owner",
        "pyecs.task-arn",
        "pyecs.service",
    )
