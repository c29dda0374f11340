"""The reference scheduler: requests -> ``placement`` over HTTP -> ``jobs`` events.

For each pending request, in order:

1. ask ``placement`` for the best ``candidates`` sites (``first``, default 20), each
   with ``freeGpus``: as many free GPUs as the job needs, on as few servers as
   possible, leaving out the GPUs this scheduler already claimed in this run (the
   graph sees a placement only once its events went through the pipeline);
2. take the first candidate that still has enough GPUs (asking again for every
   candidate when none of the first ones has);
3. publish ``submitted`` (the job, pending, with its application, user, model and
   inputs) and, when placed, ``started`` one microsecond later with the placement
   (servers and their GPUs). A job no site can take gets ``submitted`` only and
   stays pending.

Events are Avro single-object messages for the ``jobs`` topic, published through
a :data:`Publisher`: any callable taking ``(topic, payload)``. Two are here: an
event log file (:class:`EventLogPublisher`) the embedded pipeline replays, and a
list in memory (:class:`MemoryPublisher`); Kafka is one more callable.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fleetgraph.core.clock import wall_clock_us
from fleetgraph.core.errors import FleetgraphError
from fleetgraph.graph_model.ids import parse_id
from fleetgraph.graph_model.types import GraphModelError
from fleetgraph.ingest.sources.eventlog import read_event_log, write_event_log
from fleetgraph.schemas.codec import EventCodec, load_event_codec
from fleetgraph.schemas.topics import Topic
from fleetgraph.settings import with_dotenv

Publisher = Callable[[str, bytes], None]
Clock = Callable[[], int]  # µs since the epoch
DEFAULT_CANDIDATES = 20

PLACEMENT_QUERY = """
query Placement($request: PlacementInput!, $first: Int, $exclude: [ID!]) {
  placement(request: $request) {
    at
    candidates(first: $first) {
      siteId
      score
      freeGpuCount
      freeGpus(exclude: $exclude) { serverId gpuIds }
    }
  }
}
"""


class SchedulerError(FleetgraphError):
    """A request could not be read, or the fleet graph could not be asked."""



# --- requests ----------------------------------------------------------------------------


def _id(value: Any, field_name: str, node_type: str) -> str:
    if not isinstance(value, str):
        raise SchedulerError(f"{field_name} must be a string id, got {value!r}")
    try:
        kind, _ = parse_id(value)
    except GraphModelError as exc:
        raise SchedulerError(f"{field_name}: {exc}") from exc
    if kind != node_type:
        raise SchedulerError(f"{field_name} must be a {node_type} id, got {value!r}")
    return value


def _data_id(value: Any) -> str:
    if isinstance(value, str) and value.partition(":")[0] == "artifact":
        return _id(value, "dataset_ids", "artifact")
    return _id(value, "dataset_ids", "dataset")


def _optional_id(value: Any, field_name: str, node_type: str) -> str | None:
    return None if value is None else _id(value, field_name, node_type)


def _strings(value: Any, field_name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchedulerError(f"{field_name} must be a list of strings, got {value!r}")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A pending job: what it needs and where it may run."""

    job_id: str
    gpus: int
    model_id: str | None = None
    dataset_ids: tuple[str, ...] = ()
    allowed_jurisdictions: tuple[str, ...] | None = None
    preferred_region: str | None = None
    application_id: str | None = None
    user_id: str | None = None
    job_kind: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRequest:
        """A request from its JSON object; unknown keys are refused (a typo is not ignored)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SchedulerError(f"unknown request fields {unknown}; known: {sorted(known)}")
        gpus = data.get("gpus")
        if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 1:
            raise SchedulerError(f"gpus must be a positive integer, got {gpus!r}")
        datasets = _strings(data.get("dataset_ids") or [], "dataset_ids")
        allowed = data.get("allowed_jurisdictions")
        for name in ("preferred_region", "job_kind"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise SchedulerError(f"{name} must be a string, got {data[name]!r}")
        return cls(
            job_id=_id(data.get("job_id"), "job_id", "job"),
            gpus=gpus,
            model_id=_optional_id(data.get("model_id"), "model_id", "model"),
            dataset_ids=tuple(_data_id(d) for d in datasets),
            allowed_jurisdictions=None
            if allowed is None
            else _strings(allowed, "allowed_jurisdictions"),
            preferred_region=data.get("preferred_region"),
            application_id=_optional_id(
                data.get("application_id"), "application_id", "application"
            ),
            user_id=_optional_id(data.get("user_id"), "user_id", "user"),
            job_kind=data.get("job_kind"),
        )

    def placement_input(self) -> dict[str, Any]:
        """The ``PlacementInput`` of this request (``at``: the server's now)."""
        return {
            "gpus": self.gpus,
            "modelId": self.model_id,
            "datasetIds": list(self.dataset_ids),
            "allowedJurisdictions": None
            if self.allowed_jurisdictions is None
            else list(self.allowed_jurisdictions),
            "preferredRegion": self.preferred_region,
        }


def read_requests(path: str | Path) -> list[JobRequest]:
    """Requests from a JSON-lines file (blank lines skipped)."""
    requests: list[JobRequest] = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise SchedulerError(f"cannot read requests from {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise SchedulerError("a request is a JSON object")
            requests.append(JobRequest.from_json(data))
        except (ValueError, SchedulerError) as exc:
            raise SchedulerError(f"{path}:{number}: {exc}") from exc
    return requests


# --- publishers ----------------------------------------------------------------------------


@dataclass
class MemoryPublisher:
    """Keeps the (topic, payload) messages, for the caller to take."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)

    def __call__(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))


class EventLogPublisher:
    """Appends messages to an event log file (see ``fleetgraph.ingest.sources.eventlog``) on close.

    An event log is one Avro container file, so appending rewrites it: the messages
    already there, then the new ones (written to a temporary file, then renamed).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.pending: list[tuple[str, bytes]] = []

    def __call__(self, topic: str, payload: bytes) -> None:
        self.pending.append((topic, payload))

    def close(self) -> int:
        """Write the log; return how many messages it holds."""
        existing: list[tuple[str, bytes]] = []
        if self.path.exists():
            existing = [(m.topic, m.payload) for m in read_event_log(self.path)]
        partial = self.path.with_name(self.path.name + ".partial")
        count = write_event_log(partial, [*existing, *self.pending])
        partial.replace(self.path)
        self.pending = []
        return count

    def __enter__(self) -> EventLogPublisher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()  # on an error too: the events of the jobs already placed


# --- asking the fleet graph ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerGpus:
    server_id: str
    gpu_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Offer:
    """A candidate site as the graph ranked it, with GPUs offered for the job."""

    site_id: str
    score: float
    free_gpu_count: int
    gpus: tuple[ServerGpus, ...]

    @property
    def gpu_total(self) -> int:
        return sum(len(s.gpu_ids) for s in self.gpus)


class PlacementClient:
    """Asks the ``placement`` query of a fleetgraph GraphQL endpoint."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, *, token: str | None = None
    ) -> None:
        self.http = http
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def offers(
        self, request: JobRequest, *, first: int | None, exclude: Iterable[str] = ()
    ) -> list[Offer]:
        """Candidate sites, best first (``first`` of them; ``None``: all)."""
        variables = {
            "request": request.placement_input(),
            "first": first,
            "exclude": sorted(exclude),
        }
        data = await self._post(PLACEMENT_QUERY, variables)
        answer = data.get("placement")
        if answer is None:
            raise SchedulerError("placement answered nothing")
        return [
            Offer(
                c["siteId"],
                float(c["score"]),
                int(c["freeGpuCount"]),
                tuple(ServerGpus(g["serverId"], tuple(g["gpuIds"])) for g in c["freeGpus"]),
            )
            for c in answer["candidates"]
        ]

    async def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.http.post(
                self.url, json={"query": query, "variables": variables}, headers=self.headers
            )
        except httpx.HTTPError as exc:
            raise SchedulerError(f"cannot reach {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            messages = "; ".join(str(e.get("message", e)) for e in errors)
            raise SchedulerError(f"{self.url} answered {response.status_code}: {messages}")
        if response.status_code != 200 or not isinstance(body, dict):
            raise SchedulerError(f"{self.url} answered {response.status_code}: {response.text}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise SchedulerError(f"{self.url} answered without data")
        return data


# --- scheduling --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What the scheduler did with one request."""

    job_id: str
    site_id: str | None  # None: no site can take it now; the job stays pending
    score: float | None
    placement: tuple[ServerGpus, ...]
    events: tuple[dict[str, Any], ...]  # as published, oldest first
    reason: str | None = None

    @property
    def placed(self) -> bool:
        return self.site_id is not None

    def summary(self) -> dict[str, Any]:
        """A JSON-able line for logs and the command line."""
        return {
            "job_id": self.job_id,
            "placed": self.placed,
            "site_id": self.site_id,
            "score": self.score,
            "placement": [
                {"server_id": s.server_id, "gpu_ids": list(s.gpu_ids)} for s in self.placement
            ],
            "events": [e["event_id"] for e in self.events],
            "reason": self.reason,
        }


class Scheduler:
    """Places requests one by one, remembering the GPUs it claimed in this run."""

    def __init__(
        self,
        client: PlacementClient,
        publish: Publisher,
        *,
        codec: EventCodec | None = None,
        clock: Clock = wall_clock_us,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> None:
        if candidates < 1:
            raise SchedulerError(f"candidates must be at least 1, got {candidates}")
        self.client = client
        self.publish = publish
        self.codec = codec or load_event_codec()
        self.clock = clock
        self.candidates = candidates
        self.claimed: set[str] = set()

    async def schedule_all(self, requests: Sequence[JobRequest]) -> list[Decision]:
        return [await self.schedule(r) for r in requests]

    async def schedule(self, request: JobRequest) -> Decision:
        """Place one request and publish its events."""
        offer, reason = await self._choose(request)
        now = self.clock()
        events = [self._event(request, "submitted", now, ())]
        placement: tuple[ServerGpus, ...] = ()
        if offer is not None:
            placement = offer.gpus
            events.append(self._event(request, "started", now + 1, placement))
            self.claimed.update(g for s in placement for g in s.gpu_ids)
        for event in events:
            self.publish(Topic.JOBS.value, self.codec.encode(Topic.JOBS, event))
        return Decision(
            request.job_id,
            None if offer is None else offer.site_id,
            None if offer is None else offer.score,
            placement,
            tuple(events),
            reason,
        )

    async def _choose(self, request: JobRequest) -> tuple[Offer | None, str | None]:
        first: int | None = self.candidates
        while True:
            offers = await self.client.offers(request, first=first, exclude=self.claimed)
            for offer in offers:
                if offer.gpu_total >= request.gpus:
                    return offer, None
            if first is None or len(offers) < first:
                break
            first = None  # every candidate of the first ones is taken: ask for all
        if not offers:
            return None, f"no site can take {request.gpus} GPUs (all excluded)"
        return None, (
            f"the {len(offers)} candidate sites have fewer than {request.gpus} GPUs left "
            "after this run's placements"
        )

    def _event(
        self, request: JobRequest, kind: str, at: int, placement: tuple[ServerGpus, ...]
    ) -> dict[str, Any]:
        return {
            "event_id": f"scheduler:{request.job_id}:{kind}:{at}",
            "event_time": at,
            "kind": kind,
            "job_id": request.job_id,
            "application_id": request.application_id,
            "user_id": request.user_id,
            "job_kind": request.job_kind,
            "gpus_requested": request.gpus,
            "model_id": request.model_id,
            "inputs": list(request.dataset_ids) if kind == "submitted" else [],
            "outputs": [],
            "placement": [
                {"server_id": s.server_id, "gpu_ids": list(s.gpu_ids)} for s in placement
            ],
            "exit_reason": None,
        }


def token_from_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The client's own API token (never from code): ``FLEETGRAPH_CLIENT_TOKEN``, one of
    the server's ``FLEETGRAPH_API_TOKENS`` keys with the scheduler role, from the
    environment or the .env file (fleetgraph.settings). The old name
    ``FLEETGRAPH_API_TOKEN`` is still read, with a DeprecationWarning."""
    values = {k.upper(): v.strip() for k, v in with_dotenv(environ).items()}
    if token := values.get("FLEETGRAPH_CLIENT_TOKEN"):
        return token
    if token := values.get("FLEETGRAPH_API_TOKEN"):
        warnings.warn("FLEETGRAPH_API_TOKEN is deprecated: use FLEETGRAPH_CLIENT_TOKEN",
                      DeprecationWarning, stacklevel=2)
        return token
    return None
