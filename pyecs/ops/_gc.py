"""Removing what runs of pyecs left behind when they died (``pyecs gc``, the pytest plugin).

- **Docker**: containers, networks and task volumes labelled by pyecs whose owner process
  is gone (:func:`pyecs.backends.docker.cleanup`); with ``all_owners`` also those of live
  processes (a cluster kept with ``--pyecs-keep`` by a pytest that still runs); and the
  iptables chains of security groups (``PYECS-SG-*``, with their ``DOCKER-USER`` jumps)
  whose owner is gone.
- **Process backend**: its children die with their parent, so normally nothing is left;
  should its watchdog have been killed too, :func:`pyecs.backends.process.process_leftovers`
  kills what dead owners left and deletes their log directories.
"""

from __future__ import annotations

import functools

import anyio
import attrs

from pyecs.abc import BackendCapabilities
from pyecs.backends.process import process_leftovers
from pyecs.ops._choice import docker_unavailable

__all__ = ["GcResult", "collect_garbage", "collect_leftovers_for", "process_leftovers"]


@attrs.frozen
class GcResult:
    """What a collection removed, and what it could not look at."""

    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    processes: tuple[int, ...] = ()
    directories: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    firewall_chains: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing was removed."""
        return not (
            self.containers
            or self.networks
            or self.volumes
            or self.processes
            or self.directories
            or self.firewall_chains
        )

    def lines(self) -> list[str]:
        """A human summary, one line per kind."""
        out = []
        for label, items in (
            ("containers", self.containers),
            ("networks", self.networks),
            ("volumes", self.volumes),
            ("processes", tuple(str(p) for p in self.processes)),
            ("log directories", self.directories),
            ("iptables chains", self.firewall_chains),
        ):
            if items:
                shown = ", ".join(items[:10]) + (", ..." if len(items) > 10 else "")
                out.append(f"removed {len(items)} {label}: {shown}")
        out.extend(f"skipped: {s}" for s in self.skipped)
        return out


async def collect_garbage(
    *, docker: bool = True, processes: bool = True, all_owners: bool = False
) -> GcResult:
    """Remove leftovers of dead pyecs runs (see the module docstring).

    Args:
        docker: Look at the environment's Docker engine (skipped when none answers).
        processes: Look for the process backend's leftovers.
        all_owners: Docker only: also remove what live processes own.
    """
    result = GcResult()
    if processes:
        killed, dirs = process_leftovers()
        result = attrs.evolve(result, processes=killed, directories=dirs)
    if docker:
        why_not = docker_unavailable()
        if why_not is not None:
            return attrs.evolve(result, skipped=(f"Docker: no engine answered ({why_not})",))
        from pyecs.backends.docker import cleanup  # the docker SDK only when asked for
        from pyecs.backends.docker._firewall import firewall_leftovers

        removed = await cleanup(all_owners=all_owners)
        chains = await anyio.to_thread.run_sync(
            functools.partial(firewall_leftovers, all_owners=all_owners)
        )
        result = attrs.evolve(
            result,
            containers=removed.containers,
            networks=removed.networks,
            volumes=removed.volumes,
            firewall_chains=chains,
        )
    return result


async def collect_leftovers_for(capabilities: BackendCapabilities) -> GcResult | None:
    """Remove what dead runs of a backend with these capabilities can have left.

    Containers that outlive their process (Docker) are looked for on the environment's
    engine; a backend of real processes may have left processes and log directories; an
    in-memory one leaves nothing (None: nothing was looked at).
    """
    if not (capabilities.containers_outlive_process or capabilities.real_processes):
        return None
    return await collect_garbage(
        docker=capabilities.containers_outlive_process, processes=capabilities.real_processes
    )
