#!/usr/bin/env python3
"""A rack inventory (CSV) to fleetgraph inventory events (JSON lines, on stdout).

Columns: site, rack, cdu, power_shelf, servers, gpus_per_server, gpu_model; a cdu or
power_shelf cell may name several, separated by ``;`` (a rack cooled by two CDUs).
Every other column becomes an attribute of the rack: fleetgraph stores the ones the
rack's node type declares and reports the others (``unknown_attribute``).

Ids (docs/events.md): ``site:<site>``, ``cdu:<site>-<cdu>``,
``power_shelf:<site>-<shelf>``, ``rack:<site>-<rack>``, ``server:<site>-<rack>-nNN``
(the server whose hostname is ``<rack>-nNN``), ``gpu:<server>-gK``. Event ids are made
of the component's id, so running the script again gives the same events (ingesting
them again changes nothing).

    python docs/examples/csv_to_events.py racks.csv --at 2026-11-01T00:00:00Z > racks.jsonl

Standard library only: copy it and change it to fit your inventory.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

COLUMNS = ("site", "rack", "cdu", "power_shelf", "servers", "gpus_per_server", "gpu_model")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(text: str) -> int:
    """An ISO 8601 time (no zone: UTC) in microseconds since the Unix epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def server_id(site: str, hostname: str) -> str:
    return f"server:{site}-{hostname}"


def hostnames(rack: str, servers: int) -> list[str]:
    return [f"{rack}-n{n:02d}" for n in range(1, servers + 1)]


def names(cell: str) -> list[str]:
    return [name.strip() for name in cell.split(";") if name.strip()]


def inventory_events(rows: list[dict[str, str]], at_us: int) -> Iterator[dict[str, Any]]:
    """Sites, CDUs and power shelves (once each), then each rack with its links, its
    servers and their GPUs; one microsecond apart, in that order."""
    clock = iter(range(at_us, at_us + 10**9))
    made: set[str] = set()

    def event(kind: str, component: str, key: str = "", **fields: Any) -> dict[str, Any]:
        return {"topic": "inventory", "event_id": f"{kind}:{component}{key}",
                "event_time": next(clock), "kind": kind, "component_id": component, **fields}

    def installed(component: str, parent: str | None,
                  attributes: dict[str, str]) -> Iterator[dict[str, Any]]:
        if component not in made:
            made.add(component)
            yield event("installed", component, parent_id=parent, attributes=attributes)

    for row in rows:
        site = row["site"]
        yield from installed(f"site:{site}", None, {"name": site})
        for cdu in names(row["cdu"]):
            yield from installed(f"cdu:{site}-{cdu}", f"site:{site}", {})
        for shelf in names(row["power_shelf"]):
            yield from installed(f"power_shelf:{site}-{shelf}", f"site:{site}", {})
    for row in rows:
        site, rack = row["site"], f"rack:{row['site']}-{row['rack']}"
        extra = {k: v for k, v in row.items() if k not in COLUMNS and v}
        yield from installed(rack, f"site:{site}", {"gpu_generation": row["gpu_model"], **extra})
        for cdu in names(row["cdu"]):
            yield event("linked", rack, f">cdu:{site}-{cdu}", relation="cooled_by",
                        target_id=f"cdu:{site}-{cdu}")
        for shelf in names(row["power_shelf"]):
            yield event("linked", rack, f">power_shelf:{site}-{shelf}", relation="powered_by",
                        target_id=f"power_shelf:{site}-{shelf}")
        gpus = int(row["gpus_per_server"])
        for host in hostnames(row["rack"], int(row["servers"])):
            server = server_id(site, host)
            yield from installed(server, rack, {"gpu_count": str(gpus)})
            for k in range(gpus):
                yield from installed(f"gpu:{site}-{host}-g{k}", server,
                                     {"model": row["gpu_model"]})


def read_racks(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if missing:
        sys.exit(f"{path}: no column {', '.join(missing)} (needs {', '.join(COLUMNS)})")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", help="the rack inventory")
    parser.add_argument("--at", default=None,
                        help="when the racks were installed, ISO 8601 [default: now]")
    args = parser.parse_args()
    at_us = micros(args.at) if args.at else (datetime.now(UTC) - EPOCH) // timedelta(
        microseconds=1)
    for event in inventory_events(read_racks(args.csv), at_us):
        print(json.dumps(event))


if __name__ == "__main__":
    main()
