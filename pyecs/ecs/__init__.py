"""ECS JSON: the one place where camelCase ECS shapes become pyecs values and back.

One cattrs converter (:data:`converter`, in :mod:`pyecs.ecs._converter`) turns ECS JSON
into the frozen attrs models of :mod:`pyecs.models` and back, and writes every value ECS
describes (tasks, services, deployments, events, container instances, failures and the
describe/list/run results) in exactly the shape of the ECS API's responses, for example
``json.dumps(pyecs.ecs.describe_tasks_response(cluster.describe_tasks(arns)))`` is what ECS
would answer to DescribeTasks. :func:`to_ecs` writes any one value.

:mod:`pyecs.ecs._validation` checks task definitions against ECS's rules, naming every
problem with its JSON path; types, enum values and required members come from botocore's
ECS model (copied into :mod:`pyecs.ecs._api_model` by ``scripts/gen_ecs_model.py``).
:func:`task_definition_warnings` lists what ECS accepts but may surprise, and
:func:`cli_problems` what the aws CLI alone would refuse (``pyecs validate --strict-cli``).

Importing this package installs the task-definition codec of :mod:`pyecs.models`
(``TaskDefinition.from_dict``, ``.to_dict()``...); ``import pyecs`` does that.
"""

from pyecs.ecs import _codec
from pyecs.ecs._cli_checks import cli_problems
from pyecs.ecs._converter import converter
from pyecs.ecs._protocols import (
    FailureLike,
    LoadBalancerConfigLike,
    ServiceEventLike,
    ServiceLike,
    ServiceLoadBalancerLike,
    ServicesAndFailures,
    TaskDefinitionsAndFailures,
    TasksAndFailures,
)
from pyecs.ecs._responses import (
    create_service_response,
    delete_service_response,
    delete_task_definitions_response,
    deregister_task_definition_response,
    describe_container_instances_response,
    describe_services_response,
    describe_task_definition_response,
    describe_tasks_response,
    list_container_instances_response,
    list_services_response,
    list_task_definition_families_response,
    list_task_definitions_response,
    list_tasks_response,
    register_task_definition_response,
    run_task_response,
    stop_task_response,
    update_service_response,
)
from pyecs.ecs._rules import task_definition_warnings
from pyecs.ecs._shapes import epoch_seconds, task_definition_to_ecs, to_ecs
from pyecs.ecs._validation import quiet_warnings

_codec.install()

__all__ = [
    "FailureLike",
    "LoadBalancerConfigLike",
    "ServiceEventLike",
    "ServiceLike",
    "ServiceLoadBalancerLike",
    "ServicesAndFailures",
    "TaskDefinitionsAndFailures",
    "TasksAndFailures",
    "cli_problems",
    "converter",
    "create_service_response",
    "delete_service_response",
    "delete_task_definitions_response",
    "deregister_task_definition_response",
    "describe_container_instances_response",
    "describe_services_response",
    "describe_task_definition_response",
    "describe_tasks_response",
    "epoch_seconds",
    "list_container_instances_response",
    "list_services_response",
    "list_task_definition_families_response",
    "list_task_definitions_response",
    "list_tasks_response",
    "quiet_warnings",
    "register_task_definition_response",
    "run_task_response",
    "stop_task_response",
    "task_definition_to_ecs",
    "task_definition_warnings",
    "to_ecs",
    "update_service_response",
]
