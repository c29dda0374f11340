"""Settings of a simulated fleet run, and the time window they describe."""

from __future__ import annotations

from dataclasses import dataclass

from fleetgraph.core.clock import minute_floor_us, wall_clock_us
from fleetgraph.core.errors import ConfigError
from fleetgraph.core.units import DAY_US, HOUR_US, MINUTE_US, SECOND_US

__all__ = ["DAY_US", "HOUR_US", "INF", "MINUTE_US", "SECOND_US", "SimulationConfig"]
INF = 2**62  # "not before the end of time": an open interval's end


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate; the same config (with a fixed ``end_time_us``) gives the same events."""

    seed: int = 7
    sites: int = 40  # full scale is 1000
    hours: float = 24.0  # length of the simulated window
    end_time_us: int | None = None  # None: now, rounded down to the minute (a "live" demo)
    jobs_per_site_per_hour: float = 2.0
    telemetry_interval_s: int = 300  # per component reading cadence
    gpus_sampled_per_rack: int = 1  # GPUs per rack that report readings (volume stays sane)
    cdu_fault_rate: float = 0.05  # random CDU faults per CDU per day, besides the staged ones
    power_shelf_fault_rate: float = 0.02  # random power-shelf faults per shelf per day
    staged_cdu_faults: int = 3  # CDU faults staged over a running job on a rack the CDU cools
    rack_moves: int = 2  # racks moved to another CDU in the window, each with a staged fault
    duplicate_rate: float = 0.02  # fraction of events delivered twice
    duplicate_max_delay_s: int = 600  # how much later a duplicate arrives, at most
    reorder_rate: float = 0.05  # fraction of events delivered late (out of order)
    reorder_max_delay_s: int = 120
    heartbeat_rate: float = 0.03  # heartbeats mixed in, per clean event
    malformed_rate: float = 0.0  # extra malformed messages, per good message (messages only)
    regions: tuple[str, ...] = ("west", "central", "east")

    def __post_init__(self) -> None:
        if self.sites < 1:
            raise ConfigError(f"sites must be at least 1, not {self.sites}")
        if not self.hours > 0:
            raise ConfigError(f"hours must be positive, not {self.hours}")
        if self.telemetry_interval_s < 10:
            raise ConfigError("telemetry_interval_s must be at least 10 seconds")
        if not self.regions:
            raise ConfigError("at least one region is needed")
        for name in ("duplicate_rate", "reorder_rate", "heartbeat_rate", "malformed_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be within [0, 1], not {value}")
        for name in ("jobs_per_site_per_hour", "cdu_fault_rate", "power_shelf_fault_rate"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if min(self.reorder_max_delay_s, self.duplicate_max_delay_s) < 1:
            raise ConfigError("delivery delays must be at least one second")


@dataclass(frozen=True)
class Window:
    """The simulated time window ``[start_us, end_us)``."""

    start_us: int
    end_us: int

    @property
    def length_us(self) -> int:
        return self.end_us - self.start_us

    def at(self, fraction: float) -> int:
        """The time a fraction of the way through the window."""
        return self.start_us + int(self.length_us * fraction)


def window_of(config: SimulationConfig) -> Window:
    end = config.end_time_us
    if end is None:
        end = minute_floor_us(wall_clock_us())
    return Window(end - int(config.hours * HOUR_US), end)
