"""pyecs: Amazon ECS semantics as an importable async Python library.

Importing pyecs never imports the docker SDK; :mod:`pyecs.backends` does, on demand.
"""

from pyecs._cluster import Cluster
from pyecs._registry import DeleteTaskDefinitionsResult, TaskDefinitionFailure
from pyecs.exceptions import (
    InvalidTaskDefinitionError,
    PyecsError,
    TaskDefinitionNotFoundError,
)
from pyecs.models import (
    Capabilities,
    ContainerDefinition,
    ContainerDependency,
    DockerVolumeConfiguration,
    EnvironmentFile,
    HealthCheck,
    HostEntry,
    HostVolumeProperties,
    KeyValuePair,
    LinuxParameters,
    LogConfiguration,
    MountPoint,
    PortMapping,
    RestartPolicy,
    Secret,
    Tag,
    TaskDefinition,
    TaskDefinitionPlacementConstraint,
    Tmpfs,
    Ulimit,
    Volume,
    VolumeFrom,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Capabilities",
    "Cluster",
    "ContainerDefinition",
    "ContainerDependency",
    "DeleteTaskDefinitionsResult",
    "DockerVolumeConfiguration",
    "EnvironmentFile",
    "HealthCheck",
    "HostEntry",
    "HostVolumeProperties",
    "InvalidTaskDefinitionError",
    "KeyValuePair",
    "LinuxParameters",
    "LogConfiguration",
    "MountPoint",
    "PortMapping",
    "PyecsError",
    "RestartPolicy",
    "Secret",
    "Tag",
    "TaskDefinition",
    "TaskDefinitionFailure",
    "TaskDefinitionNotFoundError",
    "TaskDefinitionPlacementConstraint",
    "Tmpfs",
    "Ulimit",
    "Volume",
    "VolumeFrom",
    "__version__",
]
