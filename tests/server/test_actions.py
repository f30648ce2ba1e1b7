"""Every action pyecs serves, through boto3, with every response checked against its shape."""

from __future__ import annotations

import botocore.session
import pytest
from server_support import WEB, CheckedClient

from pyecs.server import HANDLERS, REFUSED


def _setup(ecs: CheckedClient, cluster: str = "production") -> str:
    ecs.create_cluster(clusterName=cluster, tags=[{"key": "team", "value": "web"}])
    return ecs.register_task_definition(**WEB, tags=[{"key": "v", "value": "1"}])["taskDefinition"][
        "taskDefinitionArn"
    ]


def test_clusters_create_describe_list_update_delete(ecs: CheckedClient) -> None:
    created = ecs.create_cluster(clusterName="production")["cluster"]
    assert created["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/production"
    again = ecs.create_cluster(clusterName="production")["cluster"]
    assert again["clusterArn"] == created["clusterArn"]
    described = ecs.describe_clusters(clusters=["production", "nope"], include=["SETTINGS"])
    assert described["clusters"][0]["settings"] == [
        {"name": "containerInsights", "value": "disabled"}
    ]
    assert described["failures"][0]["reason"] == "MISSING"
    assert ecs.list_clusters()["clusterArns"] == [created["clusterArn"]]
    updated = ecs.update_cluster_settings(
        cluster="production", settings=[{"name": "containerInsights", "value": "enabled"}]
    )["cluster"]
    assert updated["settings"][0]["value"] == "enabled"
    ecs.update_cluster(
        cluster="production", settings=[{"name": "containerInsights", "value": "disabled"}]
    )
    deleted = ecs.delete_cluster(cluster="production")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert ecs.describe_clusters(clusters=["production"])["clusters"][0]["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []


def test_task_definitions_register_describe_list_deregister_delete(ecs: CheckedClient) -> None:
    arn = _setup(ecs)
    assert arn.endswith(":task-definition/web-app:1")
    ecs.register_task_definition(**WEB)
    with_tags = ecs.describe_task_definition(taskDefinition="web-app:1", include=["TAGS"])
    assert with_tags["tags"] == [{"key": "v", "value": "1"}]
    assert "tags" not in ecs.describe_task_definition(taskDefinition="web-app")
    assert ecs.describe_task_definition(taskDefinition="web-app")["taskDefinition"]["revision"] == 2
    listed = ecs.list_task_definitions(familyPrefix="web", sort="DESC")["taskDefinitionArns"]
    assert [a.rsplit(":", 1)[1] for a in listed] == ["2", "1"]
    assert ecs.list_task_definition_families()["families"] == ["web-app"]
    ecs.deregister_task_definition(taskDefinition="web-app:1")
    assert len(ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]) == 1
    result = ecs.delete_task_definitions(taskDefinitions=["web-app:1", "web-app:2"])
    assert result["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    assert result["failures"][0]["reason"] == "TASK_DEFINITION_NOT_INACTIVE"
    assert ecs.register_task_definition(**WEB)["taskDefinition"]["revision"] == 3


def test_tasks_run_start_describe_list_stop(ecs: CheckedClient) -> None:
    _setup(ecs)
    run = ecs.run_task(
        cluster="production",
        taskDefinition="web-app:1",
        count=3,
        startedBy="ci",
        group="batch",
        overrides={"containerOverrides": [{"name": "web", "command": ["sleep", "60"]}]},
        tags=[{"key": "job", "value": "1"}],
    )
    assert len(run["tasks"]) == 3 and run["failures"] == []
    arns = [t["taskArn"] for t in run["tasks"]]
    ecs.get_waiter("tasks_running").wait(
        cluster="production", tasks=arns, WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    instance = ecs.list_container_instances(cluster="production")["containerInstanceArns"][0]
    started = ecs.start_task(
        cluster="production", taskDefinition="web-app", containerInstances=[instance]
    )
    assert started["tasks"][0]["containerInstanceArn"] == instance
    assert sorted(ecs.list_tasks(cluster="production", startedBy="ci")["taskArns"]) == sorted(arns)
    assert len(ecs.list_tasks(cluster="production", family="web-app")["taskArns"]) == 4
    assert len(ecs.list_tasks(cluster="production", containerInstance=instance)["taskArns"]) == 4
    described = ecs.describe_tasks(cluster="production", tasks=[*arns, "nope"], include=["TAGS"])
    assert described["tasks"][0]["tags"] == [{"key": "job", "value": "1"}]
    assert described["tasks"][0]["group"] == "batch"
    assert described["failures"][0]["reason"] == "MISSING"
    stopped = ecs.stop_task(cluster="production", task=arns[0], reason="done")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(
        cluster="production", tasks=[arns[0]], WaiterConfig={"Delay": 0.2, "MaxAttempts": 50}
    )
    assert (
        ecs.describe_tasks(cluster="production", tasks=[arns[0]])["tasks"][0]["stoppedReason"]
        == "done"
    )
    assert ecs.list_tasks(cluster="production", desiredStatus="STOPPED")["taskArns"] == [arns[0]]


def test_services_create_update_describe_list_delete(ecs: CheckedClient) -> None:
    _setup(ecs)
    ecs.register_task_definition(**WEB)
    service = ecs.create_service(
        cluster="production",
        serviceName="web-app",
        taskDefinition="web-app:1",
        desiredCount=2,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 50,
        },
        tags=[{"key": "svc", "value": "1"}],
    )["service"]
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    waiter = ecs.get_waiter("services_stable")
    waiter.wait(cluster="production", services=["web-app"], WaiterConfig={"Delay": 0.2})
    ecs.update_service(cluster="production", service="web-app", taskDefinition="web-app:2")
    updated = ecs.describe_services(cluster="production", services=["web-app"], include=["TAGS"])
    svc = updated["services"][0]
    assert svc["tags"] == [{"key": "svc", "value": "1"}]
    assert svc["deployments"][0]["taskDefinition"].endswith("web-app:2")
    waiter.wait(cluster="production", services=["web-app"], WaiterConfig={"Delay": 0.2})
    svc = ecs.describe_services(cluster="production", services=["web-app"])["services"][0]
    assert (svc["runningCount"], len(svc["deployments"])) == (2, 1)
    assert any("has started" in e["message"] for e in svc["events"])
    assert ecs.list_services(cluster="production")["serviceArns"] == [svc["serviceArn"]]
    assert ecs.list_services(cluster="production", schedulingStrategy="DAEMON")["serviceArns"] == []
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.delete_service(cluster="production", service="web-app")
    assert (
        ecs.delete_service(cluster="production", service="web-app", force=True)["service"]["status"]
        == "DRAINING"
    )
    with pytest.raises(ecs.exceptions.ServiceNotActiveException):
        ecs.update_service(cluster="production", service="web-app", desiredCount=1)
    ecs.get_waiter("services_inactive").wait(
        cluster="production", services=["web-app"], WaiterConfig={"Delay": 0.2}
    )
    with pytest.raises(ecs.exceptions.ClusterContainsTasksException):
        ecs.run_task(cluster="production", taskDefinition="web-app")
        ecs.delete_cluster(cluster="production")


def test_container_instances_and_attributes(ecs: CheckedClient) -> None:
    _setup(ecs)
    arns = ecs.list_container_instances(cluster="production")["containerInstanceArns"]
    assert len(arns) == 1
    described = ecs.describe_container_instances(
        cluster="production", containerInstances=[*arns, "x"]
    )
    assert described["failures"][0]["reason"] == "MISSING"
    ecs.put_attributes(
        cluster="production",
        attributes=[
            {
                "name": "stack",
                "value": "blue",
                "targetType": "container-instance",
                "targetId": arns[0],
            }
        ],
    )
    listed = ecs.list_attributes(
        cluster="production", targetType="container-instance", attributeName="stack"
    )["attributes"]
    assert listed == [
        {"name": "stack", "value": "blue", "targetType": "container-instance", "targetId": arns[0]}
    ]
    assert (
        ecs.list_container_instances(cluster="production", filter="attribute:stack == blue")[
            "containerInstanceArns"
        ]
        == arns
    )
    ecs.delete_attributes(cluster="production", attributes=[{"name": "stack", "targetId": arns[0]}])
    drained = ecs.update_container_instances_state(
        cluster="production", containerInstances=arns, status="DRAINING"
    )
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    assert (
        ecs.list_container_instances(cluster="production", status="ACTIVE")["containerInstanceArns"]
        == []
    )
    with pytest.raises(ecs.exceptions.TargetNotFoundException):
        ecs.put_attributes(cluster="production", attributes=[{"name": "a", "targetId": "nope"}])
    gone = ecs.deregister_container_instance(cluster="production", containerInstance=arns[0])
    assert gone["containerInstance"]["status"] == "INACTIVE"


def test_tags_of_every_resource_kind(ecs: CheckedClient) -> None:
    td_arn = _setup(ecs)
    cluster_arn = ecs.describe_clusters(clusters=["production"])["clusters"][0]["clusterArn"]
    for arn in (cluster_arn, td_arn):
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}])
        ecs.untag_resource(resourceArn=arn, tagKeys=["v", "team"])
        assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "1"}]
    with pytest.raises(ecs.exceptions.ResourceNotFoundException):
        ecs.tag_resource(resourceArn=cluster_arn + "x", tags=[{"key": "a", "value": "1"}])
    with pytest.raises(ecs.exceptions.InvalidParameterException):
        ecs.tag_resource(resourceArn=cluster_arn, tags=[{"key": "aws:x", "value": "1"}])


def test_account_settings_have_ecs_shapes(ecs: CheckedClient) -> None:
    put = ecs.put_account_setting(name="containerInsights", value="enabled")["setting"]
    assert put["principalArn"] == "arn:aws:iam::000000000000:root"
    listed = ecs.list_account_settings()["settings"]
    assert listed == [put]
    effective = ecs.list_account_settings(effectiveSettings=True, maxResults=10)
    assert len(effective["settings"]) == 10 and "nextToken" in effective
    ecs.put_account_setting_default(name="awsvpcTrunking", value="enabled")
    ecs.delete_account_setting(name="containerInsights")
    assert (
        ecs.list_account_settings(name="containerInsights", effectiveSettings=True)["settings"][0][
            "value"
        ]
        == "disabled"
    )


def test_every_ecs_action_is_served_or_refused() -> None:
    """Each operation of botocore's ECS model is either handled or refused with a reason."""
    operations = set(botocore.session.get_session().get_service_model("ecs").operation_names)
    assert set(HANDLERS) | set(REFUSED) == operations
    assert set(HANDLERS) & set(REFUSED) == set()
    assert all(REFUSED.values())


def test_a_refused_action_says_why(ecs: CheckedClient) -> None:
    with pytest.raises(ecs.exceptions.ClientException, match="does not support ExecuteCommand"):
        ecs.execute_command(cluster="c", task="t", command="sh", interactive=True)


def test_create_service_needs_a_desired_count_for_replica_services(ecs: CheckedClient) -> None:
    """ECS: desiredCount "is required if schedulingStrategy is REPLICA or isn't specified"."""
    _setup(ecs)
    ecs.register_task_definition(**WEB)
    with pytest.raises(ecs.exceptions.InvalidParameterException, match="desiredCount"):
        ecs.create_service(cluster="production", serviceName="web", taskDefinition="web-app:1")
    daemon = ecs.create_service(
        cluster="production",
        serviceName="each",
        taskDefinition="web-app:1",
        schedulingStrategy="DAEMON",
    )
    assert daemon["service"]["schedulingStrategy"] == "DAEMON"
