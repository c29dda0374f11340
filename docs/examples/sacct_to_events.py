#!/usr/bin/env python3
"""Slurm job accounting to fleetgraph job events (JSON lines, on stdout).

Reads ``sacct --allocations --parsable2 --noheader=no
--format=JobID,User,Partition,NodeList,AllocTRES,Start,End,State`` output:

    JobID|User|Partition|NodeList|AllocTRES|Start|End|State
    4101|alice|gpu|a01-n[01-02]|cpu=64,gres/gpu=16,mem=512G,node=2|2026-11-20T08:00:00|...

Each job that started gives a ``started`` event at Start, placed on the servers of
its NodeList (hostnames ``<rack>-nNN``, mapped to server ids with the rack inventory
CSV, see csv_to_events.py), and, once it ended, a ``finished``, ``failed`` or
``cancelled`` event at End. Job steps (``4101.batch``) and jobs that never started
are skipped. Times without a zone are taken as UTC.

sacct does not say which GPUs of a server a job held: the first ``gres/gpu / nodes``
of each server are named. If your scheduler records GPU indexes, use them.

    python docs/examples/sacct_to_events.py sacct.txt --racks racks.csv > jobs.jsonl

Standard library only: copy it and change it to fit your scheduler.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from csv_to_events import hostnames, micros, read_racks, server_id

ENDS = {"COMPLETED": "finished", "CANCELLED": "cancelled"}  # any other end state: failed
NOT_ENDED = {"RUNNING", "PENDING", "REQUEUED", "RESIZING", "SUSPENDED"}
BRACKETS = re.compile(r"\[([^\]]+)\]")


def expand_hostlist(hostlist: str) -> list[str]:
    """Slurm's compressed host list: ``a01-n[01-03,07],b01-n01`` -> the hostnames."""
    parts, depth, current = [], 0, ""
    for char in hostlist:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [host for part in parts if part for host in _expand(part)]


def _expand(part: str) -> Iterator[str]:
    match = BRACKETS.search(part)
    if match is None:
        yield part
        return
    head, tail = part[: match.start()], part[match.end():]
    for span in match.group(1).split(","):
        low, _, high = span.partition("-")
        numbers = range(int(low), int(high or low) + 1)
        for n in numbers:
            yield from _expand(f"{head}{n:0{len(low)}d}{tail}")


def gpus_of(alloc_tres: str) -> int:
    """``gres/gpu=16`` (or typed ``gres/gpu:h100=16`` entries, summed) in AllocTRES."""
    tres = dict(item.split("=", 1) for item in alloc_tres.split(",") if "=" in item)
    if "gres/gpu" in tres:
        return int(tres["gres/gpu"])
    return sum(int(v) for k, v in tres.items() if k.startswith("gres/gpu:"))


def job_events(rows: list[dict[str, str]], hosts: dict[str, tuple[str, int]],
               ) -> Iterator[dict[str, Any]]:
    """``hosts``: hostname -> (server id, its GPU count)."""
    for row in rows:
        if "." in row["JobID"] or row["Start"] in ("Unknown", "None", ""):
            continue  # a step, or a job that never started
        job = f"job:slurm-{row['JobID']}"
        nodes = expand_hostlist(row["NodeList"])
        unknown = [n for n in nodes if n not in hosts]
        if unknown:
            print(f"warning: job {row['JobID']}: hosts {', '.join(unknown)} are not in the "
                  "rack inventory; left out of its placement", file=sys.stderr)
        gpus = gpus_of(row["AllocTRES"])
        per_node = gpus // len(nodes) if nodes else 0
        placement = []
        for node in nodes:
            if node in hosts:
                server, count = hosts[node]
                held = min(per_node, count)
                placement.append({"server_id": server, "gpu_ids": [
                    f"gpu:{server.removeprefix('server:')}-g{k}" for k in range(held)]})
        yield {"topic": "jobs", "event_id": f"slurm-{row['JobID']}-started",
               "event_time": micros(row["Start"]), "kind": "started", "job_id": job,
               "user_id": f"user:{row['User']}", "gpus_requested": gpus,
               "placement": placement}
        state = row["State"].split()[0]  # "CANCELLED by 1001"
        if row["End"] in ("Unknown", "None", "") or state in NOT_ENDED:
            continue
        kind = ENDS.get(state, "failed")
        ended: dict[str, Any] = {
            "topic": "jobs", "event_id": f"slurm-{row['JobID']}-{kind}",
            "event_time": micros(row["End"]), "kind": kind, "job_id": job,
            "placement": placement}
        if kind == "failed":
            ended["exit_reason"] = state.lower()
        yield ended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sacct", help="sacct --parsable2 output, with its header line")
    parser.add_argument("--racks", required=True, help="the rack inventory CSV")
    args = parser.parse_args()
    hosts: dict[str, tuple[str, int]] = {}
    for rack in read_racks(args.racks):
        for host in hostnames(rack["rack"], int(rack["servers"])):
            hosts[host] = (server_id(rack["site"], host), int(rack["gpus_per_server"]))
    with open(args.sacct, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="|"))
    for event in job_events(rows, hosts):
        print(json.dumps(event))


if __name__ == "__main__":
    main()
