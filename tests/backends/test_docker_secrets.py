"""Task-definition ``secrets`` on Docker: values from the Python process's environment.

As in the process backend, each ``secrets[].name`` is read from the environment variable of
the same name and handed to the container's environment; a missing one stops the task with
``CannotCreateContainerError`` saying which variable to set. The value is never printed.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

import pyecs
from pyecs.backends.docker import DockerBackend

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

VARIABLE = "PYECS_TEST_DB_PASSWORD"
VALUE_FROM = "arn:aws:ssm:us-east-1:123456789012:parameter/db"


def checker(image: str, expected: str) -> dict[str, Any]:
    """A task that exits 0 when the secret arrived with the expected value, else 3."""
    return {
        "family": "secret-check",
        "containerDefinitions": [
            {
                "name": "check",
                "image": image,
                "memory": 16,
                "command": ["sh", "-c", f'[ "${VARIABLE}" = "$EXPECTED" ] || exit 3'],
                "environment": [{"name": "EXPECTED", "value": expected}],
                "secrets": [{"name": VARIABLE, "valueFrom": VALUE_FROM}],
            }
        ],
    }


async def test_secret_comes_from_the_python_environment(
    busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv(VARIABLE, value)
    async with pyecs.Cluster(
        f"secrets-{uuid.uuid4().hex[:8]}", backend=DockerBackend(pull="never")
    ) as c:
        await c.register_task_definition(checker(busybox_image, value))
        (task,) = (await c.run_task("secret-check")).tasks
        (stopped,) = await c.wait_tasks_stopped([task.arn], timeout=60)
    assert stopped.stop_code == "EssentialContainerExited"
    assert stopped.container("check").exit_code == 0


async def test_missing_secret_fails_the_task_saying_what_to_set(
    busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    async with pyecs.Cluster(
        f"secrets-{uuid.uuid4().hex[:8]}", backend=DockerBackend(pull="never")
    ) as c:
        await c.register_task_definition(checker(busybox_image, "unused"))
        (task,) = (await c.run_task("secret-check")).tasks
        (stopped,) = await c.wait_tasks_stopped([task.arn], timeout=60)
    assert stopped.stop_code == "TaskFailedToStart"
    reason = str(stopped.stopped_reason)
    assert reason.startswith("CannotCreateContainerError: ")
    assert f"set {VARIABLE} there" in reason
    assert VALUE_FROM in reason  # which secret: its name and valueFrom, never a value
    assert stopped.container("check").runtime_id is None  # nothing was created


async def test_secret_value_is_never_logged(
    busybox_image: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    value = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv(VARIABLE, value)
    caplog.set_level(logging.DEBUG)
    async with pyecs.Cluster(
        f"secrets-{uuid.uuid4().hex[:8]}", backend=DockerBackend(pull="never")
    ) as c:
        await c.register_task_definition(checker(busybox_image, "something else"))
        (task,) = (await c.run_task("secret-check")).tasks
        (stopped,) = await c.wait_tasks_stopped([task.arn], timeout=60)
    assert stopped.container("check").exit_code == 3  # the secret is not what was expected
    assert value not in caplog.text
    assert value not in repr(stopped)
