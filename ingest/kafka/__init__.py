"""Ingest on Kafka with Faust: the embedded runner's stages, one agent per source topic.

Kafka source topics -> Faust agents (decode, validate, filter, enrich, to-graph,
dedup in a changelog-backed table) -> one topic per node and edge type -> a sink
agent writing to a GraphStore. Entry points:

- :func:`fleetgraph.ingest.kafka.producer.publish_messages` publishes (topic, payload) pairs;
- :func:`fleetgraph.ingest.kafka.worker.run_worker` runs a worker in-process;
- :func:`fleetgraph.ingest.kafka.topics.ensure_topics` creates the topics.
"""
