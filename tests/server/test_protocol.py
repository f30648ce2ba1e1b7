"""The JSON 1.1 protocol: errors botocore maps to its classes, regions, SigV4, limits."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from server_support import WEB, CheckedClient

from pyecs.testing import EcsEndpoint, serve_in_thread

TARGET = "AmazonEC2ContainerServiceV20141113."
SMALL = {
    "family": "small",
    "containerDefinitions": [{"name": "c", "image": "i", "memory": 8, "cpu": 1}],
}


def _post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {"X-Amz-Target": TARGET + "ListClusters"}, 400, "SerializationException"),
        (b"[1]", {"X-Amz-Target": TARGET + "ListClusters"}, 400, "SerializationException"),
        (b"{}", {"X-Amz-Target": TARGET + "Dance"}, 404, "UnknownOperationException"),
        (b"{}", {}, 404, "UnknownOperationException"),
        (
            b"{}",
            {"X-Amz-Target": TARGET + "ListClusters", "Content-Type": "application/json"},
            404,
            "UnknownOperationException",
        ),
        (b'{"clusters": "x"}', {"X-Amz-Target": TARGET + "DescribeClusters"}, 400,
         "InvalidParameterException"),
    ],
)  # fmt: skip
def test_protocol_errors_have_the_aws_kinds(
    endpoint: EcsEndpoint, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    headers = {"Content-Type": "application/x-amz-json-1.1", **headers}
    got_status, got = _post(endpoint.url, body, **headers)
    assert (got_status, got["__type"]) == (status, code)
    assert got["message"]


def test_a_body_over_the_limit_is_refused(endpoint: EcsEndpoint) -> None:
    status, body = _post(
        endpoint.url,
        b'{"clusterName": "' + b"x" * 2_000_000 + b'"}',
        **{"X-Amz-Target": TARGET + "CreateCluster", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert status == 413 and body["__type"] == "RequestEntityTooLargeException"


def test_error_classes_for_unknown_cluster_service_revision_and_bad_parameters(
    ecs: CheckedClient,
) -> None:
    with pytest.raises(ecs.exceptions.ClusterNotFoundException):
        ecs.list_services(cluster="nope")
    ecs.create_cluster(clusterName="production")
    ecs.register_task_definition(**WEB)
    with pytest.raises(ecs.exceptions.ServiceNotFoundException):
        ecs.update_service(cluster="production", service="nope", desiredCount=1)
    with pytest.raises(ecs.exceptions.ClientException, match="Unable to describe task definition"):
        ecs.describe_task_definition(taskDefinition="web-app:9")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="web-app:9"):
        ecs.create_service(
            cluster="production", serviceName="s", taskDefinition="web-app:9", desiredCount=1
        )
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="count"):
        ecs.run_task(cluster="production", taskDefinition="web-app", count=11)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="maximumPercent"):
        ecs.create_service(
            cluster="production",
            serviceName="s",
            taskDefinition="web-app",
            desiredCount=1,
            deploymentConfiguration={"maximumPercent": 50},
        )
    with pytest.raises(ecs.exceptions.ClientException, match="containerDefinitions"):
        ecs.register_task_definition(family="x", containerDefinitions=[])
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="not found"):
        ecs.stop_task(cluster="production", task="0" * 32)
    ecs.create_service(
        cluster="production", serviceName="s", taskDefinition="web-app", desiredCount=1
    )
    with pytest.raises(ecs.exceptions.ClusterContainsServicesException):
        ecs.delete_cluster(cluster="production")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="nextToken"):
        ecs.list_tasks(cluster="production", nextToken="garbage")


def test_two_regions_on_one_endpoint_are_two_partitions(endpoint: EcsEndpoint) -> None:
    east = CheckedClient(endpoint, region="us-east-1")
    west = CheckedClient(endpoint, region="eu-west-1")
    a = east.create_cluster(clusterName="production")["cluster"]["clusterArn"]
    b = west.create_cluster(clusterName="production")["cluster"]["clusterArn"]
    assert a == "arn:aws:ecs:us-east-1:000000000000:cluster/production"
    assert b == "arn:aws:ecs:eu-west-1:000000000000:cluster/production"
    td = west.register_task_definition(**WEB)["taskDefinition"]["taskDefinitionArn"]
    assert td.startswith("arn:aws:ecs:eu-west-1:")
    assert east.list_task_definitions()["taskDefinitionArns"] == []
    east.delete_cluster(cluster="production")
    assert west.list_clusters()["clusterArns"] == [b]
    assert east.problems == west.problems == []


def test_every_paginator_walks_every_page(ecs: CheckedClient) -> None:
    ecs.create_cluster(clusterName="production")
    for name in ("a", "b", "c"):
        ecs.create_cluster(clusterName=name)
    small = ecs.register_task_definition(**SMALL)["taskDefinition"]["family"]
    for _ in range(2):
        ecs.register_task_definition(**WEB)
    for i in range(3):
        ecs.create_service(cluster="production", serviceName=f"s{i}", taskDefinition=small,
                           desiredCount=1)  # fmt: skip
    ecs.run_task(cluster="production", taskDefinition=small, count=5)
    instance = ecs.list_container_instances(cluster="production")["containerInstanceArns"][0]
    ecs.put_attributes(cluster="production", attributes=[
        {"name": f"n{i}", "value": "v", "targetId": instance} for i in range(3)
    ])  # fmt: skip
    cases = {
        "list_clusters": ({}, "clusterArns", 4),
        "list_task_definitions": ({}, "taskDefinitionArns", 3),
        "list_task_definition_families": ({}, "families", 2),
        "list_services": ({"cluster": "production"}, "serviceArns", 3),
        "list_tasks": ({"cluster": "production"}, "taskArns", 8),
        "list_container_instances": ({"cluster": "production"}, "containerInstanceArns", 1),
        "list_attributes": (
            {"cluster": "production", "targetType": "container-instance", "attributeName": None},
            "attributes",
            None,
        ),
        "list_account_settings": ({"effectiveSettings": True}, "settings", 11),
    }
    for operation, (args, key, count) in cases.items():
        args = {k: v for k, v in args.items() if v is not None}
        pages = list(
            ecs.get_paginator(operation).paginate(**args, PaginationConfig={"PageSize": 2})
        )
        items = [item for p in pages for item in p[key]]
        if count is not None:
            assert len(items) == count, operation
        assert len(items) == len({json.dumps(i, sort_keys=True) for i in items}), operation
        assert all(len(p[key]) <= 2 for p in pages), operation


def test_fifty_concurrent_clients_lose_and_duplicate_nothing(endpoint: EcsEndpoint) -> None:
    setup = CheckedClient(endpoint)
    setup.create_cluster(clusterName="busy")
    setup.register_task_definition(**SMALL)

    def run(_: int) -> list[str]:
        client = CheckedClient(endpoint)
        result = client.run_task(cluster="busy", taskDefinition="small", count=2)
        assert result["failures"] == [] and client.problems == []
        described = client.describe_tasks(
            cluster="busy", tasks=[t["taskArn"] for t in result["tasks"]]
        )
        assert described["failures"] == []
        return [t["taskArn"] for t in result["tasks"]]

    with ThreadPoolExecutor(50) as pool:
        arns = [a for chunk in pool.map(run, range(50)) for a in chunk]
    assert len(arns) == len(set(arns)) == 100
    listed = [
        a for p in setup.get_paginator("list_tasks").paginate(cluster="busy") for a in p["taskArns"]
    ]
    assert sorted(listed) == sorted(arns)


def test_sigv4_is_checked_when_credentials_are_configured() -> None:
    with serve_in_thread(backend=None, credentials={"AKIDGOOD": "right-secret"}) as endpoint:
        good = CheckedClient(endpoint, key="AKIDGOOD", secret="right-secret")
        assert good.list_clusters()["clusterArns"] == []
        wrong = CheckedClient(endpoint, key="AKIDGOOD", secret="wrong-secret")
        with pytest.raises(wrong.exceptions.ClientError, match="InvalidSignatureException"):
            wrong.list_clusters()
        unknown = CheckedClient(endpoint, key="AKIDOTHER", secret="right-secret")
        with pytest.raises(unknown.exceptions.ClientError, match="UnrecognizedClient"):
            unknown.list_clusters()
        status, body = _post(
            endpoint.url,
            b"{}",
            **{"X-Amz-Target": TARGET + "ListClusters",
               "Content-Type": "application/x-amz-json-1.1"},
        )  # fmt: skip
        assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_in_process_server_runs_on_asyncio_and_trio(anyio_backend: str) -> None:
    import anyio

    from pyecs.server import Server

    async with Server(backend="simulated") as server:
        assert server.url.startswith("http://127.0.0.1:")
        status, body = await anyio.to_thread.run_sync(
            lambda: _post(
                server.url,
                b'{"clusterName": "x"}',
                **{
                    "X-Amz-Target": TARGET + "CreateCluster",
                    "Content-Type": "application/x-amz-json-1.1",
                },
            )
        )
        assert status == 200 and body["cluster"]["clusterName"] == "x"  # type: ignore[index]
