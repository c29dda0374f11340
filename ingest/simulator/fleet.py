"""The simulated fleet's layout: sites, racks, cooling, power, compute, and its catalogue.

Everything here is static and deterministic from the seed: what is installed
where, what cools and feeds what at the start of the window, and who and what
(users, applications, models, datasets) the workload draws on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from ingest.simulator.config import SimulationConfig


@dataclass(frozen=True, slots=True)
class GpuGeneration:
    name: str
    server_model: str
    gpu_model: str
    gpus_per_server: int
    memory_gb: int
    idle_w: float
    max_w: float


GENERATIONS: dict[str, GpuGeneration] = {
    g.name: g
    for g in (
        GpuGeneration("h100", "hgx-h100", "h100-sxm", 8, 80, 90.0, 700.0),
        GpuGeneration("h200", "hgx-h200", "h200-sxm", 8, 141, 90.0, 700.0),
        GpuGeneration("b200", "hgx-b200", "b200", 8, 192, 120.0, 1000.0),
        GpuGeneration("gb200", "gb200-nvl72-tray", "gb200", 4, 186, 150.0, 1200.0),
        GpuGeneration("mi300x", "mi300x-platform", "mi300x", 8, 192, 100.0, 750.0),
    )
}

REGION_JURISDICTIONS: dict[str, tuple[str, ...]] = {
    "west": ("us-ca", "us-or", "us-wa", "us-az"),
    "central": ("us-tx", "us-il", "us-co", "us-mn"),
    "east": ("us-ny", "us-va", "us-ga", "us-pa"),
    "europe": ("eu-de", "eu-fr", "eu-ie", "eu-nl"),
}
REGION_UTC_OFFSET_H: dict[str, int] = {"west": -8, "central": -6, "east": -5, "europe": 1}
FOREIGN_JURISDICTIONS = ("eu-de", "eu-fr", "uk", "jp")  # where some datasets originate
INSTRUMENT_KINDS = ("3d_printer", "furnace", "microscope", "sequencer", "spectrometer")
MODEL_FAMILIES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("llama", (8, 70, 405)),
    ("mistral", (7, 22, 123)),
    ("qwen", (7, 32, 72)),
    ("gemma", (2, 9, 27)),
    ("phi", (4, 14)),
    ("deepseek", (16, 236)),
    ("olmo", (7, 13, 32)),
    ("granite", (3, 8, 34)),
)
DATASET_TOPICS = (
    "web-corpus", "code", "clinical-notes", "satellite", "materials", "protein",
    "speech", "finance", "legal", "weather", "robotics", "chemistry",
)
APPLICATION_NAMES = (
    "chat-assistant", "code-review", "protein-fold", "materials-sim", "doc-search",
    "fraud-scoring", "vision-inspect", "agent-ops", "forecasting", "translation",
)
APPLICATION_KINDS = ("training", "inference", "batch_inference", "agentic")
ORGS = ("research", "platform", "product", "science", "partners")
SHELF_KW = 250.0  # solid-state power shelves stay under 300 kW
SITE_MAX_KW = 1500.0
STAGING_SITES = 2  # the first sites always have several racks and CDUs, for staged incidents


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


def content_hash(rng: random.Random) -> str:
    """A sha256-like content hash (64 hex digits)."""
    return f"{rng.getrandbits(256):064x}"


def artifact_id_of(hash_hex: str) -> str:
    return f"artifact:sha256-{hash_hex[:16]}"


def build_fleet(config: SimulationConfig) -> Fleet:
    """The fleet's layout and catalogue, deterministic from ``config.seed``."""
    rng = random.Random(f"{config.seed}:fleet")
    sites = tuple(_build_site(rng, config, n) for n in range(1, config.sites + 1))
    catalogue = random.Random(f"{config.seed}:catalogue")
    users = _build_users(catalogue, config)
    jurisdictions = sorted({s.jurisdiction for s in sites})
    return Fleet(
        sites=sites,
        instruments=_build_instruments(rng, sites),
        users=users,
        applications=_build_applications(catalogue, config, users),
        models=_build_models(catalogue, config),
        datasets=_build_datasets(catalogue, config, jurisdictions),
    )


def _build_site(rng: random.Random, config: SimulationConfig, n: int) -> Site:
    code = f"s{n:04d}"
    region = config.regions[(n - 1) % len(config.regions)]
    jurisdiction = rng.choice(REGION_JURISDICTIONS.get(region, (f"{region}-1",)))
    staged = n <= STAGING_SITES
    design = "B" if staged or rng.random() < 0.7 else "A"
    if design == "A":
        capacities = [float(rng.choice((900, 1000, 1100)))]
        added = False
    else:
        count = rng.randint(3, 6) if staged else rng.randint(2, 6)
        top = max(250, int(SITE_MAX_KW / count) // 50 * 50)
        capacities = [float(rng.choice([c for c in (250, 300, 350, 400, 500) if c <= top]))
                      for _ in range(count)]
        added = count >= 3 and not staged and rng.random() < 0.25
    cdus = _build_cdus(rng, code, design, len(capacities), staged)
    shelves = _build_power_shelves(rng, code, sum(capacities))
    racks = tuple(
        _build_rack(rng, code, i, cap, design, cdus, shelves,
                    added_in_window=added and i == len(capacities))
        for i, cap in enumerate(capacities, start=1)
    )
    return Site(
        id=f"site:{code}",
        name=f"{jurisdiction.split('-')[-1]}-{region}-{n:04d}",
        region=region,
        jurisdiction=jurisdiction,
        design=design,
        racks=racks,
        cdus=cdus,
        power_shelves=shelves,
        leaf_switch_id=f"switch:{code}-leaf1",
        utc_offset_h=REGION_UTC_OFFSET_H.get(region, 0),
        solar_peak_kw=float(rng.randrange(100, 401, 10)),
        battery_kwh=float(rng.randrange(500, 2001, 100)),
    )


def _build_cdus(
    rng: random.Random, code: str, design: str, rack_count: int, staged: bool
) -> tuple[Cdu, ...]:
    if design == "A":
        count, capacity = (1 if rng.random() < 0.5 else 2), 1200.0
    else:
        count = min(3, math.ceil(rack_count / 2)) + (1 if rng.random() < 0.5 else 0)
        count, capacity = (max(2, count) if staged else count), 600.0
    return tuple(Cdu(f"cdu:{code}-c{i}", f"site:{code}", capacity) for i in range(1, count + 1))


def _build_power_shelves(
    rng: random.Random, code: str, total_kw: float
) -> tuple[PowerShelf, ...]:
    count = max(2, math.ceil(total_kw / SHELF_KW))
    spare = rng.random() < 0.6
    return tuple(
        PowerShelf(f"power_shelf:{code}-p{i}", f"site:{code}", SHELF_KW, spare and i > count)
        for i in range(1, count + 1 + (1 if spare else 0))
    )


def _build_rack(
    rng: random.Random,
    code: str,
    number: int,
    capacity_kw: float,
    design: str,
    cdus: tuple[Cdu, ...],
    shelves: tuple[PowerShelf, ...],
    *,
    added_in_window: bool,
) -> Rack:
    rack_code = f"{code}-r{number}"
    if design == "A":
        generation = GENERATIONS[rng.choice(("gb200", "gb200", "b200"))]
        cooled_by = tuple(c.id for c in cdus)
        powered_by = tuple(p.id for p in shelves)
    else:
        generation = GENERATIONS[rng.choice(sorted(GENERATIONS))]
        primary = cdus[(number - 1) % len(cdus)]  # row CDUs, round robin
        others = [c for c in cdus if c is not primary]
        second = [rng.choice(others)] if others and rng.random() < 0.4 else []
        cooled_by = tuple(c.id for c in [primary, *second])
        main = [s for s in shelves if not s.spare]
        pair = {main[(2 * (number - 1)) % len(main)].id, main[(2 * number - 1) % len(main)].id}
        powered_by = tuple(s.id for s in shelves if s.id in pair or s.spare)
    server_count = max(4, min(18, round(capacity_kw / 1000 * 18 * rng.uniform(0.7, 1.0))))
    servers = tuple(
        Server(
            id=f"server:{rack_code}-n{i:02d}",
            rack_id=f"rack:{rack_code}",
            site_id=f"site:{code}",
            generation=generation,
            gpu_ids=tuple(f"gpu:{rack_code}-n{i:02d}-g{g}"
                          for g in range(generation.gpus_per_server)),
        )
        for i in range(1, server_count + 1)
    )
    return Rack(
        id=f"rack:{rack_code}",
        site_id=f"site:{code}",
        capacity_kw=capacity_kw,
        generation=generation,
        servers=servers,
        tor_switch_id=f"switch:{code}-tor{number}",
        cdu_ids=cooled_by,
        power_shelf_ids=powered_by,
        added_in_window=added_in_window,
    )


def _build_instruments(rng: random.Random, sites: tuple[Site, ...]) -> tuple[Instrument, ...]:
    count = max(1, len(sites) // 4)
    return tuple(
        Instrument(f"instrument:i{n:04d}", rng.choice(sites).id, rng.choice(INSTRUMENT_KINDS))
        for n in range(1, count + 1)
    )


def _build_users(rng: random.Random, config: SimulationConfig) -> tuple[User, ...]:
    count = max(12, min(400, config.sites))
    return tuple(User(f"user:u{n:03d}", f"user{n:03d}", rng.choice(ORGS))
                 for n in range(1, count + 1))


def _build_applications(
    rng: random.Random, config: SimulationConfig, users: tuple[User, ...]
) -> tuple[Application, ...]:
    count = max(8, min(200, config.sites // 2))
    return tuple(
        Application(
            id=f"application:a{n:04d}",
            name=f"{APPLICATION_NAMES[(n - 1) % len(APPLICATION_NAMES)]}-{n}",
            job_kind=rng.choice(APPLICATION_KINDS),
            user_ids=tuple(u.id for u in rng.sample(users, rng.randint(1, 4))),
        )
        for n in range(1, count + 1)
    )


def _build_models(rng: random.Random, config: SimulationConfig) -> tuple[Model, ...]:
    names = [(family, size) for family, sizes in MODEL_FAMILIES for size in sizes]
    count = max(8, min(20, 8 + config.sites // 20))
    models = []
    for family, size in rng.sample(names, min(count, len(names))):
        name = f"{family}-{size}b-v{rng.randint(1, 4)}"
        digest = content_hash(rng)
        models.append(Model(
            id=f"model:m-{name}",
            name=name,
            family=family,
            params_b=float(size),
            weights_id=artifact_id_of(digest),
            weights_hash=digest,
            weights_size=int(size * 2e9),  # bf16
        ))
    return tuple(sorted(models, key=lambda m: m.id))


def _build_datasets(
    rng: random.Random, config: SimulationConfig, jurisdictions: list[str]
) -> tuple[Dataset, ...]:
    count = max(6, min(60, 6 + config.sites // 4))
    return tuple(
        Dataset(
            id=f"dataset:ds-{n:04d}",
            name=f"{DATASET_TOPICS[(n - 1) % len(DATASET_TOPICS)]}-{n}",
            jurisdiction=(rng.choice(FOREIGN_JURISDICTIONS) if rng.random() < 0.15
                          else rng.choice(jurisdictions)),
            content_hash=content_hash(rng),
            size_bytes=rng.randrange(10**9, 5 * 10**12),
        )
        for n in range(1, count + 1)
    )
