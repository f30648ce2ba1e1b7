"""Auto scaling on a real clock and real CPU: the process backend, tasks that burn CPU on
request. AWS's 60 s alarm period is shortened through the explicit ``alarm_period``."""

from __future__ import annotations

import sys
import urllib.request

import anyio
import pytest

import pyecs
from pyecs.autoscaling import PredefinedMetricSpecification
from pyecs.backends import ProcessBackend
from pyecs.testing import wait_http

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: A task that serves /burn (start a busy loop: one core) and /stop (end it) on $PORT.
BURNER = """
import http.server, os, threading
busy = threading.Event()
def burn():
    while True:
        busy.wait()
        while busy.is_set():
            pass
threading.Thread(target=burn, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        (busy.set if self.path == "/burn" else busy.clear)()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""

TD = {
    "family": "burner",
    "cpu": "256",
    "memory": "128",
    "containerDefinitions": [
        {
            "name": "web",
            "image": "python",
            "command": [sys.executable, "-c", BURNER],
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
        }
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # a real clock: not the package's MockClock


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=5) as r:
        r.read()


async def wait_desired(svc: pyecs.Service, count: int, timeout: float) -> float:
    start = anyio.current_time()
    with anyio.fail_after(timeout):
        while svc.desired_count != count:
            await svc.change_event.wait()
    return anyio.current_time() - start


async def test_cpu_target_tracking_scales_out_under_load_and_back_in_after() -> None:
    async with pyecs.Cluster(
        "production", backend=ProcessBackend(), metrics_resolution=1, task_healthy_delay=0
    ) as cluster:
        await cluster.register_task_definition(TD)
        svc = await cluster.create_service("burner", task_definition="burner", desired_count=1)
        await svc.wait_stable(timeout=20)
        resource = "service/production/burner"
        cluster.autoscaling.register_scalable_target(
            resource_id=resource, min_capacity=1, max_capacity=4
        )
        cluster.autoscaling.put_scaling_policy(
            policy_name="cpu50",
            resource_id=resource,
            target_tracking_scaling_policy_configuration=pyecs.TargetTrackingScalingPolicyConfiguration(
                target_value=50,
                predefined_metric_specification=PredefinedMetricSpecification(
                    "ECSServiceAverageCPUUtilization"
                ),
                alarm_period=1,  # AWS: 60 s; 3 periods above, 15 below 90% of the target
                scale_out_cooldown=3,
                scale_in_cooldown=2,
            ),
        )
        [endpoint] = cluster.discover("burner")
        url = f"http://{endpoint.address}"
        await wait_http(endpoint.address, "/stop", timeout=15)
        await anyio.to_thread.run_sync(get, url + "/burn")
        # One task burning a core against 256 units is 400%: ceil(1 * 400 / 50) -> max 4.
        took_out = await wait_desired(svc, 4, timeout=20)
        await svc.wait_stable(timeout=20)
        await anyio.to_thread.run_sync(get, url + "/stop")
        took_in = await wait_desired(svc, 1, timeout=35)
        # Three one-second datapoints above the target first, fifteen below 90% of it (the
        # datapoint of the second in which the load changed may already count).
        assert took_out >= 2
        assert took_in >= 14
        activities = cluster.autoscaling.describe_scaling_activities(resource_id=resource)
        texts = [a.description for a in activities]
        assert any("desired count to 4" in t for t in texts), texts
        assert any("desired count to 1" in t for t in texts), texts
        await svc.wait_stable(timeout=20)
        assert svc.running_count == 1
