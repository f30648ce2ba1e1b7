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


InUse = Callable[[], set[str]]
Publish = Callable[[SecurityPolicy], Awaitable[None]]


class SecurityGroupRegistry:
    """Security groups, for one cluster or shared by several (EC2 groups belong to a VPC,
    not to a cluster: ``pyecs serve`` gives every cluster of a region the same registry).

    ``Cluster(security_groups=registry)`` shares it; each open cluster attaches what its
    tasks use and where its policy goes, so that a group a task of *any* of them uses
    cannot be deleted, and every change reaches every cluster's backend.

    Args:
        scope: What the groups belong to, for messages (``"region us-east-1"``).
    """

    def __init__(self, scope: str = "this registry") -> None:
        if not isinstance(scope, str) or not scope:
            raise InvalidParameterError(f"scope must be a non-empty string, got {scope!r}")
        self.scope = scope
        self._users: list[tuple[InUse, Publish | None]] = []
        self._groups: dict[str, SecurityGroup] = {}
        self._lock = anyio.Lock()

    def attach(self, in_use: InUse, publish: Publish | None = None) -> Callable[[], None]:
        """Add a user of the groups (a cluster): ``in_use`` gives the group ids its tasks
        that are not STOPPED name; ``publish`` is called with the policy after every change.

        Returns:
            A function that detaches it again (idempotent).
        """
        user = (in_use, publish)
        self._users.append(user)

        def detach() -> None:
            if user in self._users:
                self._users.remove(user)

        return detach

    def _in_use(self) -> set[str]:
        return {gid for in_use, _ in list(self._users) for gid in in_use()}

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
                f"The security group '{group_id}' does not exist in {self.scope} "
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
                    f"The security group '{gid}' does not exist in {self.scope} "
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

    def restore(self, groups: Iterable[SecurityGroup]) -> None:
        """Put back groups a state store kept, with their ids (before any cluster opens).

        Raises:
            SecurityGroupError: InvalidGroup.Duplicate when an id or a name is taken.
        """
        for group in groups:
            if group.group_id in self._groups or any(
                g.group_name == group.group_name for g in self._groups.values()
            ):
                raise SecurityGroupError(
                    "InvalidGroup.Duplicate",
                    f"cannot restore security group {group.group_id} ({group.group_name}): "
                    f"{self.scope} has it already",
                )
            self._groups[group.group_id] = group

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
                f"The security group '{name}' already exists in {self.scope}; "
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
        policy = self.policy
        with anyio.CancelScope(shield=True):  # a half-published change would lie
            for _, publish in list(self._users):
                if publish is not None:
                    await publish(policy)


def _show(rule: IngressRule) -> str:
    source = rule.cidr or rule.source_group
    ports = "" if rule.protocol == "-1" else f" {rule.from_port}-{rule.to_port}"
    return f"({rule.protocol}{ports} from {source})"
