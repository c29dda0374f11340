"""A description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
import resource
import sys
from typing import Any


def describe() -> dict[str, Any]:
    memory_kib = 0
    try:
        with open("/proc/meminfo") as f:
            memory_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(memory_kib / 2**20, 1),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (VmHWM: unlike ru_maxrss it is not
    inherited from the parent across fork and exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
