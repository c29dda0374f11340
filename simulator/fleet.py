"""The simulated fleet as data: sites, racks, cooling, power, compute, and its catalogue.

Everything here is static: what is installed where, what cools and feeds what
at the start of the window, and who and what (users, applications, models,
datasets) the workload draws on. :mod:`fleetgraph.simulator.layout` draws it from
the seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuGeneration:
    name: str
    server_model: str
    gpu_model: str
    gpus_per_server: int
    memory_gb: int
    idle_w: float
    max_w: float


@dataclass(frozen=True, slots=True)
class Server:
    id: str
    rack_id: str
    site_id: str
    generation: GpuGeneration
    gpu_ids: tuple[str, ...]

    def attributes(self) -> dict[str, str]:
        return {"model": self.generation.server_model, "gpu_count": str(len(self.gpu_ids))}

    def gpu_attributes(self) -> dict[str, str]:
        return {"model": self.generation.gpu_model, "memory_gb": str(self.generation.memory_gb)}


@dataclass(frozen=True, slots=True)
class Rack:
    id: str
    site_id: str
    capacity_kw: float
    generation: GpuGeneration
    servers: tuple[Server, ...]
    tor_switch_id: str
    cdu_ids: tuple[str, ...]  # cooled_by when installed
    power_shelf_ids: tuple[str, ...]  # powered_by
    added_in_window: bool = False  # installed during the window (design B sites fill up)

    @property
    def gpu_count(self) -> int:
        return sum(len(s.gpu_ids) for s in self.servers)

    def attributes(self) -> dict[str, str]:
        return {"capacity_kw": _kw(self.capacity_kw), "gpu_generation": self.generation.name}


@dataclass(frozen=True, slots=True)
class Cdu:
    id: str
    site_id: str
    capacity_kw: float


@dataclass(frozen=True, slots=True)
class PowerShelf:
    id: str
    site_id: str
    capacity_kw: float
    spare: bool = False  # the N+1 shelf


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    region: str
    jurisdiction: str
    design: str  # "A" or "B"
    racks: tuple[Rack, ...]
    cdus: tuple[Cdu, ...]
    power_shelves: tuple[PowerShelf, ...]
    leaf_switch_id: str
    utc_offset_h: int
    solar_peak_kw: float
    battery_kwh: float

    def capacity_kw(self, with_added: bool = False) -> float:
        return sum(r.capacity_kw for r in self.racks if with_added or not r.added_in_window)

    def attributes(self) -> dict[str, str]:
        return {
            "name": self.name,
            "region": self.region,
            "jurisdiction": self.jurisdiction,
            "design": self.design,
            "capacity_kw": _kw(self.capacity_kw()),
        }


@dataclass(frozen=True, slots=True)
class Instrument:
    id: str
    site_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    org: str


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    name: str
    job_kind: str  # the kind of most of its jobs
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    name: str
    family: str
    params_b: float
    weights_id: str
    weights_hash: str
    weights_size: int

    def attributes(self) -> dict[str, str]:
        return {"name": self.name, "family": self.family, "params_b": _kw(self.params_b)}


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    name: str
    jurisdiction: str
    content_hash: str
    size_bytes: int


@dataclass(frozen=True)
class Fleet:
    sites: tuple[Site, ...]
    instruments: tuple[Instrument, ...]
    users: tuple[User, ...]
    applications: tuple[Application, ...]
    models: tuple[Model, ...]
    datasets: tuple[Dataset, ...]

    def racks(self) -> Iterator[Rack]:
        for site in self.sites:
            yield from site.racks

    def servers(self) -> Iterator[Server]:
        for rack in self.racks():
            yield from rack.servers

    def cdus(self) -> Iterator[Cdu]:
        for site in self.sites:
            yield from site.cdus

    def power_shelves(self) -> Iterator[PowerShelf]:
        for site in self.sites:
            yield from site.power_shelves

    def gpu_count(self) -> int:
        return sum(r.gpu_count for r in self.racks())


def _kw(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"

