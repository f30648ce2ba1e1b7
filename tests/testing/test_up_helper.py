"""``up()`` and ``ServiceUp``: what the fixtures hand back, used directly."""

from __future__ import annotations

import socket
import sys
import urllib.request

import pytest
from plugin_support import web_td

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.testing import ClusterFixture, SyncClusterFixture, make_backend, wait_http
from pyecs.testing._up import pick_port

pytestmark = pytest.mark.anyio


def test_the_port_is_the_first_essential_containers_first_mapping() -> None:
    td = pyecs.TaskDefinition.from_dict(
        {
            "family": "two",
            "containerDefinitions": [
                {"name": "side", "image": "s", "memory": 8, "essential": False,
                 "portMappings": [{"containerPort": 9000}]},
                {"name": "app", "image": "a", "memory": 8,
                 "portMappings": [{"containerPort": 80}, {"containerPort": 81}]},
                {"name": "quiet", "image": "q", "memory": 8},
            ],
        }
    )  # fmt: skip
    assert pick_port(td, None, None) == ("app", 80)
    assert pick_port(td, None, 9000) == ("side", 9000)
    assert pick_port(td, "app", 81) == ("app", 81)
    with pytest.raises(pyecs.InvalidParameterError, match="maps no containerPort 82"):
        pick_port(td, "app", 82)
    with pytest.raises(pyecs.InvalidParameterError, match="has no portMappings"):
        pick_port(td, "quiet", None)
    with pytest.raises(KeyError):
        pick_port(td, "nope", None)


async def test_up_names_services_after_the_family_and_reads_endpoints_live() -> None:
    td = web_td()
    td["containerDefinitions"][0]["healthCheck"] = {"command": ["CMD", "true"]}
    async with ClusterFixture("up-names", backend=SimulatedBackend()) as cluster:
        first = await cluster.up(td, desired_count=2)
        second = await cluster.up(td)
        assert (first.service.name, second.service.name) == ("web", "web-2")
        assert len(first.endpoints) == 2
        assert first.url == f"http://{first.endpoints[0]}"
        await first.service.update(desired_count=3)
        await first.service.wait_stable(timeout=10)
        assert len(first.endpoints) == 3


async def test_a_definition_without_ports_has_no_url() -> None:
    td = {"family": "quiet", "containerDefinitions": [{"name": "q", "image": "q", "memory": 8}]}
    async with ClusterFixture(
        "up-quiet", backend=SimulatedBackend(), task_healthy_delay=0
    ) as cluster:
        up = await cluster.up(td)
        assert up.endpoints == []
        with pytest.raises(pyecs.PyecsError, match="publishes no port"):
            _ = up.url
        with pytest.raises(pyecs.InvalidParameterError, match="http_path needs"):
            await cluster.up(td, http_path="/")


async def test_wait_http_says_what_it_saw() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(pyecs.TimeoutError, match=r"did not answer within 0\.3 s \(last: OSError"):
        await wait_http(f"127.0.0.1:{port}", "/", timeout=0.3)


@pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")
def test_up_behind_a_load_balancer_hands_back_its_url() -> None:
    with SyncClusterFixture(
        "up-lb", backend=make_backend("process"), task_healthy_delay=0.2
    ) as cluster:
        up = cluster.up(
            web_td(),
            desired_count=2,
            http_path="/",
            timeout=30,
            load_balancers=[
                pyecs.LoadBalancer(
                    container_name="web",
                    container_port=8080,
                    deregistration_delay=0,
                    # Ten failed checks (2 s) before a slow-starting server is unhealthy.
                    health_check=pyecs.TargetGroupHealthCheck(
                        interval=0.2, timeout=0.2, healthy_threshold=1, unhealthy_threshold=10
                    ),
                )
            ],
        )
        assert up.address == up.service.load_balancer.address
        assert up.address not in up.endpoints
        with urllib.request.urlopen(up.url, timeout=5) as response:
            assert response.status == 200


@pytest.mark.skipif(sys.platform != "linux", reason="process backend: Linux")
def test_an_answer_to_http_path_counts_as_healthy_before_the_healthy_delay() -> None:
    # Without health checks a task counts as healthy after task_healthy_delay (an hour
    # here); up(http_path=) sees it answer, so the service is stable long before that.
    with SyncClusterFixture(
        "up-serving", backend=make_backend("process"), task_healthy_delay=3600
    ) as cluster:
        up = cluster.up(web_td(), desired_count=2, http_path="/", timeout=30)
        service = up.service
        assert service.is_stable()
        assert [d.rollout_state for d in service.deployments] == ["COMPLETED"]
        assert any("has reached a steady state" in e.message for e in service.events)
        # Without http_path nothing proves readiness: the delay applies.
        with pytest.raises(pyecs.TimeoutError, match="not stable after 2"):
            cluster.up(web_td(), timeout=2)
