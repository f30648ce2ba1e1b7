"""The ECS deployment rules on the pure planner alone: values in, a plan out, no Service."""

from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest

from pyecs.models.instance import ContainerInstance, Resources
from pyecs.models.service import DeploymentConfiguration
from pyecs.models.snapshot import DeploymentState, ServiceSnapshot
from pyecs.models.task import Container, Task
from pyecs.service._plan import make_plan, scale_in_need

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NEW, OLD = "ecs-svc/2", "ecs-svc/1"


def instance(i: int, status: str = "ACTIVE") -> ContainerInstance:
    return ContainerInstance(
        id=f"i-{i}",
        arn=f"arn:aws:ecs:local:0:container-instance/c/i-{i}",
        ec2_instance_id=f"i-{i}",
        status=status,
        agent_connected=True,
        agent_version="1.82.0",
        registered_at=T0,
        attributes={},
        registered_resources=Resources(cpu=4096, memory=8192),
        remaining_resources=Resources(cpu=4096, memory=8192),
    )


def task(n: int, deployment: str = NEW, *, status: str = "RUNNING", on: int = 1, **kw: Any) -> Task:
    return Task(
        arn=f"arn:task/{n}",
        id=str(n),
        cluster_arn="arn:cluster/c",
        task_definition_arn="arn:td/web:1",
        container_instance_id=f"i-{on}",
        container_instance_arn=f"arn:ci/i-{on}",
        group="service:web",
        last_status=status,  # type: ignore[arg-type]
        started_by=deployment,
        containers=(Container(name="web", image="nginx", essential=True),),
        **kw,
    )


def snapshot(
    tasks: list[Task],
    *,
    desired: int,
    minimum: int = 100,
    maximum: int = 200,
    deployments: tuple[DeploymentState, ...] = (DeploymentState(NEW, "PRIMARY", "IN_PROGRESS"),),
    now: float = 100.0,
    **kw: Any,
) -> ServiceSnapshot:
    """Every RUNNING task has run long enough to be healthy (healthy_delay 0)."""
    return ServiceSnapshot(
        name="web",
        status="ACTIVE",
        scheduling_strategy="REPLICA",
        desired_count=desired,
        deployment_configuration=DeploymentConfiguration(
            minimum_healthy_percent=minimum, maximum_percent=maximum
        ),
        deployments=deployments,
        tasks=tuple(tasks),
        instances=(instance(1), instance(2)),
        daemon_instances=(),
        now=now,
        running_since={t.arn: 0.0 for t in tasks if t.last_status == "RUNNING"},
        healthy_delay=0.0,
        **kw,
    )


ROLLING = (
    DeploymentState(NEW, "PRIMARY", "IN_PROGRESS"),
    DeploymentState(OLD, "ACTIVE", "COMPLETED"),
)


def test_a_new_service_starts_its_desired_count() -> None:
    plan = make_plan(snapshot([], desired=3))
    assert plan.start == [([], 3)]
    assert not plan.stop and not plan.steady


def test_all_desired_tasks_healthy_is_steady() -> None:
    plan = make_plan(snapshot([task(1), task(2)], desired=2))
    assert plan.completed and plan.steady
    assert plan.start == [] and plan.stop == []


@pytest.mark.parametrize(
    ("desired", "minimum", "maximum", "stops", "starts"),
    [
        (4, 50, 200, 2, 4),  # ECS: desired 4, min 50 -> may stop 2 first
        (2, 75, 200, 0, 2),  # desired 2, min 75 -> can stop none (lower bound 2)
        (3, 100, 125, 0, 0),  # desired 3, max 125 -> can start none (upper bound 3)
    ],
)
def test_rolling_deployment_bounds_follow_ecs_rounding(
    desired: int, minimum: int, maximum: int, stops: int, starts: int
) -> None:
    old = [task(i, OLD) for i in range(desired)]
    plan = make_plan(
        snapshot(old, desired=desired, minimum=minimum, maximum=maximum, deployments=ROLLING)
    )
    assert len(plan.stop) == stops
    assert sum(n for _, n in plan.start) == starts


def test_no_room_to_move_is_reported_stuck() -> None:
    old = [task(i, OLD) for i in range(3)]
    plan = make_plan(snapshot(old, desired=3, maximum=100, deployments=ROLLING))
    assert plan.stuck


def test_scale_in_stops_unhealthy_tasks_first_then_in_the_given_order() -> None:
    tasks = [task(1), task(2), task(3), task(4, status="PENDING")]
    snap = snapshot(tasks, desired=2)
    candidates, count = scale_in_need(snap)
    assert candidates == {"arn:task/1", "arn:task/2", "arn:task/3"}
    assert count == 1  # the PENDING one goes first, by health
    plan = make_plan(attrs.evolve(snap, scale_in_order=("arn:task/2", "arn:task/1")))
    assert [arn for arn, _ in plan.stop] == ["arn:task/4", "arn:task/2"]


def test_unhealthy_tasks_are_replaced_only_after_the_grace_period() -> None:
    sick = task(1, health_status="UNHEALTHY")
    early = make_plan(snapshot([sick], desired=1, now=5.0, health_check_grace_period=10.0))
    assert early.unhealthy == [] and early.next_check == 10.0
    late = make_plan(snapshot([sick], desired=1, now=20.0, health_check_grace_period=10.0))
    assert late.unhealthy == ["arn:task/1"]
    assert late.start == [([], 1)]  # its replacement, in the same pass


def test_tasks_on_a_draining_instance_are_moved() -> None:
    tasks = [task(1, on=1), task(2, on=2)]
    snap = attrs.evolve(
        snapshot(tasks, desired=2, minimum=50), instances=(instance(1, "DRAINING"), instance(2))
    )
    plan = make_plan(snap)
    assert [arn for arn, _ in plan.stop] == ["arn:task/1"]
    assert plan.start == [([], 1)]


@pytest.mark.parametrize("on", [3, 1])
def test_displaced_instances_move_tasks_without_an_instance_listing(on: int) -> None:
    """A service names the instances its tasks must leave instead of listing them all;
    a task on an instance that is no longer registered (i-3) moves as well."""
    tasks = [task(1, on=on), task(2, on=2)]
    snap = attrs.evolve(
        snapshot(tasks, desired=2, minimum=50),
        instances=(),
        displaced_instances=frozenset({f"i-{on}"}),
    )
    plan = make_plan(snap)
    assert [arn for arn, _ in plan.stop] == ["arn:task/1"]
    assert plan.start == [([], 1)]
    assert plan.others == 1
    listed = make_plan(attrs.evolve(snap, instances=(instance(1), instance(2)))).stop
    assert listed == plan.stop  # the named ones win over the listing
    unknown = attrs.evolve(snap, displaced_instances=None, instances=(instance(2),))
    assert [arn for arn, _ in make_plan(unknown).stop] == ["arn:task/1"]


def test_a_feature_holding_a_task_back_keeps_the_service_from_steady() -> None:
    snap = snapshot([task(1)], desired=1, held_back=frozenset({"arn:task/1"}))
    assert not make_plan(snap).steady
    assert make_plan(attrs.evolve(snap, held_back=frozenset())).steady


def test_throttled_starts_wait_and_say_when() -> None:
    plan = make_plan(snapshot([], desired=2, next_launch_at=130.0))
    assert plan.start == [] and plan.next_check == 130.0


def test_a_failed_deployment_starts_nothing() -> None:
    failed = (DeploymentState(NEW, "PRIMARY", "FAILED"),)
    assert make_plan(snapshot([], desired=2, deployments=failed)).start == []


def test_a_draining_service_stops_everything() -> None:
    snap = attrs.evolve(snapshot([task(1), task(2)], desired=0), status="DRAINING")
    assert [arn for arn, _ in make_plan(snap).stop] == ["arn:task/1", "arn:task/2"]


def test_each_backoff_hold_keeps_back_one_start_until_it_expires() -> None:
    snap = snapshot([task(1), task(2)], desired=4, backoff_holds=(103.0, 90.0))
    plan = make_plan(snap)
    assert plan.start == [([], 1)]  # 2 missing, 1 held (the one at 90 s has expired)
    assert plan.next_check == 103.0
    assert make_plan(attrs.evolve(snap, now=104.0)).start == [([], 2)]
