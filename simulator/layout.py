"""Drawing the fleet from the seed: sites with their racks, CDUs and power shelves.

Design A sites have one big rack on shared CDUs; design B sites have rows of
smaller racks, each on a row CDU (sometimes a second one) and a pair of power
shelves plus the N+1 spare if there is one. The catalogue comes
from :mod:`fleetgraph.simulator.catalogue`.
"""

from __future__ import annotations

import math
import random

from fleetgraph.simulator.catalogue import (
    build_applications,
    build_datasets,
    build_models,
    build_users,
)
from fleetgraph.simulator.config import SimulationConfig
from fleetgraph.simulator.fleet import (
    Cdu,
    Fleet,
    GpuGeneration,
    Instrument,
    PowerShelf,
    Rack,
    Server,
    Site,
)

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
INSTRUMENT_KINDS = ("3d_printer", "furnace", "microscope", "sequencer", "spectrometer")
SHELF_KW = 250.0  # solid-state power shelves stay under 300 kW
SITE_MAX_KW = 1500.0
STAGING_SITES = 2  # the first sites always have several racks and CDUs, for staged incidents


def build_fleet(config: SimulationConfig) -> Fleet:
    """The fleet's layout and catalogue, deterministic from ``config.seed``."""
    rng = random.Random(f"{config.seed}:fleet")
    sites = tuple(_build_site(rng, config, n) for n in range(1, config.sites + 1))
    catalogue = random.Random(f"{config.seed}:catalogue")
    users = build_users(catalogue, config)
    jurisdictions = sorted({s.jurisdiction for s in sites})
    return Fleet(
        sites=sites,
        instruments=_build_instruments(rng, sites),
        users=users,
        applications=build_applications(catalogue, config, users),
        models=build_models(catalogue, config),
        datasets=build_datasets(catalogue, config, jurisdictions),
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
