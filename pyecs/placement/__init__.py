"""Task placement: the ECS cluster query language, constraints and strategies.

The scheduler follows the ECS order: fit CPU, memory and ports on ACTIVE instances with a
connected agent → constraints (binding) → strategies (best effort, an ordered tie-break
chain) → select. :class:`PlacementState` holds a cluster's instances and reservations.
"""

from pyecs.placement._constraints import (
    MAX_CONSTRAINTS,
    DistinctInstance,
    MemberOf,
    constraint_from,
    constraints_from,
)
from pyecs.placement._protocols import (
    CandidateInstance,
    PlacementConstraint,
    PlacementStrategy,
    PlacementView,
)
from pyecs.placement._scheduler import DEFAULT_ACCOUNT, DEFAULT_REGION, PlacementState
from pyecs.placement._strategies import (
    DEFAULT_SERVICE_STRATEGY,
    MAX_STRATEGIES,
    BinPack,
    Random,
    Spread,
    strategies_from,
    strategy_from,
)
from pyecs.placement._types import (
    FAILURE_REASONS,
    PlacedTask,
    Placement,
    PlacementFailure,
    PlacementRequest,
    PlacementResult,
)

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "DEFAULT_SERVICE_STRATEGY",
    "FAILURE_REASONS",
    "MAX_CONSTRAINTS",
    "MAX_STRATEGIES",
    "BinPack",
    "CandidateInstance",
    "DistinctInstance",
    "MemberOf",
    "PlacedTask",
    "Placement",
    "PlacementConstraint",
    "PlacementFailure",
    "PlacementRequest",
    "PlacementResult",
    "PlacementState",
    "PlacementStrategy",
    "PlacementView",
    "Random",
    "Spread",
    "constraint_from",
    "constraints_from",
    "strategies_from",
    "strategy_from",
]
