"""``fleetgraph demo``: the port is checked first, the output is short and ends with
where to open, a query to try and how to stop."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from fleetgraph.cli.demo import ready_block
from fleetgraph.cli.examples import Example
from fleetgraph.cli.main import cli


def test_a_taken_port_is_refused_before_the_simulation(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "demo", "--port",
                                          str(port), "--sites", "3", "--hours", "2"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: port {port} on 127.0.0.1 is in use: choose another with "
                             f"--port N or FLEETGRAPH_PORT=N (or stop what holds it)\n")
    assert not (tmp_path / "events.avro").exists()  # refused before simulating


def test_the_output_is_a_few_lines_ending_with_the_block(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "demo", "--no-serve",
                                      "--sites", "6", "--hours", "12"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) <= 12, result.stdout  # it was 534
    block = "\n".join(lines[-5:])
    assert "  open   http://127.0.0.1:8000/graphql" in block
    assert "  try    { blastRadius(componentId: \"cdu:" in block
    assert lines[-1] == "  (not serving: --no-serve)"
    examples = (tmp_path / "examples.md").read_text()
    assert "modelHotness" in examples and '"errors"' not in examples
    assert f"{tmp_path / 'examples.md'}" in block


def test_serving_the_block_says_how_to_stop() -> None:
    query = "query Q($cdu: ID!) {\n  blastRadius(componentId: $cdu) { truncated }\n}"
    example = Example("t", query, {"cdu": "cdu:s1-c1"})
    block = ready_block("http://127.0.0.1:8123/graphql", [example], Path("x/examples.md"), True)
    assert block.splitlines()[1:] == [
        "  open   http://127.0.0.1:8123/graphql   (GraphiQL; the example queries are its tabs)",
        '  try    { blastRadius(componentId: "cdu:s1-c1") { items { id impact dependency } '
        "jobs { jobId impact } } }",
        "  see    http://127.0.0.1:8123/graph?view=blast&id=cdu:s1-c1   (the same blast "
        "radius drawn)",
        "  more   1 example queries with their answers, and curl: x/examples.md",
        "  Ctrl-C to stop",
    ]
