"""The console page in a real browser (the system's headless Chromium, through Playwright),
and the console and /metrics as `pyecs serve` mounts them."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import anyio
import pytest

import pyecs
from pyecs.backends.simulated import SimulatedBackend
from pyecs.console import ConsoleApp
from pyecs.server import HttpServer, Server, console_and_metrics

pytestmark = pytest.mark.anyio

TD = {
    "family": "web-app",
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {"name": "web", "image": "web:1", "memory": 512, "portMappings": [{"containerPort": 80}]}
    ],
}


def chromium() -> str:
    """The system Chromium: required under .ci/run (PYECS_REQUIRE_DOCKER), else optional."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("PYECS_REQUIRE_DOCKER") == "1":
            pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.headers.get("content-type", ""), r.read()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Playwright's async API runs on asyncio


async def test_the_page_shows_a_services_tasks_as_they_appear(tmp_path: Path) -> None:
    """Loads the page, creates a service, sees its tasks appear live; a screenshot."""
    executable = chromium()
    from playwright.async_api import async_playwright

    backend = SimulatedBackend()
    async with pyecs.Cluster(
        "production", backend=backend, metrics_resolution=1, task_healthy_delay=0
    ) as cluster:
        console = ConsoleApp(lambda: [cluster], min_interval=0.1)
        app = console_and_metrics(console, lambda: [cluster.metrics])
        async with HttpServer(app) as http, async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 1000})
                await page.goto(f"{http.url}/console/")
                await page.wait_for_selector("#live.on", timeout=15_000)
                await page.wait_for_selector("[data-cluster=production]", timeout=15_000)
                assert await page.locator("tr.task").count() == 0

                await cluster.register_task_definition(TD)
                backend.set_load("web:1", cpu=200, memory=300)
                svc = await cluster.create_service(
                    "web-app", task_definition="web-app", desired_count=2
                )
                running = page.locator("[data-service=web-app] tr.task[data-status=RUNNING]")
                await running.nth(1).wait_for(timeout=15_000)
                assert await running.count() == 2
                ids = {t.id for t in svc.tasks}
                shown = await running.evaluate_all(
                    "rows => rows.map(r => r.getAttribute('data-task-id'))"
                )
                assert set(shown) == ids
                assert await page.inner_text("[data-service=web-app] .desired") == "2"
                # The charts get their points a few metrics rounds later.
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('figcaption .mono')]"
                    ".some(e => e.textContent.endsWith('%') && e.textContent !== '-')",
                    timeout=15_000,
                )
                events = await page.inner_text("[data-service=web-app] ol.events")
                assert "has started 2 tasks" in events
                shot = tmp_path / "console.png"
                await page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                assert console.open_streams == 1
                await page.close()
            finally:
                await browser.close()
            with anyio.fail_after(5):  # the browser went: its stream ended
                while console.open_streams:
                    await anyio.sleep(0.05)


async def test_serve_mounts_the_console_and_metrics() -> None:
    async with Server(backend="simulated", task_healthy_delay=0) as server:
        region = server.state.region("us-east-1")
        async with region.lock:
            entry = await server.state.open_cluster(region, "production")
        await entry.cluster.register_task_definition(TD)
        svc = await entry.cluster.create_service("web-app", task_definition="web-app")
        await svc.wait_stable(timeout=30)

        status, ctype, body = await anyio.to_thread.run_sync(fetch, f"{server.url}/console/")
        assert status == 200 and ctype.startswith("text/html") and b"console.js" in body
        _, ctype, body = await anyio.to_thread.run_sync(fetch, f"{server.url}/console/state")
        state = json.loads(body)
        [cluster] = state["clusters"]
        [service] = cluster["services"]
        assert (service["name"], service["runningCount"]) == ("web-app", 1)
        assert service["deployments"][0]["rolloutState"] == "COMPLETED"
        _, ctype, js = await anyio.to_thread.run_sync(fetch, f"{server.url}/console/console.js")
        assert ctype.startswith("text/javascript") and b"EventSource" in js
        with anyio.fail_after(15):  # the first metrics round (default resolution 5 s)
            await entry.cluster.metrics.wait_round()
        _, ctype, text = await anyio.to_thread.run_sync(fetch, f"{server.url}/metrics")
        assert ctype.startswith("text/plain")
        assert b'ecs_container_insights_running_task_count{cluster_name="production"' in text
