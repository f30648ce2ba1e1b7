"""Capacity providers and Fargate through pyecs serve, with boto3 (simulated backend)."""

from __future__ import annotations

from collections import Counter

import pytest
from server_support import WEB, CheckedClient

FARGATE_TD = {
    **WEB,
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
}
NET = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "ENABLED"}}


def test_a_fargate_service_reaches_steady_state(ecs: CheckedClient) -> None:
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(**FARGATE_TD)
    service = ecs.create_service(
        cluster="prod",
        serviceName="web",
        taskDefinition="web-app",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=NET,
    )["service"]
    assert service["launchType"] == "FARGATE"
    ecs.get_waiter("services_stable").wait(
        cluster="prod", services=["web"], WaiterConfig={"Delay": 0.5, "MaxAttempts": 240}
    )
    arns = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="prod", tasks=arns)["tasks"]
    assert len(tasks) == 2
    for task in tasks:
        assert (task["launchType"], task["lastStatus"]) == ("FARGATE", "RUNNING")
        assert task["platformVersion"] and "containerInstanceArn" not in task
        (eni,) = task["attachments"]
        details = {d["name"]: d["value"] for d in eni["details"]}
        assert details["subnetId"] == "subnet-1"
    (described,) = ecs.describe_services(cluster="prod", services=["web"])["services"]
    assert described["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-1"]
    ecs.update_service(
        cluster="prod",
        service="web",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-2"]}},
    )
    (updated,) = ecs.describe_services(cluster="prod", services=["web"])["services"]
    primary = next(d for d in updated["deployments"] if d["status"] == "PRIMARY")
    assert primary["id"] != described["deployments"][0]["id"]  # a network change deploys
    assert updated["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == ["subnet-2"]


def test_a_strategy_splits_tasks_by_base_then_weight(ecs: CheckedClient) -> None:
    ecs.create_cluster(
        clusterName="prod",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    (cluster,) = ecs.describe_clusters(clusters=["prod"])["clusters"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"][0]["capacityProvider"] == "FARGATE"
    ecs.register_task_definition(**FARGATE_TD)
    tasks = ecs.run_task(
        cluster="prod",
        taskDefinition="web-app",
        count=10,
        networkConfiguration=NET,
        capacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
    )["tasks"]
    described = ecs.describe_tasks(cluster="prod", tasks=[t["taskArn"] for t in tasks])["tasks"]
    assert Counter(t["capacityProviderName"] for t in described) == {
        "FARGATE": 4,
        "FARGATE_SPOT": 6,
    }
    default = ecs.run_task(cluster="prod", taskDefinition="web-app", networkConfiguration=NET)
    assert default["tasks"][0]["capacityProviderName"] == "FARGATE"


def test_capacity_provider_lifecycle(ecs: CheckedClient) -> None:
    asg = {
        "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:x",
        "managedScaling": {"targetCapacity": 100},
        "managedTerminationProtection": "ENABLED",
    }
    made = ecs.create_capacity_provider(
        name="asg", autoScalingGroupProvider=asg, tags=[{"key": "a", "value": "b"}]
    )["capacityProvider"]
    assert made["autoScalingGroupProvider"]["managedScaling"]["status"] == "ENABLED"
    assert made["type"] == "EC2_AUTOSCALING"
    with pytest.raises(ecs.exceptions.ClientException, match="already exists"):
        ecs.create_capacity_provider(name="asg", autoScalingGroupProvider=asg)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="reserved"):
        ecs.create_capacity_provider(name="ecs-x", autoScalingGroupProvider=asg)

    first = ecs.describe_capacity_providers(maxResults=2)
    rest = ecs.describe_capacity_providers(maxResults=2, nextToken=first["nextToken"])
    names = [p["name"] for p in first["capacityProviders"] + rest["capacityProviders"]]
    assert names == ["FARGATE", "FARGATE_SPOT", "asg"] and "nextToken" not in rest
    missing = ecs.describe_capacity_providers(capacityProviders=["asg", "nope"], include=["TAGS"])
    assert missing["capacityProviders"][0]["tags"] == [{"key": "a", "value": "b"}]
    assert missing["failures"][0]["reason"] == "MISSING"

    ecs.create_cluster(clusterName="a", capacityProviders=["asg"])
    ecs.create_cluster(clusterName="b")
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="associated with cluster a"):
        ecs.put_cluster_capacity_providers(
            cluster="b", capacityProviders=["asg"], defaultCapacityProviderStrategy=[]
        )
    with pytest.raises(ecs.exceptions.ResourceInUseException):
        ecs.delete_capacity_provider(capacityProvider="asg")
    with pytest.raises(ecs.exceptions.ClientException, match="cannot change a provider"):
        ecs.update_capacity_provider(
            name="asg", autoScalingGroupProvider={"managedTerminationProtection": "DISABLED"}
        )
    ecs.register_task_definition(**WEB)
    task = ecs.run_task(
        cluster="a",
        taskDefinition="web-app",
        capacityProviderStrategy=[{"capacityProvider": "asg", "weight": 1}],
    )["tasks"][0]
    assert (task["capacityProviderName"], task["lastStatus"]) == ("asg", "PROVISIONING")
    ecs.stop_task(cluster="a", task=task["taskArn"])
    ecs.put_cluster_capacity_providers(
        cluster="a", capacityProviders=[], defaultCapacityProviderStrategy=[]
    )
    gone = ecs.delete_capacity_provider(capacityProvider="asg")["capacityProvider"]
    assert gone["status"] == "INACTIVE"
    assert ecs.describe_capacity_providers(capacityProviders=["asg"])["failures"]


def test_capacity_errors_use_ecs_words(ecs: CheckedClient) -> None:
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(**FARGATE_TD)
    ecs.register_task_definition(**{**WEB, "family": "plain"})
    cases = [
        (
            {
                "launchType": "FARGATE",
                "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}],
            },
            "Specifying both a launch type and capacity provider strategy",
        ),
        ({"launchType": "FARGATE"}, "Network Configuration must be provided"),
        ({"taskDefinition": "plain", "launchType": "FARGATE"}, "does not support launch_type"),
        (
            {"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]},
            "not associated with the cluster",
        ),
        ({"launchType": "EXTERNAL"}, "not supported by pyecs"),
        (
            {"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}},
            "subnets can not be empty",
        ),
    ]
    for extra, words in cases:
        args = {"cluster": "prod", "taskDefinition": "web-app", **extra}
        with pytest.raises(ecs.exceptions.InvalidParameterException, match=words):
            ecs.run_task(**args)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="Network Configuration"):
        ecs.create_service(
            cluster="prod",
            serviceName="s",
            taskDefinition="web-app",
            launchType="FARGATE",
            desiredCount=1,
        )
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="does not exist"):
        ecs.create_cluster(clusterName="x", capacityProviders=["ghost"])
    assert ecs.describe_clusters(clusters=["x"])["failures"][0]["reason"] == "MISSING"
