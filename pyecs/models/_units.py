"""Task-level ``cpu`` and ``memory`` strings, normalised to CPU units and MiB.

ECS accepts ``"1024"``, ``"1 vCPU"``, ``"0.5 vcpu"``, ``".25 vCPU"`` for CPU and ``"512"``,
``"2GB"``, ``"2 GB"``, ``".5 GB"``, ``"512 MiB"`` for memory (the developer guide's ECS Exec
example sizes its task ``.25 vCPU``).
"""

from __future__ import annotations

import re

__all__ = ["parse_cpu", "parse_memory"]

# A number: digits with an optional fraction ("1", "0.5", "1."), or a bare fraction (".25").
_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_CPU = re.compile(rf"^\s*{_NUMBER}\s*(vcpus?)?\s*$", re.IGNORECASE)
_MEMORY = re.compile(rf"^\s*{_NUMBER}\s*(gb|gib|mb|mib)?\s*$", re.IGNORECASE)


def parse_cpu(value: str | int) -> int:
    """CPU units (1024 per vCPU) for an ECS task ``cpu`` value.

    Raises:
        ValueError: with a message saying which forms are accepted.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _CPU.match(str(value))
    if not m:
        raise ValueError(
            f'{value!r} is not a CPU amount; use CPU units like "1024" or vCPUs like "1 vCPU" '
            'or ".25 vCPU"'
        )
    number = float(m.group(1))
    units = number * 1024 if m.group(2) else number
    if units != int(units):
        raise ValueError(f"{value!r} is not a whole number of CPU units")
    return int(units)


def parse_memory(value: str | int) -> int:
    """MiB for an ECS task ``memory`` value.

    Raises:
        ValueError: with a message saying which forms are accepted.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _MEMORY.match(str(value))
    if not m:
        raise ValueError(
            f'{value!r} is not a memory amount; use MiB like "512" or GB like "2GB" or ".5 GB"'
        )
    number = float(m.group(1))
    unit = (m.group(2) or "").lower()
    mib = number * 1024 if unit in ("gb", "gib") else number
    if mib != int(mib):
        raise ValueError(f"{value!r} is not a whole number of MiB")
    return int(mib)
