"""Every ECS action: the handlers pyecs backs, and why it refuses the others."""

from __future__ import annotations

from typing import Final

from pyecs.server import (
    _capacity,
    _cluster_capacity,
    _clusters,
    _definitions,
    _instances,
    _services,
    _tasks,
)
from pyecs.server._call import Handler

__all__ = ["HANDLERS", "REFUSED"]

HANDLERS: Final[dict[str, Handler]] = {
    **_clusters.HANDLERS,
    **_definitions.HANDLERS,
    **_tasks.HANDLERS,
    **_services.HANDLERS,
    **_instances.HANDLERS,
    **_capacity.HANDLERS,
    **_cluster_capacity.HANDLERS,
}

_AGENT = "it is spoken by the ECS container agent; pyecs runs the agent's part itself"
_TASK_SETS = "task sets belong to the EXTERNAL and CODE_DEPLOY deployment controllers"
_DAEMONS = "ECS daemons are not implemented by pyecs"
_GATEWAYS = "gateways and Express services are AWS-managed networking"

#: Actions of the ECS API that ``pyecs serve`` answers with a ClientException, and why.
REFUSED: Final[dict[str, str]] = {
    "RegisterContainerInstance": _AGENT,
    "DiscoverPollEndpoint": _AGENT,
    "SubmitAttachmentStateChanges": _AGENT,
    "SubmitContainerStateChange": _AGENT,
    "SubmitTaskStateChange": _AGENT,
    "UpdateContainerAgent": _AGENT,
    "CreateTaskSet": _TASK_SETS,
    "DeleteTaskSet": _TASK_SETS,
    "DescribeTaskSets": _TASK_SETS,
    "UpdateTaskSet": _TASK_SETS,
    "UpdateServicePrimaryTaskSet": _TASK_SETS,
    "ExecuteCommand": "ECS Exec needs the SSM agent; use `docker exec` on the task's container",
    "GetTaskProtection": "task scale-in protection is not implemented by pyecs",
    "UpdateTaskProtection": "task scale-in protection is not implemented by pyecs",
    "ListServicesByNamespace": "Service Connect namespaces (Cloud Map) are not implemented",
    "DescribeServiceDeployments": "service deployment records are not implemented; "
    "DescribeServices shows the deployments",
    "ListServiceDeployments": "service deployment records are not implemented; "
    "DescribeServices shows the deployments",
    "DescribeServiceRevisions": "service revisions are not implemented; DescribeServices "
    "shows the deployments",
    "StopServiceDeployment": "stopping a deployment is not implemented; update the service "
    "to the task definition you want",
    "ContinueServiceDeployment": "deployment lifecycle hooks are not implemented",
    "CreateDaemon": _DAEMONS,
    "DeleteDaemon": _DAEMONS,
    "DeleteDaemonTaskDefinition": _DAEMONS,
    "DescribeDaemon": _DAEMONS,
    "DescribeDaemonDeployments": _DAEMONS,
    "DescribeDaemonRevisions": _DAEMONS,
    "DescribeDaemonTaskDefinition": _DAEMONS,
    "ListDaemonDeployments": _DAEMONS,
    "ListDaemonTaskDefinitions": _DAEMONS,
    "ListDaemons": _DAEMONS,
    "RegisterDaemonTaskDefinition": _DAEMONS,
    "UpdateDaemon": _DAEMONS,
    "AssociateGatewayWithCluster": _GATEWAYS,
    "CreateExpressGatewayService": _GATEWAYS,
    "CreateGateway": _GATEWAYS,
    "DeleteExpressGatewayService": _GATEWAYS,
    "DeleteGateway": _GATEWAYS,
    "DescribeExpressGatewayService": _GATEWAYS,
    "DescribeGateway": _GATEWAYS,
    "DescribeGatewayResources": _GATEWAYS,
    "DescribeGatewayRoute": _GATEWAYS,
    "DisassociateGatewayFromCluster": _GATEWAYS,
    "ListGatewayClusterAssociations": _GATEWAYS,
    "ListGatewayRoutes": _GATEWAYS,
    "ListGateways": _GATEWAYS,
    "UpdateExpressGatewayService": _GATEWAYS,
    "UpdateGateway": _GATEWAYS,
}
