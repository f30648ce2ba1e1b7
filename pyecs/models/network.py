"""``networkConfiguration.awsvpcConfiguration`` of a task or service, as a value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from pyecs.exceptions import InvalidParameterError

__all__ = ["AwsVpcConfiguration", "network_configuration_from"]


def _strings(value: object, name: str, most: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidParameterError(
            f"awsvpcConfiguration.{name} must be a list of strings, got {value!r}"
        )
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidParameterError(
            f"awsvpcConfiguration.{name} must hold non-empty strings, got {value!r}"
        )
    if len(value) > most:
        raise InvalidParameterError(
            f"awsvpcConfiguration.{name} takes at most {most} values, got {len(value)}"
        )
    return tuple(value)


@attrs.frozen
class AwsVpcConfiguration:
    """Where an ``awsvpc`` task's network interface goes (ECS ``AwsVpcConfiguration``).

    Attributes:
        subnets: 1-16 subnet ids; the task's ENI is in the first.
        security_groups: Up to 5 security group ids (see ``Cluster.create_security_group``).
        assign_public_ip: ``ENABLED`` or ``DISABLED`` (Fargate only).
    """

    subnets: tuple[str, ...]
    security_groups: tuple[str, ...] = ()
    assign_public_ip: Literal["ENABLED", "DISABLED"] = "DISABLED"

    def to_dict(self) -> dict[str, Any]:
        """The ECS JSON form, ``{"awsvpcConfiguration": {...}}``."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnets),
                "securityGroups": list(self.security_groups),
                "assignPublicIp": self.assign_public_ip,
            }
        }


def network_configuration_from(value: object) -> AwsVpcConfiguration | None:
    """Check ECS ``networkConfiguration`` (or an :class:`AwsVpcConfiguration`).

    Raises:
        InvalidParameterError: with ECS's words where ECS documents them
            (``subnets can not be empty.``).
    """
    if value is None or isinstance(value, AwsVpcConfiguration):
        if isinstance(value, AwsVpcConfiguration) and not value.subnets:
            raise InvalidParameterError(
                "subnets can not be empty. Name at least one subnet in "
                "networkConfiguration.awsvpcConfiguration.subnets"
            )
        return value
    if not isinstance(value, Mapping) or set(value) != {"awsvpcConfiguration"}:
        raise InvalidParameterError(
            "network_configuration must be {'awsvpcConfiguration': {'subnets': [...], "
            f"'securityGroups': [...], 'assignPublicIp': 'DISABLED'}}}}, got {value!r}"
        )
    vpc = value["awsvpcConfiguration"]
    if not isinstance(vpc, Mapping):
        raise InvalidParameterError(f"awsvpcConfiguration must be an object, got {vpc!r}")
    unknown = set(vpc) - {"subnets", "securityGroups", "assignPublicIp"}
    if unknown:
        raise InvalidParameterError(
            f"awsvpcConfiguration has unknown field(s) {', '.join(sorted(unknown))}; "
            "it takes subnets, securityGroups and assignPublicIp"
        )
    subnets = _strings(vpc.get("subnets"), "subnets", 16)
    if not subnets:
        raise InvalidParameterError(
            "subnets can not be empty. Name at least one subnet in "
            "networkConfiguration.awsvpcConfiguration.subnets"
        )
    public = vpc.get("assignPublicIp") or "DISABLED"
    if public not in ("ENABLED", "DISABLED"):
        raise InvalidParameterError(
            f"awsvpcConfiguration.assignPublicIp must be ENABLED or DISABLED, got {public!r}"
        )
    return AwsVpcConfiguration(
        subnets,
        _strings(vpc.get("securityGroups"), "securityGroups", 5),
        "ENABLED" if public == "ENABLED" else "DISABLED",
    )
