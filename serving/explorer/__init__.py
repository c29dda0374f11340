"""The browser side, served with the API and working air-gapped: GraphiQL (the explorer)
and a graph view, both built on libraries shipped in the package (``vendor``), never
fetched from a CDN. See docs/explorer.md.
"""

from fleetgraph.serving.explorer.pages import STATIC_PATH, Example, ExampleFinder, Explorer

__all__ = ["STATIC_PATH", "Example", "ExampleFinder", "Explorer"]
