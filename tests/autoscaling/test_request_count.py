"""ALBRequestCountPerTarget target tracking on a real clock: requests through the service's
load balancer scale it out (the process backend; AWS's 60 s alarm period is shortened
explicitly with ``alarm_period``, as in ``test_real_clock.py``)."""

from __future__ import annotations

import sys

import anyio
import pytest

import pyecs
from pyecs.autoscaling import PredefinedMetricSpecification
from pyecs.backends import ProcessBackend

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: Answers every GET with its task id, one response per connection.
SERVER = """
import http.server, os
TASK = os.environ["PYECS_TASK_ARN"].rsplit("/", 1)[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(TASK)))
        self.end_headers()
        self.wfile.write(TASK)
    def log_message(self, *args):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
S(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""

TD = {
    "family": "web",
    "memory": "64",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "python",
            "command": [sys.executable, "-c", SERVER],
            "portMappings": [{"containerPort": 8080}],
            "stopTimeout": 2,
        }
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # a real clock: not the package's MockClock


async def request(address: str) -> str:
    """One GET on a new connection; the body."""
    host, _, port = address.rpartition(":")
    with anyio.fail_after(10):
        async with await anyio.connect_tcp(host, int(port)) as stream:
            await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                try:
                    data += await stream.receive()
                except anyio.EndOfStream:
                    break
    return data.partition(b"\r\n\r\n")[2].decode()


async def test_request_count_per_target_scales_out_under_load_through_the_balancer() -> None:
    lb = pyecs.LoadBalancer(
        container_name="web",
        container_port=8080,
        deregistration_delay=1,
        health_check=pyecs.TargetGroupHealthCheck(
            protocol="HTTP", interval=0.5, timeout=0.5, healthy_threshold=2
        ),
    )
    async with pyecs.Cluster(
        "production", backend=ProcessBackend(), metrics_resolution=1, task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(TD)
        svc = await cluster.create_service(
            "web", task_definition="web", desired_count=1, load_balancers=[lb]
        )
        await svc.wait_stable(timeout=20)
        resource = "service/production/web"
        cluster.autoscaling.register_scalable_target(
            resource_id=resource, min_capacity=1, max_capacity=3
        )
        cluster.autoscaling.put_scaling_policy(
            policy_name="requests",
            resource_id=resource,
            target_tracking_scaling_policy_configuration=pyecs.TargetTrackingScalingPolicyConfiguration(
                target_value=5,  # requests per target per alarm period
                predefined_metric_specification=PredefinedMetricSpecification(
                    "ALBRequestCountPerTarget"
                ),
                alarm_period=1,  # AWS: 60 s; three periods above the target scale out
                scale_out_cooldown=60,  # one step: ceil(1 x rate / 5) -> the maximum, 3
                disable_scale_in=True,
            ),
        )
        address = svc.load_balancer.address
        answered: set[str] = set()
        errors: list[str] = []

        async def client() -> None:
            while True:
                try:
                    answered.add(await request(address))
                except OSError as exc:  # counted, never hidden
                    errors.append(repr(exc))
                await anyio.sleep(0.02)

        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(3):  # ~100 requests a second at most: far above 5 per target
                tg.start_soon(client)
            with anyio.fail_after(25):
                while svc.desired_count != 3:
                    await svc.change_event.wait()
            took = anyio.current_time() - start
            await svc.wait_stable(timeout=30)
            before = len(answered)
            with anyio.fail_after(10):
                while len(answered) < 3:  # the new tasks receive traffic from the balancer
                    await anyio.sleep(0.1)
            tg.cancel_scope.cancel()
        assert before >= 1
        assert errors == []
        # Three one-second datapoints above the target (the first may be partial).
        assert took >= 2
        points = cluster.metrics.get_metric_statistics(
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
            dimensions={"TargetGroup": svc.load_balancers[0].target_group_arn.rpartition(":")[2]},
            start_time=start,
            end_time=anyio.current_time(),
            period=1,
            statistics=["Sum"],
        )
        assert max(p.sum for p in points) > 5
        [activity] = cluster.autoscaling.describe_scaling_activities(resource_id=resource)
        assert activity.description == "Setting desired count to 3."
        assert "triggered policy requests" in activity.cause
        assert svc.running_count == 3
