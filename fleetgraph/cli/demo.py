"""``fleetgraph demo``'s edges: the port checked before the long part, and the short
block it ends with (where to open, a query to try, how to stop)."""

from __future__ import annotations

import errno
import json
import socket
from pathlib import Path

import click

from fleetgraph.cli.examples import Example


def check_port_free(host: str, port: int) -> None:
    """Refuse, in one line naming the port and how to change it, a port that another
    process holds (checked before the simulation and the ingest, which take a while)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc})"
            raise click.ClickException(
                f"port {port} on {host} {why}: choose another with --port N or "
                f"FLEETGRAPH_PORT=N (or stop what holds it)") from None


def one_line(query: str) -> str:
    return " ".join(query.split())


def ready_block(url: str, examples: list[Example], examples_file: Path | None,
                serving: bool) -> str:
    """The few lines the demo ends with."""
    lines = ["", f"  open   {url}" + ("   (GraphiQL; the example queries are its tabs)"
                                        if serving else "   (after `fleetgraph serve`)")]
    cdu = next((e.variables["cdu"] for e in examples if "cdu" in e.variables), None)
    if cdu is not None:
        lines.append(f'  try    {{ blastRadius(componentId: "{cdu}") '
                     "{ items { id impact dependency } jobs { jobId impact } } }")
        if serving:
            graph = url.rsplit("/graphql", 1)[0] + f"/graph?view=blast&id={cdu}"
            lines.append(f"  see    {graph}   (the same blast radius drawn)")
    elif examples:
        lines.append(f"  try    {one_line(examples[0].query)}")
        lines.append(f"         variables {json.dumps(examples[0].variables)}")
    if examples_file is not None:
        lines.append(f"  more   {len(examples)} example queries with their answers, and curl: "
                     f"{examples_file}")
    lines.append("  Ctrl-C to stop" if serving else "  (not serving: --no-serve)")
    return "\n".join(lines)
