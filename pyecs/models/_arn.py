"""ARNs shaped like AWS's, with a region and account that say plainly they are local."""

from __future__ import annotations

import re

import attrs

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "TASK_DEFINITION_ARN_RE", "ArnFactory"]

#: The region pyecs writes into ARNs unless told otherwise.
DEFAULT_REGION = "local"
#: The account pyecs writes into ARNs unless told otherwise (not a real AWS account).
DEFAULT_ACCOUNT = "000000000000"

TASK_DEFINITION_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:ecs:(?P<region>[^:]*):(?P<account>[^:]*):task-definition/"
    r"(?P<family>[A-Za-z0-9_-]{1,255}):(?P<revision>\d+)$"
)


@attrs.frozen
class ArnFactory:
    """Builds the ARNs of one cluster's resources."""

    cluster: str
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT

    def _prefix(self) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}"

    @property
    def cluster_arn(self) -> str:
        """``arn:aws:ecs:<region>:<account>:cluster/<name>``."""
        return f"{self._prefix()}:cluster/{self.cluster}"

    def task_definition(self, family: str, revision: int) -> str:
        """``...:task-definition/<family>:<revision>``."""
        return f"{self._prefix()}:task-definition/{family}:{revision}"

    def task(self, task_id: str) -> str:
        """``...:task/<cluster>/<id>``."""
        return f"{self._prefix()}:task/{self.cluster}/{task_id}"

    def service(self, name: str) -> str:
        """``...:service/<cluster>/<name>``."""
        return f"{self._prefix()}:service/{self.cluster}/{name}"

    def container_instance(self, instance_id: str) -> str:
        """``...:container-instance/<cluster>/<id>``."""
        return f"{self._prefix()}:container-instance/{self.cluster}/{instance_id}"
