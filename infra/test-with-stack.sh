#!/usr/bin/env bash
# Run the whole test suite with real Kafka and Cassandra.
# Starts the local stack (fetched from Maven Central on first use) unless it
# already answers, runs pytest with FLEETGRAPH_REQUIRE_STACK=1 so integration
# tests fail rather than skip when a server is missing, and stops the stack
# again if this script started it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

if "$BIN/fleetgraph" stack status >/dev/null 2>&1; then
  echo "stack: already up, leaving it running afterwards"
else
  start=$(date +%s)
  "$BIN/fleetgraph" stack up
  echo "stack: up in $(( $(date +%s) - start )) s"
  trap '"$BIN/fleetgraph" stack down' EXIT
fi

FLEETGRAPH_REQUIRE_STACK=1 "$BIN/pytest" "$@"
