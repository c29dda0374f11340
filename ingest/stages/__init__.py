"""The processing stages, plain code that knows nothing of Faust or Kafka.

decode -> validate -> filter -> enrich -> to_graph -> dedup -> emit. The
embedded runner (``fleetgraph.ingest.runner``) and the Faust workers call these same
functions and classes.
"""
