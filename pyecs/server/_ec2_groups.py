"""EC2's security-group actions over a region's shared :class:`~pyecs.SecurityGroupRegistry`.

EC2 groups belong to a VPC, not to a cluster: each region of ``pyecs serve`` has one VPC
(``vpc-local``) whose groups every cluster of the region sees, as ECS tasks in one VPC
name the same groups whatever their cluster.
"""

from __future__ import annotations

from typing import Any, Final
from xml.etree import ElementTree as ET

from pyecs.models.security_group import SecurityGroup
from pyecs.server._ec2_query import Ec2Error, Ec2Handler, Query
from pyecs.server._state import Region

__all__ = ["HANDLERS", "VPC"]

#: The one VPC of a region, as :class:`~pyecs.SecurityGroup` names it.
VPC: Final = "vpc-local"
_FILTERS: Final = ("group-id", "group-name", "description", "vpc-id", "owner-id")


def _arn(region: Region, group_id: str) -> str:
    return f"arn:aws:ec2:{region.name}:{region.account}:security-group/{group_id}"


def _xml(tag: str, value: Any) -> ET.Element:
    """EC2's XML for a value of the PascalCase output shape: lowerCamel names, ``item``s."""
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            name = {"UserIdGroupPairs": "groups", "Tags": "tagSet"}.get(key)
            element.append(_xml(name or key[0].lower() + key[1:], item))
    elif isinstance(value, list):
        element.extend(_xml("item", item) for item in value)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
    return element


def _group_xml(region: Region, group: SecurityGroup) -> ET.Element:
    shape = group.to_ec2(region.account)
    shape["GroupDescription"] = shape.pop("Description")
    for permission in shape["IpPermissions"]:
        for pair in permission["UserIdGroupPairs"]:
            pair["UserId"] = region.account
    arn = _arn(region, group.group_id)
    shape["SecurityGroupArn"] = arn
    shape["Tags"] = [{"Key": k, "Value": v} for k, v in region.tags.get(arn, {}).items()]
    return _xml("item", shape)


def _by_name(region: Region, name: str) -> SecurityGroup:
    for group in region.security_groups.describe():
        if group.group_name == name:
            return group
    raise Ec2Error(
        "InvalidGroup.NotFound",
        f"The security group '{name}' does not exist in default VPC '{VPC}'; "
        "DescribeSecurityGroups lists the groups there are",
    )


def _group_id(region: Region, q: Query) -> str:
    """The group a request names by ``GroupId`` or ``GroupName``."""
    group_id = q.text("GroupId")
    if group_id is not None:
        return str(region.security_groups.get(group_id).group_id)
    name = q.text("GroupName")
    if name is None:
        raise Ec2Error("MissingParameter", "The request must contain the parameter GroupId")
    return _by_name(region, name).group_id


def _tags(q: Query) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in q.items("TagSpecification"):
        kind = q.text("ResourceType", spec)
        if kind not in (None, "security-group"):
            raise Ec2Error(
                "InvalidParameterValue",
                f"'{kind}' is not a valid taggable resource type for this operation; use "
                "security-group",
            )
        for tag in q.items("Tag", spec):
            tags[q.text("Key", tag, required=True)] = q.text("Value", tag) or ""
    return tags


def _permission(region: Region, q: Query, node: dict[str, Any], where: str) -> dict[str, Any]:
    if q.items("Ipv6Ranges", node) or q.items("PrefixListIds", node):
        raise Ec2Error(
            "InvalidParameterValue",
            f"{where}: IPv6 ranges and prefix lists are not supported by pyecs; use IpRanges "
            "or source groups",
        )
    out: dict[str, Any] = {"IpProtocol": q.text("IpProtocol", node, required=True)}
    for name in ("FromPort", "ToPort"):
        port = q.integer(name, node)
        if port is not None:
            out[name] = port
    ranges = []
    for r in q.items("IpRanges", node):
        ranges.append({"CidrIp": q.text("CidrIp", r, required=True)})
        if q.text("Description", r):
            ranges[-1]["Description"] = q.text("Description", r)
    pairs = []
    for g in q.items("Groups", node):
        gid = q.text("GroupId", g)
        if gid is None:
            gid = _by_name(region, q.text("GroupName", g, required=True)).group_id
        pairs.append({"GroupId": gid})
        if q.text("Description", g):
            pairs[-1]["Description"] = q.text("Description", g)
    out.update(IpRanges=ranges, UserIdGroupPairs=pairs)
    return out


def _permissions(region: Region, q: Query) -> list[dict[str, Any]]:
    """``IpPermissions.N...``, or the one permission of the top-level shortcut members."""
    permissions = [
        _permission(region, q, node, f"IpPermissions.{i}")
        for i, node in enumerate(q.items("IpPermissions"), 1)
    ]
    if q.text("IpProtocol") is not None or q.text("CidrIp") is not None:
        shortcut = dict(q.tree)
        if q.text("CidrIp") is not None:
            shortcut["IpRanges"] = {"1": {"CidrIp": q.text("CidrIp")}}
        source = q.text("SourceSecurityGroupName")
        if source is not None:
            shortcut["Groups"] = {"1": {"GroupName": source}}
        shortcut.pop("IpPermissions", None)
        permissions.append(_permission(region, q, shortcut, "the request"))
    if not permissions:
        raise Ec2Error(
            "MissingParameter",
            "The request must contain the parameter IpPermissions (or IpProtocol with CidrIp)",
        )
    return permissions


def _ok() -> ET.Element:
    return _xml("return", True)


async def create_security_group(region: Region, q: Query) -> list[ET.Element]:
    """CreateSecurityGroup: in the region's one VPC; ``TagSpecification``s kept."""
    name = q.text("GroupName", required=True)
    description = q.text("GroupDescription", required=True)
    vpc = q.text("VpcId")
    if vpc not in (None, VPC):
        raise Ec2Error(
            "InvalidVpcID.NotFound",
            f"The vpc ID '{vpc}' does not exist: pyecs serve has one VPC per region, {VPC}; "
            "leave VpcId out or give that one",
        )
    tags = _tags(q)
    group = await region.security_groups.create(name, description)
    arn = _arn(region, group.group_id)
    region.tags[arn] = tags
    return [
        _xml("groupId", group.group_id),
        _xml("tagSet", [{"Key": k, "Value": v} for k, v in tags.items()]),
        _xml("securityGroupArn", arn),
    ]


async def authorize_security_group_ingress(region: Region, q: Query) -> list[ET.Element]:
    """AuthorizeSecurityGroupIngress: by CIDR or source group; new connections admitted at
    once where the backend enforces groups."""
    group_id = _group_id(region, q)
    await region.security_groups.authorize(group_id, _permissions(region, q))
    return [_ok()]


async def revoke_security_group_ingress(region: Region, q: Query) -> list[ET.Element]:
    """RevokeSecurityGroupIngress: the rules must exist (InvalidPermission.NotFound)."""
    group_id = _group_id(region, q)
    if q.items("SecurityGroupRuleId"):
        raise Ec2Error(
            "InvalidParameterValue",
            "SecurityGroupRuleIds are not supported by pyecs: revoke by IpPermissions",
        )
    await region.security_groups.revoke(group_id, _permissions(region, q))
    return [_ok()]


async def delete_security_group(region: Region, q: Query) -> list[ET.Element]:
    """DeleteSecurityGroup: DependencyViolation while a task or another group's rule uses it."""
    group_id = _group_id(region, q)
    await region.security_groups.delete(group_id)
    region.tags.pop(_arn(region, group_id), None)
    return [_ok(), _xml("groupId", group_id)]


def _matches(region: Region, group: SecurityGroup, name: str, values: list[str]) -> bool:
    field = {
        "group-id": group.group_id,
        "group-name": group.group_name,
        "description": group.description,
        "vpc-id": group.vpc_id,
        "owner-id": region.account,
    }[name]
    return field in values


async def describe_security_groups(region: Region, q: Query) -> list[ET.Element]:
    """DescribeSecurityGroups: by ids, names and filters (group-id, group-name,
    description, vpc-id, owner-id); paginated with MaxResults (5-1000) and NextToken."""
    ids = [str(i) for i in q.items("GroupId")]
    groups = region.security_groups.describe(ids or None)
    names = [str(n) for n in q.items("GroupName")]
    if names:
        wanted = {_by_name(region, n).group_id for n in names}
        groups = [g for g in groups if g.group_id in wanted]
    for f in q.items("Filter"):
        name = q.text("Name", f, required=True)
        if name not in _FILTERS:
            raise Ec2Error(
                "InvalidParameterValue",
                f"The filter '{name}' is invalid: pyecs filters by {', '.join(_FILTERS)}",
            )
        values = [str(v) for v in q.items("Value", f)]
        groups = [g for g in groups if _matches(region, g, name, values)]
    size = q.integer("MaxResults")
    if size is not None and not 5 <= size <= 1000:
        raise Ec2Error("InvalidParameterValue", f"MaxResults must be from 5 to 1000, not {size}")
    token = q.text("NextToken")
    start = 0
    if token is not None:
        if not token.isdigit() or int(token) > len(groups):
            raise Ec2Error(
                "InvalidParameterValue",
                f"NextToken {token!r} is not one this listing gave; start again without it",
            )
        start = int(token)
    end = len(groups) if size is None else start + size
    out = [_xml("securityGroupInfo", []), *([_xml("nextToken", end)] if end < len(groups) else [])]
    out[0].extend(_group_xml(region, g) for g in groups[start:end])
    return out


HANDLERS: Final[dict[str, Ec2Handler]] = {
    "CreateSecurityGroup": create_security_group,
    "AuthorizeSecurityGroupIngress": authorize_security_group_ingress,
    "RevokeSecurityGroupIngress": revoke_security_group_ingress,
    "DeleteSecurityGroup": delete_security_group,
    "DescribeSecurityGroups": describe_security_groups,
}
