"""Drawing the fleet's catalogue: users, applications, models and datasets."""

from __future__ import annotations

import random

from fleetgraph.simulator.config import SimulationConfig
from fleetgraph.simulator.fleet import Application, Dataset, Model, User

FOREIGN_JURISDICTIONS = ("eu-de", "eu-fr", "uk", "jp")  # where some datasets originate
MODEL_FAMILIES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("llama", (8, 70, 405)),
    ("mistral", (7, 22, 123)),
    ("qwen", (7, 32, 72)),
    ("gemma", (2, 9, 27)),
    ("phi", (4, 14)),
    ("deepseek", (16, 236)),
    ("olmo", (7, 13, 32)),
    ("granite", (3, 8, 34)),
)
DATASET_TOPICS = (
    "web-corpus", "code", "clinical-notes", "satellite", "materials", "protein",
    "speech", "finance", "legal", "weather", "robotics", "chemistry",
)
APPLICATION_NAMES = (
    "chat-assistant", "code-review", "protein-fold", "materials-sim", "doc-search",
    "fraud-scoring", "vision-inspect", "agent-ops", "forecasting", "translation",
)
APPLICATION_KINDS = ("training", "inference", "batch_inference", "agentic")
ORGS = ("research", "platform", "product", "science", "partners")


def content_hash(rng: random.Random) -> str:
    """A sha256-like content hash (64 hex digits)."""
    return f"{rng.getrandbits(256):064x}"


def artifact_id_of(hash_hex: str) -> str:
    return f"artifact:sha256-{hash_hex[:16]}"


def build_users(rng: random.Random, config: SimulationConfig) -> tuple[User, ...]:
    count = max(12, min(400, config.sites))
    return tuple(User(f"user:u{n:03d}", f"user{n:03d}", rng.choice(ORGS))
                 for n in range(1, count + 1))


def build_applications(
    rng: random.Random, config: SimulationConfig, users: tuple[User, ...]
) -> tuple[Application, ...]:
    count = max(8, min(200, config.sites // 2))
    return tuple(
        Application(
            id=f"application:a{n:04d}",
            name=f"{APPLICATION_NAMES[(n - 1) % len(APPLICATION_NAMES)]}-{n}",
            job_kind=rng.choice(APPLICATION_KINDS),
            user_ids=tuple(u.id for u in rng.sample(users, rng.randint(1, 4))),
        )
        for n in range(1, count + 1)
    )


def build_models(rng: random.Random, config: SimulationConfig) -> tuple[Model, ...]:
    names = [(family, size) for family, sizes in MODEL_FAMILIES for size in sizes]
    count = max(8, min(20, 8 + config.sites // 20))
    models = []
    for family, size in rng.sample(names, min(count, len(names))):
        name = f"{family}-{size}b-v{rng.randint(1, 4)}"
        digest = content_hash(rng)
        models.append(Model(
            id=f"model:m-{name}",
            name=name,
            family=family,
            params_b=float(size),
            weights_id=artifact_id_of(digest),
            weights_hash=digest,
            weights_size=int(size * 2e9),  # bf16
        ))
    return tuple(sorted(models, key=lambda m: m.id))


def build_datasets(
    rng: random.Random, config: SimulationConfig, jurisdictions: list[str]
) -> tuple[Dataset, ...]:
    count = max(6, min(60, 6 + config.sites // 4))
    return tuple(
        Dataset(
            id=f"dataset:ds-{n:04d}",
            name=f"{DATASET_TOPICS[(n - 1) % len(DATASET_TOPICS)]}-{n}",
            jurisdiction=(rng.choice(FOREIGN_JURISDICTIONS) if rng.random() < 0.15
                          else rng.choice(jurisdictions)),
            content_hash=content_hash(rng),
            size_bytes=rng.randrange(10**9, 5 * 10**12),
        )
        for n in range(1, count + 1)
    )
