"""The fleet's graph: every node type and edge type, declared once.

To add a type: declare it here. Storage provisions its namespace
(``fleetgraph storage init``), serving exposes it through ``node``, ``nodes``
and the generic neighbour fields, and its Avro record schema is derived from
the declaration (``graph_model.avro``).
"""

from __future__ import annotations

from graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry

S, I, F, T = PropKind.STRING, PropKind.INT, PropKind.FLOAT, PropKind.TIME  # noqa: E741
DAY = 24 * 3600

FLEET = Registry()
node = FLEET.add_node
edge = FLEET.add_edge

STATUS = Prop("status", S, "ok, degraded, fault, maintenance or removed")

# --- physical fleet ---------------------------------------------------------
node(NodeType.declare("site", [
    Prop("name", S), Prop("region", S), Prop("jurisdiction", S),
    Prop("design", S, "A: one ~1 MW rack; B: 2 to 6 racks of 250-500 kW"),
    Prop("capacity_kw", F), STATUS,
    Prop("power_headroom_kw", F), Prop("thermal_headroom_kw", F),
    Prop("battery_soc", F, "site battery state of charge, 0..1"), Prop("solar_kw", F),
], doc="A modular ~1 MW AI data-center site."))
node(NodeType.declare("rack", [
    Prop("capacity_kw", F), Prop("gpu_generation", S), STATUS,
], doc="A rack of compute trays, cooled by CDUs and fed by power shelves."))
node(NodeType.declare("cdu", [
    Prop("capacity_kw", F), STATUS, Prop("supply_temp_c", F), Prop("flow_lpm", F),
], doc="Coolant distribution unit: rack cooling loop to facility warm-water loop."))
node(NodeType.declare("power_shelf", [
    Prop("capacity_kw", F), STATUS, Prop("output_kw", F),
], doc="Solid-state power shelf feeding the 800 V DC busway."))
node(NodeType.declare("server", [
    Prop("model", S), Prop("gpu_count", I), STATUS,
], doc="A compute tray holding GPUs."))
node(NodeType.declare("gpu", [
    Prop("model", S), Prop("memory_gb", I), STATUS,
    Prop("temperature_c", F), Prop("power_w", F), Prop("utilization", F),
], doc="One accelerator."))
node(NodeType.declare("switch", [
    Prop("role", S, "tor, leaf or spine"), STATUS,
], doc="A network switch inside a site."))
node(NodeType.declare("instrument", [
    Prop("kind", S, "3d_printer, furnace, microscope, ..."), STATUS,
], doc="An edge instrument attached to a nearby site."))
node(NodeType.declare("fault", [
    Prop("component_id", S), Prop("code", S), Prop("severity", S),
    Prop("site_id", S, "site of the component when the fault opened (enrichment)"),
    Prop("affected_racks", S, "comma-separated racks the component served (enrichment)"),
], temporal=True, doc="A component state over time: a fault from valid_from to valid_to."))

# --- work -------------------------------------------------------------------
node(NodeType.declare("application", [Prop("name", S)], doc="What users submit."))
node(NodeType.declare("user", [Prop("name", S), Prop("org", S)], doc="Who launches work."))
node(NodeType.declare("job", [
    Prop("kind", S, "training, inference, batch_inference or agentic"),
    STATUS, Prop("gpus_requested", I),
    Prop("submitted_at", T), Prop("started_at", T), Prop("finished_at", T),
    Prop("site_id", S), Prop("region", S), Prop("jurisdiction", S),
    Prop("exit_reason", S),
], doc="A job of an application run, placed on servers and GPUs for a time window."))

# --- artifacts --------------------------------------------------------------
node(NodeType.declare("model", [
    Prop("name", S), Prop("family", S), Prop("params_b", F),
], doc="A model version; its weights are artifacts."))
node(NodeType.declare("artifact", [
    Prop("kind", S, "weights, adapter, checkpoint, eval_output, dataset_shard"),
    Prop("content_hash", S), Prop("size_bytes", I), Prop("created_at", T),
], doc="A content-addressed blob."))
node(NodeType.declare("dataset", [
    Prop("name", S), Prop("content_hash", S), Prop("size_bytes", I),
    Prop("jurisdiction", S, "where the data originates"), Prop("created_at", T),
], doc="A dataset, content-addressed."))

# --- edges: containment -------------------------------------------------------
edge(EdgeType.declare("in_site", ["rack", "cdu", "power_shelf", "switch"], ["site"],
                      temporal=True, doc="Installed in a site."))
edge(EdgeType.declare("in_rack", ["server", "switch"], ["rack"], temporal=True,
                      doc="Installed in a rack."))
edge(EdgeType.declare("in_server", ["gpu"], ["server"], temporal=True,
                      doc="Installed in a server."))
edge(EdgeType.declare("attached_to", ["instrument"], ["site"], temporal=True,
                      doc="Instrument attached to a nearby site."))
# --- edges: dependencies ------------------------------------------------------
edge(EdgeType.declare("cooled_by", ["rack"], ["cdu"], temporal=True,
                      doc="Rack cooled by a CDU; two live CDUs make the rack redundant."))
edge(EdgeType.declare("powered_by", ["rack"], ["power_shelf"], temporal=True,
                      doc="Rack fed by a power shelf."))
edge(EdgeType.declare("had_fault", ["site", "rack", "cdu", "power_shelf", "server", "gpu",
                                    "switch", "instrument"], ["fault"], temporal=True,
                      doc="A component was in fault over the interval."))
# --- edges: work ------------------------------------------------------------------
edge(EdgeType.declare("ran_on", ["job"], ["server"], [Prop("gpus", I)], temporal=True,
                      doc="A job ran on a server over the interval."))
edge(EdgeType.declare("allocated", ["job"], ["gpu"], temporal=True,
                      doc="A GPU was allocated to a job over the interval."))
edge(EdgeType.declare("owned_by", ["job"], ["application"], doc="Job of an application."))
edge(EdgeType.declare("launched_by", ["job"], ["user"], doc="Who launched the job."))
edge(EdgeType.declare("used_model", ["job"], ["model"], doc="Model the job served or trained."))
edge(EdgeType.declare("read", ["job"], ["dataset", "artifact"], [Prop("at", T)],
                      doc="Input read by a job."))
edge(EdgeType.declare("produced", ["job"], ["artifact", "dataset", "model"], [Prop("at", T)],
                      doc="Output written by a job."))
# --- edges: artifacts -------------------------------------------------------------
edge(EdgeType.declare("artifact_of", ["artifact"], ["model"], doc="Weights of a model."))
edge(EdgeType.declare("derived_from", ["artifact", "dataset", "model"],
                      ["artifact", "dataset", "model"], doc="Built from another artifact."))
edge(EdgeType.declare("cached_at", ["artifact", "dataset"], ["site"], [
    Prop("tier", I, "0 hot (local NVMe), 1 warm (site object store), 2 durable (remote)"),
    Prop("last_access", T), Prop("hits", I, "cache hits reported by the site"),
], temporal=True, ttl_seconds=30 * DAY,
    doc="A replica at a site, from replication to eviction; expires 30 days after its "
        "last update unless refreshed."))
