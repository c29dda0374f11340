"""Stage 4: add what an event lacks, from the topology side input.

A CDU or power-shelf event gets its site and the racks it served at the
event's time; a job placement gets its site, region and jurisdiction.
"""

from __future__ import annotations

from fleetgraph.ingest.message import Event
from fleetgraph.ingest.stages.topology import Topology
from fleetgraph.schemas.topics import Topic


def read_by_to_graph(event: Event) -> bool:
    """Whether to-graph reads what :func:`enrich` adds to ``event``: it does for a status
    change (its fault's site and racks) and a job (its site, region, jurisdiction), not
    for a reading or a site's energy (node properties alone; the pipeline does not
    enrich them: a CDU's racks were looked up for every reading and thrown away)."""
    return event.topic is not Topic.TELEMETRY or event.fields["kind"] == "status"


def enrich(event: Event, topology: Topology, t: int | None = None) -> None:
    """``t``: the event's time when the caller has it (else read from the event)."""
    fields, extra = event.fields, event.enriched
    if t is None:
        t = event.time
    if event.topic is Topic.TELEMETRY:
        component = fields["component_id"]
        site = fields.get("site_id") or topology.site_of(component, t)
        if site:
            extra["site_id"] = site
        if fields["kind"] in ("status", "reading"):
            racks = topology.served_racks(component, t)
            if racks:
                extra["racks"] = racks
    elif event.topic is Topic.JOBS and fields["placement"]:
        site = topology.site_of(fields["placement"][0]["server_id"], t)
        if site:
            extra["site_id"] = site
            for name in ("region", "jurisdiction"):
                value = topology.site_attribute(site, name, t)
                if value is not None:
                    extra[name] = value
