"""The integrity report end to end: nothing on a clean simulated fleet, and on a fleet
with a phantom CDU it explains why the real CDU's blast radius is DEGRADED, not DOWN."""

from __future__ import annotations

from collections.abc import Callable

from fleetgraph.graph_model import FLEET
from fleetgraph.serving.queries.blast_radius import blast_radius
from fleetgraph.serving.queries.integrity import all_findings
from fleetgraph.serving.queries.integrity_rules import IntegrityKind
from fleetgraph.storage.base import GraphStore
from tests.e2e import integrity_fleet as fleet
from tests.e2e.fleet_run import FleetRun, ingest_into
from tests.oracle.integrity import integrity as oracle_integrity


def test_a_clean_simulated_fleet_reports_nothing(run: FleetRun) -> None:
    """Every simulated component is installed, every job submitted, every artifact
    registered, in order; applications and users exist by reference, by design."""
    assert list(all_findings(run.store, FLEET)) == []
    assert oracle_integrity(run.clean_events) == {}


def test_the_report_explains_the_real_cdus_blast_radius(
    store_factory: Callable[[], GraphStore],
) -> None:
    at = fleet.T0 + 4 * fleet.H
    clean, phantom = store_factory(), store_factory()
    ingest_into(clean, fleet.messages(fleet.BASE))
    ingest_into(phantom, fleet.messages(fleet.BASE + fleet.PHANTOM_LINK))

    def rack_impact(store: GraphStore) -> str:
        items = blast_radius(store, fleet.CDU, at).items
        return next(i.impact for i in items if i.id == fleet.RACK)

    assert rack_impact(clean) == "DOWN"  # its only CDU fails
    assert rack_impact(phantom) == "DEGRADED"  # it seems to have a second one
    assert list(all_findings(clean, FLEET)) == []
    [finding] = all_findings(phantom, FLEET)
    [edge] = finding.records
    assert (finding.kind, finding.subject_id) == (IntegrityKind.MISSING_NODE, fleet.PHANTOM)
    assert (edge.type, edge.from_id) == ("cooled_by", fleet.RACK)  # the rack's other "CDU"
    assert [e.event_id for e in finding.events()] == ["link-c9"]
