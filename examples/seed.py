"""The seed scenario: cluster ``production``, task definition ``web-app``, a 2-task service.

Run it with ``make demo``. It

1. loads ``examples/task-definition.json`` (the ECS example, unchanged) and registers it;
2. picks a backend: Docker when an engine answers (running ``web-app.docker.json``, a
   busybox ``httpd`` built locally, since no image registry may be reachable), else local
   processes (``web-app.process.json``, Python's ``http.server``), and says which;
3. registers that runnable revision of ``web-app``, creates service ``web-app`` with 2 tasks,
   waits for a steady state and shows the tasks, their endpoints and health;
4. sends one request to each task and shows the service's metrics (CPUUtilization,
   MemoryUtilization, RunningTaskCount: the cluster samples them every second here);
5. scales to 3 and back to 2, prints the service events, deletes the service and leaves
   the cluster, which removes everything it started.

``python examples/seed.py --backend process|docker`` forces a backend.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

import anyio

import pyecs
from pyecs.abc import Backend

HERE = Path(__file__).resolve().parent


def choose_backend(wanted: str) -> tuple[Backend, Path, str]:
    """The backend to use, the runnable task definition for it, and why it was chosen."""
    if wanted in ("auto", "docker"):
        try:
            from pyecs.backends.docker import DockerBackend
            from pyecs.testing.images import docker_client, ensure_busybox_image

            client = docker_client()
            try:
                ensure_busybox_image(client, "pyecs-examples/busybox:latest")
            finally:
                client.close()
            return (
                DockerBackend(pull="never"),
                HERE / "web-app.docker.json",
                "a Docker engine answered",
            )
        except Exception as exc:  # any failure means: no usable engine
            if wanted == "docker":
                raise SystemExit(f"--backend docker: {exc}") from None
            reason = f"no usable Docker engine ({str(exc).splitlines()[0][:120]})"
    else:
        reason = "asked for"
    from pyecs.backends.process import ProcessBackend

    return ProcessBackend(), HERE / "web-app.process.json", reason


def fetch(endpoint: str) -> str:
    """GET / on a task's published port (127.0.0.1 only)."""
    with urllib.request.urlopen(f"http://{endpoint}/", timeout=5) as response:
        body = response.read(200).decode(errors="replace").strip().splitlines()
    return f"HTTP {response.status}: {body[0][:60] if body else ''}"


#: What the metrics table shows: (namespace, metric name).
METRICS = (
    ("AWS/ECS", "CPUUtilization"),
    ("AWS/ECS", "MemoryUtilization"),
    ("ECS/ContainerInsights", "RunningTaskCount"),
)
#: Seconds between metric samples (CloudWatch's high resolution; the default is 5).
RESOLUTION = 1
#: Samples of each metric the table waits for.
SAMPLES = 3


async def show_metrics(cluster: pyecs.Cluster, svc: pyecs.Service) -> None:
    """Wait for a few samples of the service's metrics, then print them as a table."""
    dims = {"ClusterName": cluster.name, "ServiceName": svc.name}
    since = anyio.current_time()

    def samples(namespace: str, name: str) -> list[float]:
        return [v for t, v in cluster.metrics.points(namespace, name, dims) if t >= since]

    print(f"collecting {SAMPLES} samples of the service's metrics ({RESOLUTION} s apart) ...")
    with anyio.fail_after(SAMPLES * RESOLUTION + 20):
        while min(len(samples(ns, name)) for ns, name in METRICS) < SAMPLES:
            await cluster.metrics.wait_round()
    print(f"  {'metric':<20}{'latest':>9}{'min':>9}{'average':>9}{'max':>9}  unit")
    for ns, name in METRICS:
        values = samples(ns, name)
        unit = "%" if name.endswith("Utilization") else "tasks"
        cells = (values[-1], min(values), sum(values) / len(values), max(values))
        print(f"  {name:<20}" + "".join(f"{v:>9.1f}" for v in cells) + f"  {unit}")


def show(svc: pyecs.Service, container: str, port: int) -> None:
    """A small status table of the service's tasks."""
    print(
        f"service {svc.name}: {svc.status}, desired {svc.desired_count}, "
        f"running {svc.running_count}, pending {svc.pending_count}"
    )
    for t in svc.tasks:
        print(
            f"  task {t.id[:12]}  {t.last_status:<8} {t.health_status:<9} "
            f"{t.container_instance_id:<20} {t.endpoint(container, port)}"
        )


async def main(wanted: str) -> None:
    """Run the seed scenario."""
    seed = pyecs.TaskDefinition.from_file(HERE / "task-definition.json")
    backend, runnable, reason = choose_backend(wanted)
    print(f"backend: {backend.name} ({reason})")
    async with pyecs.Cluster(
        "production", backend=backend, metrics_resolution=RESOLUTION
    ) as cluster:
        first = await cluster.register_task_definition(seed)
        print(f"registered {first.family}:{first.revision}  {first.task_definition_arn}")
        print(
            f"  the ECS example: {first.containers[0].image}, cpu {first.reserved_cpu}, "
            f"memory {first.reserved_memory} MiB, port 80->80"
        )
        web = await cluster.register_task_definition(runnable)
        print(f"registered {web.family}:{web.revision}  (runnable here: {runnable.name})")
        container = web.containers[0]
        port = int(container.port_mappings[0].container_port or 0)  # type: ignore[index]

        svc = await cluster.create_service("web-app", task_definition=web.ref, desired_count=2)
        print("waiting for a steady state ...")
        await svc.wait_stable(timeout=120)
        show(svc, str(container.name), port)
        for t in svc.tasks:
            endpoint = t.endpoint(str(container.name), port)
            print(f"  GET http://{endpoint}/ -> {fetch(endpoint)}")
        await show_metrics(cluster, svc)

        print("scaling to 3 ...")
        await svc.update(desired_count=3)
        await svc.wait_stable(timeout=120)
        show(svc, str(container.name), port)
        print("scaling back to 2 ...")
        await svc.update(desired_count=2)
        await svc.wait_stable(timeout=120)
        show(svc, str(container.name), port)

        print("service events:")
        for event in reversed(svc.events):
            print(f"  {event.created_at:%H:%M:%S} {event.message}")
        await svc.delete(force=True)
        await svc.wait_inactive(timeout=60)
        print(f"service {svc.name} is {svc.status}; leaving the cluster removes everything")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("auto", "docker", "process"), default="auto")
    args = parser.parse_args()
    try:
        anyio.run(main, args.backend)
    except pyecs.PyecsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
