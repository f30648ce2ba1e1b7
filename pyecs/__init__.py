"""pyecs: Amazon ECS semantics as an importable async Python library.

Importing pyecs never imports the docker SDK; :mod:`pyecs.backends` does, on demand.
"""

# First: pyecs.ecs installs the task-definition codec that pyecs.models uses (models
# import nothing above them). Importing any pyecs.* module runs this file first.
import pyecs.ecs  # noqa: F401
from pyecs.autoscaling import (
    CustomizedMetricSpecification,
    PredefinedMetricSpecification,
    ScalableTargetAction,
    StepAdjustment,
    StepScalingPolicyConfiguration,
    SuspendedState,
    TargetTrackingScalingPolicyConfiguration,
)
from pyecs.cluster._cluster import (
    Cluster,
)
from pyecs.exceptions import (
    BackendError,
    ClusterClosedError,
    InvalidParameterError,
    InvalidTaskDefinitionError,
    PlacementError,
    PyecsError,
    QuerySyntaxError,
    ScalingObjectNotFoundError,
    SecurityGroupError,
    SecurityGroupNotFoundError,
    ServiceNotFoundError,
    StateStoreError,
    TaskDefinitionNotFoundError,
    TaskDefinitionWarning,
    TaskNotFoundError,
    TimeoutError,
)
from pyecs.lb import (
    LoadBalancer,
    TargetGroupHealthCheck,
)
from pyecs.metrics import MetricStore
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
from pyecs.models.capacity import (
    CapacityProvider,
    CapacityProviderStrategyItem,
    ManagedScaling,
)
from pyecs.models.instance import (
    ContainerInstance,
    InstanceSpec,
    Resources,
)
from pyecs.models.network import AwsVpcConfiguration
from pyecs.models.security_group import IngressRule, SecurityGroup, SecurityPolicy
from pyecs.models.service import (
    CircuitBreaker,
    Deployment,
    DeploymentConfiguration,
    RestartBackoff,
)
from pyecs.models.task import (
    AdoptableTask,
    Container,
    NetworkBinding,
    NetworkInterface,
    Task,
)
from pyecs.placement import (
    BinPack,
    DistinctInstance,
    MemberOf,
    Random,
    Spread,
)
from pyecs.runtime._events import (
    ServiceEvent,
    TaskStateChange,
)
from pyecs.runtime._registry import (
    DeleteTaskDefinitionsResult,
    TaskDefinitionFailure,
    TaskDefinitionRegistry,
)
from pyecs.runtime._security_groups import SecurityGroupRegistry
from pyecs.runtime._tasks import (
    DescribeServicesResult,
    DescribeTasksResult,
    RunTaskResult,
    TaskFailure,
)
from pyecs.service._service import (
    Service,
)
from pyecs.service.features._discovery import (
    Endpoint,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "AdoptableTask",
    "AwsVpcConfiguration",
    "BackendError",
    "BinPack",
    "Capabilities",
    "CapacityProvider",
    "CapacityProviderStrategyItem",
    "CircuitBreaker",
    "Cluster",
    "ClusterClosedError",
    "Container",
    "ContainerDefinition",
    "ContainerDependency",
    "ContainerInstance",
    "CustomizedMetricSpecification",
    "DeleteTaskDefinitionsResult",
    "Deployment",
    "DeploymentConfiguration",
    "DescribeServicesResult",
    "DescribeTasksResult",
    "DistinctInstance",
    "DockerVolumeConfiguration",
    "Endpoint",
    "EnvironmentFile",
    "HealthCheck",
    "HostEntry",
    "HostVolumeProperties",
    "IngressRule",
    "InstanceSpec",
    "InvalidParameterError",
    "InvalidTaskDefinitionError",
    "KeyValuePair",
    "LinuxParameters",
    "LoadBalancer",
    "LogConfiguration",
    "ManagedScaling",
    "MemberOf",
    "MetricStore",
    "MountPoint",
    "NetworkBinding",
    "NetworkInterface",
    "PlacementError",
    "PortMapping",
    "PredefinedMetricSpecification",
    "PyecsError",
    "QuerySyntaxError",
    "Random",
    "Resources",
    "RestartBackoff",
    "RestartPolicy",
    "RunTaskResult",
    "ScalableTargetAction",
    "ScalingObjectNotFoundError",
    "Secret",
    "SecurityGroup",
    "SecurityGroupError",
    "SecurityGroupNotFoundError",
    "SecurityGroupRegistry",
    "SecurityPolicy",
    "Service",
    "ServiceEvent",
    "ServiceNotFoundError",
    "Spread",
    "StateStoreError",
    "StepAdjustment",
    "StepScalingPolicyConfiguration",
    "SuspendedState",
    "Tag",
    "TargetGroupHealthCheck",
    "TargetTrackingScalingPolicyConfiguration",
    "Task",
    "TaskDefinition",
    "TaskDefinitionFailure",
    "TaskDefinitionNotFoundError",
    "TaskDefinitionPlacementConstraint",
    "TaskDefinitionRegistry",
    "TaskDefinitionWarning",
    "TaskFailure",
    "TaskNotFoundError",
    "TaskStateChange",
    "TimeoutError",
    "Tmpfs",
    "Ulimit",
    "Volume",
    "VolumeFrom",
    "__version__",
]
