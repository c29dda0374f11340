"""``fleetgraph bench startup`` on a small fleet: the churn is valid inventory (nothing
refused), and the start from the snapshot ends with the topology of the full rebuild."""

from __future__ import annotations

from collections import Counter

from fleetgraph.bench import startup


def test_the_churn_is_valid_inventory_and_both_start_ups_agree() -> None:
    result = startup.run(sites=3, days=30, churn=10.0)
    whole, restarted = result["rebuild_from_the_beginning"], result["start_from_snapshot"]
    assert whole["messages"] == result["topic_messages"] == whole["applied"]
    assert whole["refused"] == restarted["refused"] == 0
    assert result["identical_topology"]
    assert restarted["messages"] == result["topic_messages"] - whole["snapshot"]["at_message"]
    assert restarted["topology"] == whole["topology"]
    kinds = Counter(result["events_by_kind"])
    assert min(kinds[k] for k in ("installed", "removed", "linked", "unlinked", "updated")) > 0


def test_the_churn_moves_racks_and_replaces_hardware_at_its_rates() -> None:
    events = [sim.event for sim in startup.inventory_events(5, 365, seed=3)]
    moves = [e for e in events if e["kind"] == "unlinked"]
    swapped = [e for e in events if e["kind"] == "installed" and "-x" in e["component_id"]]
    times = [e["event_time"] for e in events]
    assert times == sorted(times)
    assert moves and swapped
    assert len({e["event_id"] for e in events}) == len(events)
