"""The public surface is a contract: this test changes only on purpose."""

from __future__ import annotations

import subprocess
import sys

import pyecs

EXPECTED = [
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


def test_public_surface_is_locked() -> None:
    assert pyecs.__all__ == EXPECTED
    assert sorted(pyecs.__all__) == pyecs.__all__
    for name in pyecs.__all__:
        assert hasattr(pyecs, name), name


def test_every_error_derives_from_the_root() -> None:
    from pyecs import exceptions

    for name in exceptions.__all__:
        obj = getattr(exceptions, name)
        if isinstance(obj, type) and issubclass(obj, Warning):
            assert issubclass(obj, UserWarning), name  # a warning is not an error
        elif isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, pyecs.PyecsError), name


def test_importing_pyecs_does_not_import_docker() -> None:
    code = "import sys, pyecs; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
