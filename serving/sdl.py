"""The schema's SDL, exported to ``serving/schema.graphql`` and checked against the code."""

from __future__ import annotations

from pathlib import Path

from fleetgraph.serving.schema import build_schema

SDL_PATH = Path(__file__).with_name("schema.graphql")


def sdl() -> str:
    return build_schema().as_str() + "\n"


def export(path: Path = SDL_PATH) -> Path:
    path.write_text(sdl(), encoding="utf-8")
    return path
