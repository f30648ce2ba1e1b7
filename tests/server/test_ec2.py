"""EC2's security-group API at pyecs serve's endpoint, driven by boto3's ec2 client.

Every XML answer is walked against botocore's EC2 output shape (element names, lists of
``item``, integers, booleans), since botocore's XML parser skips what it does not know.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore.model import ListShape, Shape, StructureShape
from server_support import WEB, CheckedClient

from pyecs.testing import EcsEndpoint

EC2 = botocore.session.get_session().get_service_model("ec2")
NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"


def _name(member: str, shape: Shape) -> str:
    return str(shape.serialization.get("name", member))


def xml_problems(element: ET.Element, shape: Shape, path: str = "$") -> list[str]:
    """What in ``element`` the botocore ``shape`` (EC2 protocol) does not allow."""
    if isinstance(shape, StructureShape):
        by_tag = {_name(m, s): s for m, s in shape.members.items()}
        out = []
        for child in element:
            tag = child.tag.removeprefix(NS)
            if tag == "requestId" and path == "$":
                continue
            if tag not in by_tag:
                out.append(f"{path}.{tag}: {shape.name} has no element {tag!r}")
            else:
                out.extend(xml_problems(child, by_tag[tag], f"{path}.{tag}"))
        return out
    if isinstance(shape, ListShape):
        bad = [c.tag for c in element if c.tag.removeprefix(NS) != "item"]
        return (
            [f"{path}: list elements must be <item>, not {bad}"]
            if bad
            else [
                p
                for i, c in enumerate(element)
                for p in xml_problems(c, shape.member, f"{path}[{i}]")
            ]
        )
    text = element.text or ""
    if shape.type_name == "integer" and not text.lstrip("-").isdigit():
        return [f"{path}: {text!r} is not an integer"]
    if shape.type_name == "boolean" and text not in ("true", "false"):
        return [f"{path}: {text!r} is not a boolean"]
    return []


class CheckedEc2:
    """A boto3 ec2 client whose every successful answer is checked against its shape."""

    def __init__(self, endpoint: EcsEndpoint, region: str = "us-east-1") -> None:
        self.problems: list[str] = []
        self.client = boto3.client(
            "ec2",
            endpoint_url=endpoint.url,
            region_name=region,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
        )
        self.client.meta.events.register("before-parse.ec2.*", self._check)

    def _check(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        if response_dict["status_code"] != 200:
            return
        root = ET.fromstring(response_dict["body"])
        name = operation_model.name
        if root.tag != f"{NS}{name}Response":
            self.problems.append(f"{name}: root element {root.tag}")
        self.problems += [f"{name}: {p}" for p in xml_problems(root, operation_model.output_shape)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def ec2(endpoint: EcsEndpoint) -> Iterator[CheckedEc2]:
    client = CheckedEc2(endpoint)
    yield client
    assert client.problems == []


def _code(info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_groups_create_authorize_describe_revoke_delete(ec2: CheckedEc2) -> None:
    web = ec2.create_security_group(
        GroupName="web",
        Description="the web tier",
        TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "a", "Value": "b"}]}
        ],
    )
    app = ec2.create_security_group(GroupName="app", Description="app")["GroupId"]
    assert web["GroupId"].startswith("sg-") and web["Tags"] == [{"Key": "a", "Value": "b"}]
    gid = web["GroupId"]
    by_group = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "UserIdGroupPairs": [{"GroupId": app}],
    }
    by_cidr = {
        "IpProtocol": "udp",
        "FromPort": 53,
        "ToPort": 53,
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "dns"}],
    }
    assert ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[by_group, by_cidr])[
        "Return"
    ]
    ec2.authorize_security_group_ingress(GroupName="web", IpProtocol="-1", CidrIp="192.168.0.0/16")

    (group,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert (group["GroupName"], group["Description"], group["VpcId"]) == (
        "web",
        "the web tier",
        "vpc-local",
    )
    assert group["SecurityGroupArn"].endswith(f":security-group/{gid}")
    perms = group["IpPermissions"]
    assert perms[0]["UserIdGroupPairs"][0]["GroupId"] == app
    assert perms[1]["IpRanges"] == [{"CidrIp": "10.0.0.0/8", "Description": "dns"}]
    assert (perms[2]["IpProtocol"], perms[2]["IpRanges"]) == ("-1", [{"CidrIp": "192.168.0.0/16"}])
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    named = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["app"]}])
    assert [g["GroupId"] for g in named["SecurityGroups"]] == [app]
    assert len(ec2.describe_security_groups(GroupNames=["web", "app"])["SecurityGroups"]) == 2
    pages = list(
        ec2.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5})
    )
    assert sum(len(p["SecurityGroups"]) for p in pages) == 2

    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[by_cidr])
    (group,) = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert len(group["IpPermissions"]) == 2
    with pytest.raises(botocore.exceptions.ClientError) as used:
        ec2.delete_security_group(GroupId=app)
    assert _code(used) == "DependencyViolation"
    ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[by_group])
    ec2.delete_security_group(GroupId=app)
    ec2.delete_security_group(GroupName="web")
    assert ec2.describe_security_groups()["SecurityGroups"] == []


def test_errors_carry_ec2_codes(ec2: CheckedEc2) -> None:
    gid = ec2.create_security_group(GroupName="web", Description="d")["GroupId"]
    rule = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    other = {**rule, "FromPort": 3, "ToPort": 4}
    cases = [
        (
            lambda: ec2.create_security_group(GroupName="web", Description="d"),
            "InvalidGroup.Duplicate",
        ),
        (
            lambda: ec2.describe_security_groups(GroupIds=["sg-0000000000000000"]),
            "InvalidGroup.NotFound",
        ),
        (lambda: ec2.delete_security_group(GroupName="nope"), "InvalidGroup.NotFound"),
        (
            lambda: ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[other]),
            "InvalidPermission.NotFound",
        ),
        (
            lambda: ec2.create_security_group(GroupName="x", Description="d", VpcId="vpc-1"),
            "InvalidVpcID.NotFound",
        ),
        (
            lambda: ec2.describe_security_groups(
                Filters=[{"Name": "ip-permission.cidr", "Values": ["x"]}]
            ),
            "InvalidParameterValue",
        ),
        (
            lambda: ec2.authorize_security_group_ingress(
                GroupId=gid, IpPermissions=[{**rule, "FromPort": 9, "ToPort": 1}]
            ),
            "InvalidParameterValue",
        ),
        (lambda: ec2.describe_vpcs(), "InvalidAction"),
    ]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[rule])
    cases.append(
        (
            lambda: ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[rule]),
            "InvalidPermission.Duplicate",
        )
    )
    for call, code in cases:
        with pytest.raises(botocore.exceptions.ClientError) as info:
            call()
        assert _code(info) == code, info.value
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_groups_belong_to_the_region_and_tasks_of_any_cluster_use_them(
    ec2: CheckedEc2, ecs: CheckedClient, endpoint: EcsEndpoint
) -> None:
    """A group made through EC2 is what awsvpc tasks name in ECS; one a task uses cannot be
    deleted; another region has groups of its own."""
    gid = ec2.create_security_group(GroupName="web", Description="d")["GroupId"]
    ecs.create_cluster(clusterName="a")
    ecs.register_task_definition(**{**WEB, "networkMode": "awsvpc"})
    net = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": [gid]}}
    task = ecs.run_task(cluster="a", taskDefinition="web-app", networkConfiguration=net)["tasks"][0]
    assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
    with pytest.raises(botocore.exceptions.ClientError) as used:
        ec2.delete_security_group(GroupId=gid)
    assert _code(used) == "DependencyViolation"
    bad = {
        "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-0123456789abcdef0"]}
    }
    with pytest.raises(
        ecs.exceptions.InvalidParameterException, match="Error retrieving security group"
    ):
        ecs.run_task(cluster="a", taskDefinition="web-app", networkConfiguration=bad)
    other = CheckedEc2(endpoint, region="eu-west-1")
    assert other.describe_security_groups()["SecurityGroups"] == []
    ecs.stop_task(cluster="a", task=task["taskArn"])


def test_ec2_requests_are_signature_checked_with_the_ec2_scope() -> None:
    from pyecs.testing import serve_in_thread

    with serve_in_thread(backend=None, credentials={"AKIDGOOD": "right-secret"}) as endpoint:
        for secret, code in (("right-secret", None), ("wrong", "AuthFailure")):
            client = boto3.client(
                "ec2",
                endpoint_url=endpoint.url,
                region_name="eu-west-1",
                aws_access_key_id="AKIDGOOD",
                aws_secret_access_key=secret,
            )
            if code is None:
                assert client.describe_security_groups()["SecurityGroups"] == []
            else:
                with pytest.raises(botocore.exceptions.ClientError) as info:
                    client.describe_security_groups()
                assert _code(info) == code
