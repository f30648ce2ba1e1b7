"""The raw docker SDK baseline the Docker benchmarks compare pyecs with.

Creates and starts containers with ``APIClient.create_container`` + ``start`` from a thread
pool as large as the backend's SDK concurrency, labelled so that whatever is left is
removed at the end.
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid

import docker

#: Identifies one benchmark run (container names and labels).
RUN = uuid.uuid4().hex[:8]
#: The label every raw container (and network) of a run carries, valued RUN.
RAW_LABEL = "pyecs-benchmark"
#: A busybox command that sleeps until SIGTERM.
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]


class RawDocker:
    """Creates and starts the same containers with the docker SDK from a thread pool.

    Args:
        image: The image (the busybox test image).
        threads: Concurrent SDK calls (the backend's ``max_pool_size - 1``).
        memory_mib: The memory limit of each container.
        port: Publish container port 8080 on a dynamic 127.0.0.1 port.
        network: Attach to this network instead of the default bridge.
        aliases: Names the container answers to on ``network`` (a service's name).
        environment: Environment of each container.
    """

    def __init__(
        self,
        image: str,
        threads: int,
        *,
        memory_mib: int,
        port: bool = False,
        network: str | None = None,
        aliases: list[str] | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.client = docker.DockerClient.from_env(max_pool_size=threads + 1)
        self.api = self.client.api
        self.image = image
        self.memory_mib = memory_mib
        self.port = port
        self.network = network
        self.aliases = aliases
        self.environment = environment
        self.pool = concurrent.futures.ThreadPoolExecutor(threads)
        self.count = 0

    def _one(self, index: int) -> str:
        api = self.api
        host_config = api.create_host_config(
            mem_limit=self.memory_mib * 1024 * 1024,
            port_bindings={"8080/tcp": ("127.0.0.1", None)} if self.port else None,
            network_mode=self.network,
        )
        networking = None
        if self.network and self.aliases:
            endpoint = api.create_endpoint_config(aliases=self.aliases)
            networking = api.create_networking_config({self.network: endpoint})
        created = api.create_container(
            self.image,
            command=SLEEP,
            name=f"pyecs-bench-raw-{RUN}-{self.network or 'bridge'}-{index}",
            labels={RAW_LABEL: RUN},
            environment=self.environment,
            ports=[8080] if self.port else None,
            host_config=host_config,
            networking_config=networking,
            detach=True,
        )
        api.start(created["Id"])
        return str(created["Id"])

    def start(self, n: int) -> float:
        """Create and start ``n`` containers; return the wall time, then remove them."""
        first = self.count
        self.count += n
        began = time.perf_counter()
        ids = list(self.pool.map(self._one, range(first, first + n)))
        elapsed = time.perf_counter() - began
        list(self.pool.map(lambda rid: self.api.remove_container(rid, force=True), ids))
        return elapsed

    def kill(self, runtime_id: str) -> None:
        """``docker kill``: SIGKILL."""
        self.api.kill(runtime_id)

    def close(self) -> None:
        """Remove whatever of this run is left, and close the client."""
        try:
            filters = {"label": f"{RAW_LABEL}={RUN}"}
            for item in self.api.containers(all=True, filters=filters):
                self.api.remove_container(item["Id"], force=True)
        finally:
            self.pool.shutdown()
            self.client.close()
