"""Service auto scaling under load: target tracking on the requests per target.

1. Service ``web`` runs 1 task behind a load balancer; its desired count is registered as
   a scalable target (1 to 3 tasks) with a target tracking policy on
   ``ALBRequestCountPerTarget``: 5 requests per task per period.
2. Three clients send requests through the balancer, far more than 5 per task: after
   three periods above the target the policy scales the service out to 3, and the
   balancer spreads the requests over the new tasks.
3. The clients stop: after fifteen periods below 90% of the target the policy scales the
   service back in to 1.
4. The scaling activities are printed, as DescribeScalingActivities returns them.

AWS fixes the alarm period at 60 s; this example shortens it to 1 s
(``alarm_period=1`` with ``metrics_resolution=1``) so that it ends in about a minute.

    python examples/autoscaling.py [--backend auto|docker|process]
"""

from __future__ import annotations

import sys

import anyio
from example_support import container, http_server, make, parse_backend

import pyecs
from pyecs.autoscaling import PredefinedMetricSpecification

RESOURCE = "service/scaling/web"


async def request(address: str) -> bool:
    """One GET through the balancer on a new connection (127.0.0.1 only); whether it got 200."""
    host, _, port = address.rpartition(":")
    with anyio.fail_after(10):
        async with await anyio.connect_tcp(host, int(port)) as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                try:
                    data += await stream.receive()
                except anyio.EndOfStream:
                    break
    return data.startswith(b"HTTP/1.") and data.split(b" ", 2)[1] == b"200"


async def show_counts(svc: pyecs.Service) -> None:
    """Print desired / running counts each time they change."""
    last = None
    while True:
        now = (svc.desired_count, svc.running_count)
        if now != last:
            last = now
            print(f"  desired {now[0]}, running {now[1]}")
        await svc.change_event.wait()


async def wait_desired(svc: pyecs.Service, count: int, timeout: float) -> None:
    """Wait until the policy has set the desired count to ``count``."""
    with anyio.fail_after(timeout):
        while svc.desired_count != count:
            await svc.change_event.wait()


async def main() -> int:
    """Scale out under load, back in after it."""
    backend = parse_backend(__doc__.splitlines()[0] if __doc__ else None)
    print(f"backend: {backend}")
    td = {
        "family": "web",
        "containerDefinitions": [
            container(
                backend,
                "web",
                http_server(backend, "hello"),
                portMappings=[{"containerPort": 8080}],
            )
        ],
    }
    lb = pyecs.LoadBalancer(
        container_name="web",
        container_port=8080,
        deregistration_delay=2,
        health_check=pyecs.TargetGroupHealthCheck(
            protocol="HTTP", interval=1, timeout=1, healthy_threshold=2
        ),
    )
    async with pyecs.Cluster("scaling", backend=make(backend), metrics_resolution=1) as cluster:
        await cluster.register_task_definition(td)
        svc = await cluster.create_service(
            "web", task_definition="web", desired_count=1, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=120)
        cluster.autoscaling.register_scalable_target(
            resource_id=RESOURCE, min_capacity=1, max_capacity=3
        )
        policy = cluster.autoscaling.put_scaling_policy(
            policy_name="requests-per-task",
            resource_id=RESOURCE,
            target_tracking_scaling_policy_configuration=pyecs.TargetTrackingScalingPolicyConfiguration(
                target_value=5,
                predefined_metric_specification=PredefinedMetricSpecification(
                    "ALBRequestCountPerTarget"
                ),
                alarm_period=1,  # AWS: 60 s
                scale_out_cooldown=10,
                scale_in_cooldown=5,
            ),
        )
        print(f"policy {policy.policy_name}: alarms {[a.alarm_name for a in policy.alarms]}")
        address = svc.load_balancer.address
        answered = failed = 0

        async def client() -> None:
            nonlocal answered, failed
            while True:
                try:
                    ok = await request(address)
                except OSError:
                    ok = False
                answered, failed = answered + ok, failed + (not ok)
                await anyio.sleep(0.02)

        async with anyio.create_task_group() as tg:
            tg.start_soon(show_counts, svc)
            print(f"1. load through the balancer at {address}")
            async with anyio.create_task_group() as load:
                for _ in range(3):
                    load.start_soon(client)
                await wait_desired(svc, 3, timeout=60)
                await svc.wait_stable(timeout=120)
                load.cancel_scope.cancel()
            print(f"  {answered} requests answered, {failed} failed")
            print("2. no load")
            await wait_desired(svc, 1, timeout=90)
            await svc.wait_stable(timeout=120)
            tg.cancel_scope.cancel()
        activities = cluster.autoscaling.describe_scaling_activities(resource_id=RESOURCE)
        print("3. scaling activities (newest first):")
        for a in activities:
            print(f"  {a.start_time:%H:%M:%S} {a.status_code}: {a.description}")
            print(f"      cause: {a.cause}")
        await svc.delete(force=True)
        await svc.wait_inactive(timeout=120)
    counts = [a.description for a in activities]
    ok = counts == ["Setting desired count to 1.", "Setting desired count to 3."] and failed == 0
    print("as expected" if ok else "unexpected results")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
