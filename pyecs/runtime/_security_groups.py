"""The security groups of a cluster: EC2's calls, and the policy every change publishes.

The registry keeps the groups; each change publishes a new
:class:`~pyecs.models.security_group.SecurityPolicy` to the backend
(``Backend.apply_security_groups``), which enforces it where it can
(``capabilities.security_groups``), and to whoever reads :attr:`policy` (the load
balancers check their targets against it at every health check).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio
import attrs

from pyecs.exceptions import InvalidParameterError, SecurityGroupError, SecurityGroupNotFoundError
from pyecs.models.security_group import (
    IngressRule,
    SecurityGroup,
    SecurityPolicy,
    ingress_rules_from,
)

__all__ = ["SecurityGroupRegistry"]

#: EC2's limit on a group's name and description.
_MAX_TEXT = 255


class SecurityGroupRegistry:
    """The groups of one cluster.

    Args:
        cluster: The cluster name (for messages).
        in_use: The group ids that tasks which are not STOPPED name.
        publish: Called with the new policy after every change (the backend's
            ``apply_security_groups``).
    """

    def __init__(
        self,
        cluster: str,
        in_use: Callable[[], set[str]],
        publish: Callable[[SecurityPolicy], Awaitable[None]] | None = None,
    ) -> None:
        self.cluster = cluster
        self._in_use = in_use
        self.publish = publish
        self._groups: dict[str, SecurityGroup] = {}
        self._lock = anyio.Lock()

    @property
    def policy(self) -> SecurityPolicy:
        """Every group now (a frozen value)."""
        return SecurityPolicy(tuple(self._groups.values()))

    def get(self, group_id: str) -> SecurityGroup:
        """The group of that id.

        Raises:
            SecurityGroupNotFoundError: naming the groups there are.
        """
        group = self._groups.get(group_id)
        if group is None:
            raise SecurityGroupNotFoundError(
                f"The security group '{group_id}' does not exist in cluster {self.cluster!r} "
                f"(groups: {', '.join(self._groups) or 'none'}); create it with "
                "cluster.create_security_group(name)"
            )
        return group

    def check(self, group_ids: Iterable[str], where: str = "securityGroups") -> None:
        """Every id names a group (what ECS checks of ``awsvpcConfiguration``).

        Raises:
            SecurityGroupNotFoundError: naming the first unknown id and the field.
        """
        for gid in group_ids:
            if gid not in self._groups:
                raise SecurityGroupNotFoundError(
                    f"Error retrieving security group information for [{gid}] ({where}): "
                    f"The security group '{gid}' does not exist in cluster {self.cluster!r} "
                    f"(groups: {', '.join(self._groups) or 'none'}); create it with "
                    "cluster.create_security_group(name) and use its group_id"
                )

    def describe(self, group_ids: Sequence[str] | None = None) -> list[SecurityGroup]:
        """The groups of these ids (all when None), in creation order.

        Raises:
            SecurityGroupNotFoundError: an id names no group.
        """
        if group_ids is None:
            return list(self._groups.values())
        return [self.get(gid) for gid in group_ids]

    async def create(self, name: str, description: str = "") -> SecurityGroup:
        """A new group with no inbound rule (EC2: it admits nothing until authorized).

        Raises:
            SecurityGroupError: InvalidGroup.Duplicate when the name is taken.
            InvalidParameterError: an empty or too long name or description.
        """
        for field, text in (("group name", name), ("description", description)):
            if not isinstance(text, str) or len(text) > _MAX_TEXT:
                raise InvalidParameterError(
                    f"the {field} must be a string of at most 255 characters"
                )
        if not name:
            raise InvalidParameterError("the group name must not be empty")
        if name.lower().startswith("sg-"):
            raise InvalidParameterError(
                f"group name {name!r} cannot start with 'sg-' (EC2 keeps that for ids)"
            )
        if any(g.group_name == name for g in self._groups.values()):
            raise SecurityGroupError(
                "InvalidGroup.Duplicate",
                f"The security group '{name}' already exists in cluster {self.cluster!r}; "
                "pick another name or use the existing group",
            )
        group = SecurityGroup(f"sg-{uuid.uuid4().hex[:17]}", name, description)
        async with self._lock:
            self._groups[group.group_id] = group
            await self._publish()
        return group

    async def authorize(self, group_id: str, rules: object) -> SecurityGroup:
        """Add inbound rules; new connections they admit are allowed at once.

        Raises:
            SecurityGroupNotFoundError: the group, or a rule's source group, is unknown.
            SecurityGroupError: InvalidPermission.Duplicate for a rule the group has.
        """
        group = self.get(group_id)
        new = ingress_rules_from(rules)
        self._check_sources(new)
        for rule in new:
            if rule in group.ingress or new.count(rule) > 1:
                raise SecurityGroupError(
                    "InvalidPermission.Duplicate",
                    f"the specified rule {_show(rule)} already exists in {group_id}",
                )
        async with self._lock:
            group = self._groups[group_id] = attrs.evolve(
                self.get(group_id), ingress=self.get(group_id).ingress + new
            )
            await self._publish()
        return group

    async def revoke(self, group_id: str, rules: object) -> SecurityGroup:
        """Remove inbound rules; new connections they admitted are refused at once
        (connections already open continue, as in EC2).

        Raises:
            SecurityGroupNotFoundError: the group is unknown.
            SecurityGroupError: InvalidPermission.NotFound for a rule the group lacks.
        """
        group = self.get(group_id)
        gone = ingress_rules_from(rules)
        for rule in gone:
            if rule not in group.ingress:
                raise SecurityGroupError(
                    "InvalidPermission.NotFound",
                    f"The specified rule {_show(rule)} does not exist in {group_id}; "
                    "describe_security_groups shows its rules",
                )
        async with self._lock:
            kept = tuple(r for r in self.get(group_id).ingress if r not in gone)
            group = self._groups[group_id] = attrs.evolve(self.get(group_id), ingress=kept)
            await self._publish()
        return group

    async def delete(self, group_id: str) -> None:
        """Delete a group no task uses and no other group's rule names.

        Raises:
            SecurityGroupNotFoundError: unknown group.
            SecurityGroupError: DependencyViolation, naming what still uses it.
        """
        self.get(group_id)
        if group_id in self._in_use():
            raise SecurityGroupError(
                "DependencyViolation",
                f"resource {group_id} has a dependent object: tasks that are not STOPPED use "
                "it; stop them (or their service) first",
            )
        users = [
            g.group_id
            for g in self._groups.values()
            if g.group_id != group_id and any(r.source_group == group_id for r in g.ingress)
        ]
        if users:
            raise SecurityGroupError(
                "DependencyViolation",
                f"resource {group_id} has a dependent object: rules of {', '.join(users)} "
                "name it as their source; revoke those rules first",
            )
        async with self._lock:
            self._groups.pop(group_id, None)
            await self._publish()

    def _check_sources(self, rules: Sequence[IngressRule]) -> None:
        for rule in rules:
            if rule.source_group is not None:
                self.check([rule.source_group], "UserIdGroupPairs.GroupId")

    async def _publish(self) -> None:
        if self.publish is not None:
            with anyio.CancelScope(shield=True):  # a half-published change would lie
                await self.publish(self.policy)


def _show(rule: IngressRule) -> str:
    source = rule.cidr or rule.source_group
    ports = "" if rule.protocol == "-1" else f" {rule.from_port}-{rule.to_port}"
    return f"({rule.protocol}{ports} from {source})"
