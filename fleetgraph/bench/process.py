"""Child processes of a benchmark (workers, servers) and their peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleetgraph.settings import source_checkout


def peak_rss_of(pid: int) -> float | None:
    """VmHWM (peak resident memory) of a live process in MiB, None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Child:
    """A Python child process whose peak RSS is sampled every ``every_s`` until it ends
    (VmHWM only grows, so the last sample is the peak, give or take that interval)."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str] | None = None,
                 log: Path | None = None, every_s: float = 0.25) -> None:
        self.log = log
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=source_checkout(), env={**os.environ, **(env or {})},
            stdout=out, stderr=subprocess.STDOUT)
        if log is not None:
            out.close()  # type: ignore[union-attr]
        self.peak_rss_mib: float | None = None
        self._every_s = every_s
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.process.poll() is None:
            rss = peak_rss_of(self.process.pid)
            if rss is not None:
                self.peak_rss_mib = max(rss, self.peak_rss_mib or 0.0)
            time.sleep(self._every_s)

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._sampler.join()
        return code

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._sampler.join()
        return self.process.wait()

    def output(self, last: int = 4000) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-last:]
