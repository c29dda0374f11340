"""Two of the users' GraphQL documents, sent by the load test (``fleetgraph bench
load``) and shown by ``fleetgraph demo``; and every node of a type in a store,
page by page, where both pick their real ids."""

from __future__ import annotations

from collections.abc import Iterator

from fleetgraph.graph_model.records import NodeRecord
from fleetgraph.storage.base import GraphStore

PAGE = 1000

SITE = """query Site($site: ID!) {
  node(id: $site) {
    ... on Site {
      name region jurisdiction design powerHeadroomKw batterySoc solarKw
      racks { id status cdus { id status } powerShelves { id } }
      cdus { id status faults { id validFrom validTo code severity } }
    }
  }
}"""
RESIDENCY = """query Residency($dataset: ID!) {
  dataResidency(datasetId: $dataset, allowed: ["us-ca", "us-wa"]) {
    itemIds
    violations { itemId siteId jurisdiction jobIds held }
  }
}"""


def scan(store: GraphStore, node_type: str) -> Iterator[NodeRecord]:
    """Every node of ``node_type`` in ``store``, in pages of :data:`PAGE`."""
    for records in store.scan_pages(node_type, PAGE):
        yield from records
