"""Helpers of the server tests: a boto3 client whose every response is checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from ecs.test_shapes import output_problems

from pyecs.testing import EcsEndpoint, serve_in_thread

WEB = {
    "family": "web-app",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "pyecs-examples/busybox:latest",
            "memory": 64,
            "cpu": 128,
            "essential": True,
            "command": ["sleep", "3600"],
            "portMappings": [{"containerPort": 80, "hostPort": 0}],
        }
    ],
}


class CheckedClient:
    """A boto3 ECS client; every JSON response is walked against botocore's output shape."""

    def __init__(self, endpoint: EcsEndpoint, region: str = "us-east-1", **kwargs: Any) -> None:
        self.problems: list[str] = []
        self.seen: set[str] = set()
        self.client = boto3.client(
            "ecs",
            endpoint_url=endpoint.url,
            region_name=region,
            aws_access_key_id=kwargs.pop("key", "AKIDEXAMPLE"),
            aws_secret_access_key=kwargs.pop("secret", "secret"),
            **kwargs,
        )
        self.client.meta.events.register("before-parse.ecs.*", self._check)
        self.exceptions = self.client.exceptions

    def _check(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict["status_code"] != 200:
            return
        body = json.loads(response_dict["body"] or b"{}")
        self.seen.add(operation_model.name)
        for problem in output_problems(operation_model.name, body):
            self.problems.append(f"{operation_model.name}: {problem}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def endpoint() -> Iterator[EcsEndpoint]:
    """A server on the simulated backend (fast, deterministic capacity)."""
    with serve_in_thread(backend="simulated", task_healthy_delay=0.05) as ep:
        yield ep


@pytest.fixture
def ecs(endpoint: EcsEndpoint) -> Iterator[CheckedClient]:
    """A checked boto3 client; the test fails when any response broke its shape."""
    client = CheckedClient(endpoint)
    yield client
    assert client.problems == []
