"""Security groups as values: ingress rules, groups, and the policy that judges a connection.

EC2 semantics: a group is stateful (replies to an admitted connection are allowed), inbound
is denied unless a rule of one of the target's groups admits the connection (by the
source's address in a CIDR, or by one of the source's groups), and outbound is open.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = [
    "IngressRule",
    "SecurityGroup",
    "SecurityPolicy",
    "ingress_rules_from",
]

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}
_ALL = ("-1", "all")


def _protocol(value: object) -> str:
    text = str(value).lower() if isinstance(value, str | int) else ""
    if text in _ALL:
        return "-1"
    if text in _PROTOCOLS:
        return _PROTOCOLS[text]
    raise InvalidParameterError(
        f"IpProtocol {value!r} is not supported; use tcp, udp, icmp or -1 (all traffic)"
    )


@attrs.frozen
class IngressRule:
    """One inbound rule of a security group (one source, one protocol, one port range).

    Attributes:
        protocol: ``tcp``, ``udp``, ``icmp`` or ``-1`` (every protocol; ports then ignored).
        from_port: First port (tcp/udp), or the ICMP type (-1: every type).
        to_port: Last port (tcp/udp), or the ICMP code (-1: every code).
        cidr: The source addresses, an IPv4 CIDR such as ``10.0.0.0/8``; or None.
        source_group: The source security group's id; or None. Exactly one of ``cidr``
            and ``source_group`` is given.
        description: Free text (EC2's rule description).
    """

    protocol: str = attrs.field(converter=_protocol)
    from_port: int = -1
    to_port: int = -1
    cidr: str | None = None
    source_group: str | None = None
    description: str = attrs.field(default="", eq=False)

    def __attrs_post_init__(self) -> None:
        if (self.cidr is None) == (self.source_group is None):
            raise InvalidParameterError(
                "an ingress rule needs exactly one source: cidr='10.0.0.0/8' (IpRanges) or "
                f"source_group='sg-...' (UserIdGroupPairs); got cidr={self.cidr!r}, "
                f"source_group={self.source_group!r}"
            )
        if self.cidr is not None:
            try:
                net = ipaddress.IPv4Network(self.cidr, strict=False)
            except (ValueError, TypeError):
                raise InvalidParameterError(
                    f"CIDR block {self.cidr!r} is malformed; give an IPv4 CIDR such as "
                    "'10.0.0.0/16' (or '0.0.0.0/0' for any address)"
                ) from None
            if str(net) != self.cidr:
                raise InvalidParameterError(
                    f"CIDR block {self.cidr!r} has host bits set; use {str(net)!r}"
                )
        if self.source_group is not None and (
            not isinstance(self.source_group, str) or not self.source_group
        ):
            raise InvalidParameterError(
                f"source_group must be a group id, got {self.source_group!r}"
            )
        for name in ("from_port", "to_port"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameterError(f"{name} must be an integer, got {value!r}")
        if self.protocol in ("tcp", "udp"):
            if not 0 <= self.from_port <= self.to_port <= 65535:
                raise InvalidParameterError(
                    f"{self.protocol} port range {self.from_port}-{self.to_port} is invalid: "
                    "FromPort and ToPort must be 0-65535 with FromPort <= ToPort (use "
                    "protocol -1 for all traffic)"
                )
        elif self.protocol == "icmp":
            if not (-1 <= self.from_port <= 255 and -1 <= self.to_port <= 255):
                raise InvalidParameterError(
                    f"icmp type/code {self.from_port}/{self.to_port} is invalid: FromPort is "
                    "the ICMP type and ToPort the code, each -1 (all) or 0-255"
                )
        elif (self.from_port, self.to_port) != (-1, -1):
            object.__setattr__(self, "from_port", -1)  # all traffic: EC2 ignores ports
            object.__setattr__(self, "to_port", -1)

    def covers(self, protocol: str, port: int) -> bool:
        """Whether a connection on ``protocol`` to ``port`` falls under this rule."""
        if self.protocol == "-1":
            return True
        if self.protocol != protocol:
            return False
        if protocol == "icmp":
            return self.from_port in (-1, port)
        return self.from_port <= port <= self.to_port

    def admits_source(self, groups: Iterable[str], address: str | None) -> bool:
        """Whether the rule's source is one of ``groups`` or contains ``address``."""
        if self.source_group is not None:
            return self.source_group in set(groups)
        if address is None or self.cidr is None:
            return self.cidr == "0.0.0.0/0"
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(self.cidr)

    def to_ec2(self) -> dict[str, Any]:
        """EC2's ``IpPermission`` shape for this one rule."""
        out: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            out.update(FromPort=self.from_port, ToPort=self.to_port)
        desc = {"Description": self.description} if self.description else {}
        if self.cidr is not None:
            out.update(IpRanges=[{"CidrIp": self.cidr, **desc}], UserIdGroupPairs=[])
        else:
            out.update(IpRanges=[], UserIdGroupPairs=[{"GroupId": self.source_group, **desc}])
        return out


def _int(value: object, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidParameterError(f"{where} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterError(f"{where} must be an integer, got {value!r}") from None


def _permission(value: Mapping[str, Any], where: str) -> list[IngressRule]:
    known = {"IpProtocol", "FromPort", "ToPort", "IpRanges", "UserIdGroupPairs"}
    unknown = set(value) - known - {"Ipv6Ranges", "PrefixListIds"}
    if unknown:
        raise InvalidParameterError(
            f"{where} has unknown field(s) {', '.join(sorted(unknown))}; an IpPermission "
            f"takes {', '.join(sorted(known))}"
        )
    if value.get("Ipv6Ranges") or value.get("PrefixListIds"):
        raise InvalidParameterError(
            f"{where}: Ipv6Ranges and PrefixListIds are not supported; use IpRanges or "
            "UserIdGroupPairs"
        )
    if "IpProtocol" not in value:
        raise InvalidParameterError(f"{where}.IpProtocol is required (tcp, udp, icmp or -1)")
    proto = value["IpProtocol"]
    low = _int(value.get("FromPort"), f"{where}.FromPort", -1)
    high = _int(value.get("ToPort"), f"{where}.ToPort", -1)
    rules = []
    for i, r in enumerate(value.get("IpRanges") or ()):
        if not isinstance(r, Mapping) or "CidrIp" not in r:
            raise InvalidParameterError(f"{where}.IpRanges[{i}] must be {{'CidrIp': '...'}}")
        rules.append(
            IngressRule(proto, low, high, cidr=r["CidrIp"], description=r.get("Description", ""))
        )
    for i, p in enumerate(value.get("UserIdGroupPairs") or ()):
        if not isinstance(p, Mapping) or "GroupId" not in p:
            raise InvalidParameterError(
                f"{where}.UserIdGroupPairs[{i}] must be {{'GroupId': 'sg-...'}}"
            )
        rules.append(
            IngressRule(
                proto, low, high, source_group=p["GroupId"], description=p.get("Description", "")
            )
        )
    if not rules:
        raise InvalidParameterError(
            f"{where} names no source: give IpRanges=[{{'CidrIp': ...}}] or "
            "UserIdGroupPairs=[{'GroupId': ...}]"
        )
    return rules


def ingress_rules_from(values: object) -> tuple[IngressRule, ...]:
    """Rules from :class:`IngressRule` objects or EC2 ``IpPermissions`` dicts.

    One ``IpPermission`` with several ranges and groups gives one rule per source.

    Raises:
        InvalidParameterError: naming the entry and field that is wrong.
    """
    if isinstance(values, IngressRule | Mapping):
        values = [values]
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise InvalidParameterError(
            "ingress rules must be a list of pyecs.IngressRule or EC2 IpPermissions dicts"
        )
    out: list[IngressRule] = []
    for i, v in enumerate(values):
        if isinstance(v, IngressRule):
            out.append(v)
        elif isinstance(v, Mapping):
            out.extend(_permission(v, f"IpPermissions[{i}]"))
        else:
            raise InvalidParameterError(
                f"IpPermissions[{i}] must be a pyecs.IngressRule or a dict, got {v!r}"
            )
    return tuple(out)


@attrs.frozen
class SecurityGroup:
    """A security group of a cluster (EC2 ``SecurityGroup``; ingress only, egress open).

    Attributes:
        group_id: ``sg-`` and 17 hex digits.
        group_name: Unique in the cluster.
        description: Free text.
        ingress: The inbound rules; a connection is admitted when one of them admits it.
        vpc_id: The (local, nominal) VPC.
    """

    group_id: str
    group_name: str
    description: str = ""
    ingress: tuple[IngressRule, ...] = ()
    vpc_id: str = "vpc-local"

    def to_ec2(self, owner_id: str) -> dict[str, Any]:
        """EC2's ``SecurityGroup`` shape (one ``IpPermission`` per rule)."""
        return {
            "GroupId": self.group_id,
            "GroupName": self.group_name,
            "Description": self.description,
            "OwnerId": owner_id,
            "VpcId": self.vpc_id,
            "IpPermissions": [r.to_ec2() for r in self.ingress],
            "IpPermissionsEgress": [
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "UserIdGroupPairs": []}
            ],
        }


@attrs.frozen
class SecurityPolicy:
    """Every group of a cluster at one moment: what backends and the balancer enforce."""

    groups: tuple[SecurityGroup, ...] = ()

    def group(self, group_id: str) -> SecurityGroup | None:
        """The group of that id, if any."""
        return next((g for g in self.groups if g.group_id == group_id), None)

    def rules_for(self, target_groups: Iterable[str]) -> list[IngressRule]:
        """The inbound rules of every group of a target (deduplicated, in order)."""
        out: list[IngressRule] = []
        for gid in target_groups:
            group = self.group(gid)
            for rule in group.ingress if group else ():
                if rule not in out:
                    out.append(rule)
        return out

    def admits(
        self,
        target_groups: Sequence[str],
        *,
        source_groups: Sequence[str] = (),
        source_address: str | None = None,
        protocol: str = "tcp",
        port: int,
    ) -> bool:
        """Whether a target in ``target_groups`` admits a new connection from a source.

        A target in no group is not filtered (pyecs enforces only the groups tasks name).
        An unknown source address matches only ``0.0.0.0/0``.
        """
        if not target_groups:
            return True
        return any(
            r.covers(protocol, port) and r.admits_source(source_groups, source_address)
            for r in self.rules_for(target_groups)
        )
