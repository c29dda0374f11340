"""The server's Prometheus metrics, served at ``GET /metrics`` (docs/operations.md).

- ``fleetgraph_query_seconds{field}``: the time of each executed GraphQL operation,
  once per root field it asked for (:class:`QueryMetrics`, a schema extension); an
  operation the deadline cut is timed when its 504 is sent, from the start of its
  execution, or from its request's arrival when it had not started executing (its
  document still waiting to be parsed or validated; a document longer than
  ``MAX_CUT_DOCUMENT_CHARS`` is then not timed);
- ``fleetgraph_graphql_errors_total{code}``: errors answered, by ``extensions.code``
  (the stable codes of docs/queries.md), those of GraphQL results and those the HTTP
  guards answer before GraphQL (body, deadline, token);
- ``fleetgraph_requests_refused_total{guard}``: requests a guard refused (depth, cost,
  aliases, tokens, fragment cycles, role, token, body, deadline), by its code;
- ``fleetgraph_http_requests_total{status}`` and ``fleetgraph_requests_in_flight``
  (:class:`MeteredRequests`, around the GraphQL endpoint);
- the store's (``fleetgraph_store_*``: fleetgraph.storage.metered), the store wrapped
  in a :class:`~fleetgraph.storage.metered.MeteredStore` by the app.

Every label value comes from the schema, the graph model or the list of codes below
(an unknown one is counted as ``OTHER``), never from what a client sent.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from graphql import GraphQLError, GraphQLSchema, parse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from fleetgraph.graph_model.types import Registry
from fleetgraph.ingest.metrics import IngestCollector
from fleetgraph.ingest.pipeline import PipelineStats
from fleetgraph.serving.access_guard import root_fields
from fleetgraph.serving.body import document_of
from fleetgraph.serving.guards import error_code
from fleetgraph.storage.metered import StoreMetrics

# the codes of docs/queries.md; the guards' refusals among them
GUARD_CODES = frozenset({
    "QUERY_TOO_DEEP", "QUERY_TOO_EXPENSIVE", "TOO_MANY_ALIASES", "TOO_MANY_TOKENS",
    "TOO_MANY_OPERATIONS", "TOO_MANY_REPEATED_FIELDS", "FRAGMENT_CYCLE",
    "INTROSPECTION_DISABLED", "FORBIDDEN", "UNAUTHENTICATED", "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE", "TIMEOUT",
})
ERROR_CODES = GUARD_CODES | {
    "NOT_FOUND", "BAD_USER_INPUT", "BAD_REQUEST", "INTERNAL_SERVER_ERROR",
    "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "UNKNOWN_OPERATION",
}
OTHER = "OTHER"
# a root field's answer: a node by id (sub-millisecond) to a deep blast radius (seconds)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                 2.5, 5.0, 10.0, 30.0)
STATUSES = ("200", "400", "401", "403", "404", "405", "413", "415", "500", "504")
MAX_ERROR_BODY = 64 * 1024  # an error answered outside GraphQL is a small JSON object
# A query the deadline cut before GraphQL parsed its document is timed under the root
# fields of its text, parsed when its 504 is sent, on the event loop: only a text this
# short (headline documents are a few hundred characters; ~1 ms to parse) is parsed.
MAX_CUT_DOCUMENT_CHARS = 1024


class ServerMetrics:
    """The server's metrics, in a registry of their own (one per app)."""

    def __init__(self, registry: Registry, prometheus: CollectorRegistry | None = None
                 ) -> None:
        self.prometheus = prometheus if prometheus is not None else CollectorRegistry()
        reg = self.prometheus
        self.query_seconds = Histogram(
            "fleetgraph_query_seconds",
            "Seconds an executed GraphQL operation took, once per root field it asked for",
            ["field"], buckets=QUERY_BUCKETS, registry=reg)
        self.errors = Counter("fleetgraph_graphql_errors",
                              "GraphQL errors answered, by extensions.code", ["code"],
                              registry=reg)
        self.refused = Counter("fleetgraph_requests_refused",
                               "Requests a guard refused, by the guard's error code",
                               ["guard"], registry=reg)
        self.requests = Counter("fleetgraph_http_requests",
                                "Requests to /graphql answered, by HTTP status", ["status"],
                                registry=reg)
        self.in_flight = Gauge("fleetgraph_requests_in_flight",
                               "Requests to /graphql being answered now", registry=reg)
        self.ready = Gauge("fleetgraph_ready",
                           "1 when the last /readyz found the store reachable and its "
                           "schema current, else 0", registry=reg)
        self.store = StoreMetrics(reg, registry.edges)
        ProcessCollector(registry=reg)  # process_cpu_seconds_total, memory, open files
        self._fields: dict[str, Histogram] = {}
        self._statuses: dict[str, Counter] = {}  # labels() costs ~4 µs a request

    def answered(self, status: int) -> None:
        """Count a request to /graphql answered with ``status``."""
        label = str(status)
        counter = self._statuses.get(label)
        if counter is None:
            counter = self._statuses[label] = self.requests.labels(
                label if label in STATUSES else "other")
        counter.inc()

    def field_timer(self, name: str) -> Histogram:
        timer = self._fields.get(name)
        if timer is None:
            timer = self._fields[name] = self.query_seconds.labels(name)
        return timer

    def count_errors(self, codes: Iterable[str]) -> None:
        refused: set[str] = set()
        for code in codes:
            label = code if code in ERROR_CODES else OTHER
            self.errors.labels(label).inc()
            if label in GUARD_CODES:
                refused.add(label)
        for guard in refused:  # a request refused once per guard, however many errors
            self.refused.labels(guard).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.prometheus)


@dataclass
class RequestMeter:
    """What one request's GraphQL execution told its metrics."""

    metrics: ServerMetrics
    answered_by_graphql: bool = False
    # the root fields of an execution under way and when it started (perf_counter):
    # one the deadline cancels is timed when its 504 is sent
    executing: tuple[list[str], float] | None = None
    status: int = 200
    body: list[bytes] = field(default_factory=list)
    arrived: float = field(default_factory=time.perf_counter)
    timed: bool = False  # its operation's time was observed

    def observe_execution(self) -> None:
        """Time the execution under way, if any, for each of its root fields."""
        if self.executing is None:
            return
        fields, started = self.executing
        self.executing = None
        self.observe(fields, started)

    def observe(self, fields: Iterable[str], started: float) -> None:
        self.timed = True
        took = time.perf_counter() - started
        for name in fields:
            self.metrics.field_timer(name).observe(took)


class QueryFields:
    """The root fields of a document that are fields of the schema's Query type (no
    label from a client's typo), in a form the metrics can use before GraphQL parsed
    the document."""

    def __init__(self, schema: GraphQLSchema, max_tokens: int) -> None:
        query = schema.query_type
        self.names = frozenset(query.fields) if query is not None else frozenset()
        self.max_tokens = max_tokens

    def of_text(self, query: str, operation_name: str | None) -> list[str]:
        """Those of a document's text; none when it is longer than
        ``MAX_CUT_DOCUMENT_CHARS`` (parsed on the event loop: graphql-core takes ~20 ms
        for 8 KB on a busy machine) or does not parse within the token limit."""
        if len(query) > MAX_CUT_DOCUMENT_CHARS:
            return []
        try:
            document = parse(query, no_location=True, max_tokens=self.max_tokens)
        except GraphQLError:
            return []
        return sorted(n for n in root_fields(document, operation_name) if n in self.names)


_request: ContextVar[RequestMeter | None] = ContextVar("fleetgraph_request_meter",
                                                        default=None)


class QueryMetrics(SchemaExtension):
    """Times each executed operation for its root fields (only fields of the Query
    type count: no label from a client's typo; an execution the deadline cancels is
    timed until its request ends) and counts the result's errors, for the request's
    :class:`RequestMeter` (none outside an app: then it does nothing)."""

    def on_operation(self) -> Iterator[None]:
        yield
        meter = _request.get()
        if meter is None:
            return
        meter.answered_by_graphql = True
        errors: list[GraphQLError] = getattr(self.execution_context.result, "errors",
                                             None) or []
        if errors:
            meter.metrics.count_errors(error_code(e) for e in errors)

    def on_execute(self) -> Iterator[None]:
        meter = _request.get()
        if meter is None:
            yield
            return
        context = self.execution_context
        document = context.graphql_document
        query = context.schema._schema.query_type
        fields = [] if document is None or query is None else [
            name for name in root_fields(document, context.operation_name)
            if name in query.fields]
        meter.executing = (fields, time.perf_counter())
        yield
        meter.observe_execution()


class MeteredRequests:
    """Around the GraphQL endpoint: requests in flight, answers by status, the error
    codes of answers the HTTP guards gave before GraphQL ran, and the time of an
    operation the deadline cut (when its 504 is sent; ``fields`` finds the root fields
    of one cut before it was executing)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics,
                 fields: QueryFields | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.fields = fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        meter = RequestMeter(self.metrics)
        token = _request.set(meter)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                meter.status = int(message["status"])
                if meter.status == 504:
                    self.observe_cut(scope, meter)
            elif (message["type"] == "http.response.body" and meter.status >= 400
                  and not meter.answered_by_graphql
                  and sum(map(len, meter.body)) < MAX_ERROR_BODY):
                meter.body.append(bytes(message.get("body", b"")))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            meter.observe_execution()  # cut short by the deadline: timed until now
            self.metrics.in_flight.dec()
            _request.reset(token)
            self.metrics.answered(meter.status)
            if meter.body:
                self.metrics.count_errors(codes_in(b"".join(meter.body)))


    def observe_cut(self, scope: Scope, meter: RequestMeter) -> None:
        """The deadline cut the request: time its operation now, the execution under way
        or, when none began, the document it sent from the request's arrival."""
        if meter.executing is not None:
            meter.observe_execution()
            return
        if meter.timed or meter.answered_by_graphql or self.fields is None:
            return
        sent = document_of(scope)
        if sent is not None:
            meter.observe(self.fields.of_text(*sent), meter.arrived)


def codes_in(body: bytes) -> list[str]:
    """The ``extensions.code`` of each error in a GraphQL-shaped JSON answer."""
    try:
        answer = json.loads(body)
    except ValueError:
        return [OTHER]
    errors = answer.get("errors") if isinstance(answer, dict) else None
    codes = []
    for error in errors if isinstance(errors, list) else ():
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        codes.append(code if isinstance(code, str) else OTHER)
    return codes


def metrics_endpoint(metrics: ServerMetrics) -> Callable[[Request], Awaitable[Response]]:
    """``GET /metrics``: the text exposition format."""

    async def endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


class _Reasons:
    """Dead letters of a finished run, by reason (DeadLetters' ``counts``)."""

    def __init__(self, counts: collections.Counter[str]) -> None:
        self.counts = counts


def ingest_run_metrics(registry: Registry, stats: PipelineStats) -> ServerMetrics:
    """Server metrics that also show a finished embedded ingest run (``fleetgraph demo``
    serves the graph it just ingested): its events by outcome, filtered events and dead
    letters by reason, from the run's own report."""
    metrics = ServerMetrics(registry)
    collector = IngestCollector(metrics.prometheus)
    collector.watch_pipelines(lambda: [stats])
    collector.watch_dead_letters(_Reasons(stats.rejected))
    return metrics
