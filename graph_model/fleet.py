"""The fleet's graph: every node type and edge type, declared once.

To add a type: declare it here. Storage provisions its namespace
(``fleetgraph storage init``), serving exposes it through ``node``, ``nodes``
and the generic neighbour fields, and its Avro record schema is derived from
the declaration (``fleetgraph.graph_model.avro``).
"""

from __future__ import annotations

from fleetgraph.core.units import DAY_US, SECOND_US
from fleetgraph.graph_model.types import EdgeType, NodeType, Prop, PropKind, Registry

S, I, F, T = PropKind.STRING, PropKind.INT, PropKind.FLOAT, PropKind.TIME  # noqa: E741
DAY = DAY_US // SECOND_US  # seconds, for ttl_seconds

FLEET = Registry()
node = FLEET.add_node
edge = FLEET.add_edge

# Domains are physically possible values (wider than a healthy fleet's): a value
# outside is a broken sensor or a bad encoder, refused by validation.
STATUS = Prop("status", S, "ok, degraded, fault, maintenance or removed",
              choices=("ok", "degraded", "fault", "maintenance", "removed"))
NAME = 256  # characters of a name, a model, a code
CAPACITY_KW = Prop("capacity_kw", F, low=0.0, high=5_000.0)
SIZE_BYTES = Prop("size_bytes", I, low=0)

# --- physical fleet ---------------------------------------------------------
node(NodeType.declare("site", [
    Prop("name", S, max_length=NAME), Prop("region", S, max_length=NAME),
    Prop("jurisdiction", S, max_length=NAME),
    Prop("design", S, "A: one ~1 MW rack; B: 2 to 6 racks of 250-500 kW", choices=("A", "B")),
    CAPACITY_KW, STATUS,
    Prop("power_headroom_kw", F, low=-5_000.0, high=5_000.0),
    Prop("thermal_headroom_kw", F, low=-5_000.0, high=5_000.0),
    Prop("battery_soc", F, "site battery state of charge, 0..1", low=0.0, high=1.0),
    Prop("solar_kw", F, low=0.0, high=5_000.0),
], doc="A modular ~1 MW AI data-center site."))
node(NodeType.declare("rack", [
    CAPACITY_KW, Prop("gpu_generation", S, max_length=NAME), STATUS,
], doc="A rack of compute trays, cooled by CDUs and fed by power shelves."))
node(NodeType.declare("cdu", [
    CAPACITY_KW, STATUS, Prop("supply_temp_c", F, low=-20.0, high=120.0),
    Prop("flow_lpm", F, low=0.0, high=20_000.0),
], doc="Coolant distribution unit: rack cooling loop to facility warm-water loop."))
node(NodeType.declare("power_shelf", [
    CAPACITY_KW, STATUS, Prop("output_kw", F, low=0.0, high=2_000.0),
], doc="Solid-state power shelf feeding the 800 V DC busway."))
node(NodeType.declare("server", [
    Prop("model", S, max_length=NAME), Prop("gpu_count", I, low=0, high=1_024), STATUS,
], doc="A compute tray holding GPUs."))
node(NodeType.declare("gpu", [
    Prop("model", S, max_length=NAME), Prop("memory_gb", I, low=0, high=1_000_000), STATUS,
    Prop("temperature_c", F, low=-20.0, high=150.0), Prop("power_w", F, low=0.0, high=5_000.0),
    Prop("utilization", F, low=0.0, high=1.0),
], doc="One accelerator."))
node(NodeType.declare("switch", [
    Prop("role", S, "tor, leaf or spine", choices=("tor", "leaf", "spine")), STATUS,
], doc="A network switch inside a site."))
node(NodeType.declare("instrument", [
    Prop("kind", S, "3d_printer, furnace, microscope, ...", max_length=NAME), STATUS,
], doc="An edge instrument attached to a nearby site."))
node(NodeType.declare("fault", [
    Prop("component_id", S), Prop("code", S, max_length=NAME),
    Prop("severity", S, max_length=NAME),
    Prop("site_id", S, "site of the component when the fault opened (enrichment)"),
    Prop("affected_racks", S, "comma-separated racks the component served (enrichment)"),
], temporal=True, doc="A component state over time: a fault from valid_from to valid_to."))

# --- work -------------------------------------------------------------------
node(NodeType.declare("application", [Prop("name", S, max_length=NAME)],
                      doc="What users submit."))
node(NodeType.declare("user", [Prop("name", S, max_length=NAME), Prop("org", S, max_length=NAME)],
                      doc="Who launches work."))
node(NodeType.declare("job", [
    Prop("kind", S, "training, inference, batch_inference or agentic",
         choices=("training", "inference", "batch_inference", "agentic")),
    Prop("status", S, "pending, running, finished, failed or cancelled",
         choices=("pending", "running", "finished", "failed", "cancelled")),
    Prop("gpus_requested", I, "0 for a CPU-only job", low=0, high=1_000_000),
    Prop("submitted_at", T), Prop("started_at", T), Prop("finished_at", T),
    Prop("site_id", S), Prop("region", S), Prop("jurisdiction", S),
    Prop("exit_reason", S, max_length=NAME),
], doc="A job of an application run, placed on servers and GPUs for a time window."))

# --- artifacts --------------------------------------------------------------
node(NodeType.declare("model", [
    Prop("name", S, max_length=NAME), Prop("family", S, max_length=NAME),
    Prop("params_b", F, low=0.0, high=1_000_000.0),
], doc="A model version; its weights are artifacts."))
node(NodeType.declare("artifact", [
    Prop("kind", S, "weights, adapter, checkpoint, eval_output, dataset_shard",
         choices=("weights", "adapter", "checkpoint", "eval_output", "dataset_shard")),
    Prop("content_hash", S, max_length=NAME), SIZE_BYTES, Prop("created_at", T),
], doc="A content-addressed blob."))
node(NodeType.declare("dataset", [
    Prop("name", S, max_length=NAME), Prop("content_hash", S, max_length=NAME), SIZE_BYTES,
    Prop("jurisdiction", S, "where the data originates", max_length=NAME),
    Prop("created_at", T),
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
edge(EdgeType.declare("ran_on", ["job"], ["server"], [Prop("gpus", I, low=0)], temporal=True,
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
    Prop("tier", I, "0 hot (local NVMe), 1 warm (site object store), 2 durable (remote)",
         low=0, high=2),
    Prop("last_access", T), Prop("hits", I, "cache hits reported by the site", low=0),
], temporal=True, ttl_seconds=30 * DAY, history_seconds=None,
    doc="A replica at a site, from replication to eviction; expires 30 days after its "
        "last update unless refreshed."))  # history: kept forever (docs/queries.md)

# --- the fleet's vocabulary, derived from the declarations above ------------------
COMPONENT_TYPES: frozenset[str] = FLEET.edge("had_fault").from_types
"""The hardware: every node type that can be in fault (site, rack, cdu, power_shelf,
server, gpu, switch, instrument)."""
CONTAINMENT_EDGES: tuple[str, ...] = ("in_site", "in_rack", "in_server", "attached_to")
"""The edges from a component to what holds it (installed in, attached to)."""
UP_EDGES: dict[str, tuple[str, ...]] = {
    kind: tuple(e for e in CONTAINMENT_EDGES if kind in FLEET.edge(e).from_types)
    for kind in sorted(COMPONENT_TYPES)
    if any(kind in FLEET.edge(e).from_types for e in CONTAINMENT_EDGES)
}
"""The containment edges that lead from a component type up to its holders."""
RACK_EDGE_OF_COMPONENT: dict[str, str] = {
    to_type: e.name
    for e in FLEET.edges.values()
    if "rack" in e.from_types
    for to_type in sorted(e.to_types & COMPONENT_TYPES)
}
"""The edge from a rack to a component it depends on, by the component's type: the
site it is in, the CDU that cools it, the power shelf that feeds it."""
LINK_EDGES: tuple[str, ...] = tuple(sorted({*CONTAINMENT_EDGES, *RACK_EDGE_OF_COMPONENT.values()}))
"""The edges inventory events open and close: installed in, attached to, cooled by,
powered by (in name order)."""
DATA_TYPES: frozenset[str] = FLEET.edge("derived_from").from_types
"""The data lineage follows: models, artifacts and datasets."""
CACHED_TYPES: frozenset[str] = FLEET.edge("cached_at").from_types
"""The data a site holds replicas of: artifacts and datasets."""
