"""This machine's memory as a run may use it: free memory (the machine's or its cgroup's,
the smaller) plus what the process holds, less a margin; or a fixed limit."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Protocol, Tuple

GB = 1e9
# What --memory_limit leaves for everything else on the machine by default.
DEFAULT_MARGIN = 0.10


class MemorySource(Protocol):
    """Where a memory limit comes from: `available()` gives the bytes a run may use and
    a few words saying whence."""

    def available(self) -> Tuple[float, str]:
        ...


@dataclasses.dataclass(frozen=True)
class FixedMemory:
    """A limit given as a number: --memory_limit, or a fake device in tests."""

    limit_bytes: float
    description: str

    def available(self) -> Tuple[float, str]:
        return self.limit_bytes, self.description


@dataclasses.dataclass(frozen=True)
class HostMemory:
    """This machine's memory: what this process may grow to, from free memory (cgroup or
    machine, the smaller) and what it holds already, less DEFAULT_MARGIN."""

    def available(self) -> Tuple[float, str]:
        return available_bytes()


def available_bytes() -> Tuple[float, str]:
    """What this process may grow to: free memory (cgroup or machine, the smaller) plus what
    it holds already, less DEFAULT_MARGIN; and where that number came from."""
    candidates = []
    meminfo = _read_meminfo()
    if "MemAvailable" in meminfo:
        candidates.append((meminfo["MemAvailable"], "available memory"))
    cgroup = _cgroup_free_bytes()
    if cgroup is not None:
        candidates.append((cgroup, "cgroup limit"))
    if not candidates:
        return 8 * GB, "a guess: no /proc/meminfo or cgroup limit found"
    free, source = min(candidates)
    return (free + _resident_bytes()) * (1 - DEFAULT_MARGIN), f"{source} less {DEFAULT_MARGIN:.0%}"


def _read_meminfo() -> dict:
    try:
        with open("/proc/meminfo") as file:
            return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in file}
    except (OSError, ValueError, IndexError):
        return {}


def _read_number(path: str) -> Optional[int]:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_free_bytes() -> Optional[float]:
    """The cgroup's limit less its usage (v2, then v1), or None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_number(limit_file), _read_number(usage_file)
        if limit is not None and usage is not None and limit < 2 ** 60:
            return float(limit - usage)
    return None


def _resident_bytes() -> float:
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0
