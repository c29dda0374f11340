"""Stage 3: drop noise, events that would change nothing in the graph.

Dropped events are counted by reason. Repeated and unchanged updates of the
same node or edge are collapsed later by dedup, within its window: a filter
that remembered earlier readings would make what is stored depend on arrival
order, and replays would no longer converge.
"""

from __future__ import annotations

from fleetgraph.graph_model import FLEET
from fleetgraph.graph_model.ids import node_type_of
from fleetgraph.ingest.message import Event
from fleetgraph.schemas.topics import Topic

# The readings the graph keeps, by component type; others are noise to it.
MODELLED_READINGS: dict[str, frozenset[str]] = {
    "cdu": frozenset({"supply_temp_c", "flow_lpm"}),
    "power_shelf": frozenset({"output_kw"}),
    "gpu": frozenset({"temperature_c", "power_w", "utilization"}),
}
# each is a property of its type, so validation checks readings against its domain
assert all(m in FLEET.node(node_type).prop_names
           for node_type, metrics in MODELLED_READINGS.items() for m in metrics)


def noise_reason(event: Event) -> str | None:
    """Why the event is noise, or None when it carries news for the graph."""
    if event.topic is Topic.TELEMETRY:
        kind = event.kind
        if kind == "heartbeat":
            return "heartbeat"
        if kind == "reading" and event.fields["metric"] not in MODELLED_READINGS.get(
            node_type_of(event.fields["component_id"]), ()
        ):
            return "unmodelled_metric"
        if kind == "site_energy" and all(
            event.fields.get(name) is None
            for name in ("power_headroom_kw", "thermal_headroom_kw", "battery_soc", "solar_kw")
        ):
            return "empty_reading"
    return None
