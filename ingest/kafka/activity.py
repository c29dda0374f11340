"""When a worker last did something: for exit-when-idle, the progress logs and the
worker's report (first event processed, last store write)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Activity:
    """When the worker last did something (for exit-when-idle and logs)."""

    last: float = field(default_factory=time.monotonic)
    assigned: bool = False
    first_event: float | None = None  # wall time of the first source message processed
    last_stored: float | None = None  # wall time of the sink's last store write
    # this process's CPU seconds (time.process_time) at those two points
    first_event_cpu: float | None = None
    last_stored_cpu: float | None = None

    def touch(self) -> None:
        self.last = time.monotonic()

    def event(self) -> None:
        self.touch()
        if self.first_event is None:
            self.first_event = time.time()
            self.first_event_cpu = time.process_time()

    def stored(self) -> None:
        self.touch()
        self.last_stored = time.time()
        self.last_stored_cpu = time.process_time()

    def idle_for(self) -> float:
        return time.monotonic() - self.last
