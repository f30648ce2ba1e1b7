"""Application Auto Scaling over HTTP: boto3's ``application-autoscaling`` client against
``pyecs serve``, every response checked against botocore's output shapes."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from ecs.test_shapes import shape_problems
from server_support import WEB, CheckedClient

from pyecs.testing import EcsEndpoint

MODEL = botocore.session.get_session().get_service_model("application-autoscaling")
RESOURCE = "service/production/web-app"
DIM = "ecs:service:DesiredCount"
CPU = {
    "TargetValue": 50.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
}


class CheckedAas:
    """A boto3 application-autoscaling client whose every response is walked."""

    def __init__(self, endpoint: EcsEndpoint) -> None:
        self.problems: list[str] = []
        self.client = boto3.client(
            "application-autoscaling",
            endpoint_url=endpoint.url,
            region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
        )
        self.client.meta.events.register("before-parse.application-autoscaling.*", self._check)
        self.exceptions = self.client.exceptions

    def _check(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict["status_code"] != 200:
            return
        body = json.loads(response_dict["body"] or b"{}")
        shape = MODEL.operation_model(operation_model.name).output_shape
        for problem in shape_problems(body, shape):
            self.problems.append(f"{operation_model.name}: {problem}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def aas(endpoint: EcsEndpoint, ecs: CheckedClient) -> Iterator[CheckedAas]:
    """A checked client, with cluster ``production`` and service ``web-app`` (1 task)."""
    ecs.create_cluster(clusterName="production")
    ecs.register_task_definition(**WEB)
    ecs.create_service(
        cluster="production", serviceName="web-app", taskDefinition="web-app:1", desiredCount=1
    )
    client = CheckedAas(endpoint)
    yield client
    assert client.problems == []


def register(aas: CheckedAas, **kwargs: Any) -> dict[str, Any]:
    args = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIM}
    return aas.register_scalable_target(**{**args, **kwargs})  # type: ignore[no-any-return]


def test_a_scalable_target_is_registered_updated_described_and_deregistered(
    aas: CheckedAas,
) -> None:
    arn = register(aas, MinCapacity=1, MaxCapacity=4)["ScalableTargetARN"]
    assert arn.startswith("arn:aws:autoscaling:us-east-1:")
    register(aas, MaxCapacity=6, SuspendedState={"DynamicScalingInSuspended": True})
    [target] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)
    assert target["ScalableTargetARN"] == arn
    assert target["SuspendedState"] == {
        "DynamicScalingInSuspended": True,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }
    assert isinstance(target["CreationTime"], datetime.datetime)
    assert "AWSServiceRoleForApplicationAutoScaling_ECSService" in target["RoleARN"]
    other = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=["service/x/y"])
    assert other["ScalableTargets"] == []
    aas.deregister_scalable_target(
        ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIM
    )
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    with pytest.raises(aas.exceptions.ObjectNotFoundException):
        aas.deregister_scalable_target(
            ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIM
        )


def test_registering_a_minimum_above_the_desired_count_scales_and_is_an_activity(
    aas: CheckedAas, ecs: CheckedClient
) -> None:
    register(aas, MinCapacity=3, MaxCapacity=5)
    [service] = ecs.describe_services(cluster="production", services=["web-app"])["services"]
    assert service["desiredCount"] == 3
    [activity] = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=RESOURCE)[
        "ScalingActivities"
    ]
    assert activity["Description"] == "Setting desired count to 3."
    assert activity["StatusCode"] == "Successful"
    assert activity["StatusMessage"].startswith("Successfully set desired count to 3.")
    register(aas, MinCapacity=1, MaxCapacity=2)  # the desired count moves to 2: a second one
    pages = aas.get_paginator("describe_scaling_activities").paginate(
        ServiceNamespace="ecs", PaginationConfig={"PageSize": 1}
    )
    seen = [[a["Description"] for a in page["ScalingActivities"]] for page in pages]
    assert seen == [["Setting desired count to 2."], ["Setting desired count to 3."]]


def test_scaling_policies_are_put_described_paginated_and_deleted(aas: CheckedAas) -> None:
    register(aas, MinCapacity=1, MaxCapacity=4)
    common = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIM}
    put = aas.put_scaling_policy(
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**CPU, "ScaleInCooldown": 60},
        **common,
    )
    assert put["PolicyARN"].endswith(":scalingPolicy/web-app/policyName/cpu50")
    high, low = (a["AlarmName"] for a in put["Alarms"])
    assert high.startswith(f"TargetTracking-{RESOURCE}-AlarmHigh-")
    assert low.startswith(f"TargetTracking-{RESOURCE}-AlarmLow-")
    for i in range(11):
        aas.put_scaling_policy(
            PolicyName=f"step{i:02d}",
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
                "Cooldown": 30,
            },
            **common,
        )
    [tracking] = aas.describe_scaling_policies(ServiceNamespace="ecs", PolicyNames=["cpu50"])[
        "ScalingPolicies"
    ]
    config = tracking["TargetTrackingScalingPolicyConfiguration"]
    assert config["TargetValue"] == 50.0
    assert (config["ScaleInCooldown"], config["ScaleOutCooldown"]) == (60, 300)
    assert config["PredefinedMetricSpecification"] == CPU["PredefinedMetricSpecification"]
    pages = list(
        aas.get_paginator("describe_scaling_policies").paginate(
            ServiceNamespace="ecs", ResourceId=RESOURCE
        )
    )
    assert [len(p["ScalingPolicies"]) for p in pages] == [10, 2]  # at most 10 a page, as AWS
    step = pages[1]["ScalingPolicies"][-1]["StepScalingPolicyConfiguration"]
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]
    aas.delete_scaling_policy(PolicyName="cpu50", **common)
    with pytest.raises(aas.exceptions.ObjectNotFoundException):
        aas.delete_scaling_policy(PolicyName="cpu50", **common)
    names = aas.describe_scaling_policies(ServiceNamespace="ecs", PolicyNames=["cpu50"])
    assert names["ScalingPolicies"] == []


def test_scheduled_actions_are_put_updated_described_and_deleted(aas: CheckedAas) -> None:
    register(aas, MinCapacity=1, MaxCapacity=4)
    common = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIM}
    end = datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC)
    aas.put_scheduled_action(
        ScheduledActionName="nightly",
        Schedule="cron(0 22 * * ? *)",
        Timezone="Europe/Paris",
        EndTime=end,
        ScalableTargetAction={"MinCapacity": 2, "MaxCapacity": 3},
        **common,
    )
    aas.put_scheduled_action(  # an update without Schedule keeps it
        ScheduledActionName="nightly", ScalableTargetAction={"MinCapacity": 1}, **common
    )
    [action] = aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"]
    assert action["Schedule"] == "cron(0 22 * * ? *)"
    assert action["Timezone"] == "Europe/Paris"
    assert action["EndTime"] == end
    assert action["ScalableTargetAction"] == {"MinCapacity": 1}
    aas.delete_scheduled_action(ScheduledActionName="nightly", **common)
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []
    with pytest.raises(aas.exceptions.ObjectNotFoundException):
        aas.delete_scheduled_action(ScheduledActionName="nightly", **common)


def test_errors_are_application_auto_scalings(aas: CheckedAas) -> None:
    errors = aas.exceptions
    with pytest.raises(errors.ValidationException, match="ECS services only"):
        aas.describe_scalable_targets(ServiceNamespace="dynamodb")
    with pytest.raises(errors.ValidationException, match="ECS services only"):
        register(aas, ServiceNamespace="lambda", MinCapacity=1, MaxCapacity=2)
    with pytest.raises(errors.ValidationException, match="has only"):
        register(aas, ScalableDimension="ecs:service:Nothing", MinCapacity=1, MaxCapacity=2)
    with pytest.raises(errors.ValidationException, match="Cluster not found"):
        register(aas, ResourceId="service/nowhere/web-app", MinCapacity=1, MaxCapacity=2)
    with pytest.raises(errors.ValidationException, match="nothing"):
        register(aas, ResourceId="service/production/nothing", MinCapacity=1, MaxCapacity=2)
    with pytest.raises(errors.ValidationException, match="min_capacity 3 is above"):
        register(aas, MinCapacity=3, MaxCapacity=2)
    with pytest.raises(errors.ObjectNotFoundException):
        aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace="ecs",
            ResourceId=RESOURCE,
            ScalableDimension=DIM,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=CPU,
        )
    register(aas, MinCapacity=1, MaxCapacity=2)
    with pytest.raises(errors.ValidationException, match="PredictiveScaling"):
        aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace="ecs",
            ResourceId=RESOURCE,
            ScalableDimension=DIM,
            PolicyType="PredictiveScaling",
        )
    with pytest.raises(errors.ValidationException, match="no load balancer"):
        aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace="ecs",
            ResourceId=RESOURCE,
            ScalableDimension=DIM,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 10.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ALBRequestCountPerTarget"
                },
            },
        )
    with pytest.raises(errors.InvalidNextTokenException):
        aas.describe_scalable_targets(ServiceNamespace="ecs", NextToken="bogus")
    with pytest.raises(errors.ValidationException, match="MaxResults"):
        aas.describe_scalable_targets(ServiceNamespace="ecs", MaxResults=51)


def test_an_unchanged_client_finds_the_server_through_the_environment(
    aas: CheckedAas, endpoint: EcsEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in endpoint.env.items():
        monkeypatch.setenv(name, value)
    assert endpoint.env["AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING"] == endpoint.url
    register(aas, MinCapacity=1, MaxCapacity=2)
    client = boto3.client("application-autoscaling")
    targets = client.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert [t["ResourceId"] for t in targets] == [RESOURCE]
