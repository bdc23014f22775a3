#!/usr/bin/env bash
# noida-db, a third Kafka-compatible broker (Rust; one binary that also speaks other databases'
# protocols, run here with Kafka only), for tests and benchmarks against something other than
# librdkafka's mock cluster and Tansu. It ships as the binary noida_db/noida-db in the PyPI wheel
# `noida-db`, installed into .build-noida/. Its quirks (it never holds an empty fetch; a member
# killed without leaving is never evicted from its group): BENCHMARKS.md ("noida-db quirks").
#
#   scripts/noida.sh install                       print the noida-db binary's path (installing it first)
#   scripts/noida.sh run --bootstrap-file FILE [--partitions N] [--topic NAME[:PARTITIONS]]...
#                                                  a broker on a free 127.0.0.1 port, in the foreground,
#                                                  with the topics impressions (N partitions, default 8),
#                                                  predictions (N), impressions.dlq (1) and any --topic;
#                                                  writes its address to FILE; SIGTERM/SIGINT stop it
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
package="noida-db==0.2.3"
binary="$root/.build-noida/noida_db/noida-db"

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

install() {
  [ -x "$binary" ] && return 0
  echo "noida.sh: installing $package into .build-noida" >&2
  # --no-cache-dir: nothing is kept outside the repository.
  python3 -m pip install -q --root-user-action=ignore --no-deps --no-cache-dir --only-binary=:all: --target "$root/.build-noida" "$package" >&2
  [ -f "$binary" ] || { echo "noida.sh: $package has no noida_db/noida-db for this platform" >&2; exit 1; }
  chmod +x "$binary"
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
  # Its data directory (noida-db saves its state there) and its output, removed on exit.
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/noida.XXXXXX")"
  # Port 0: the kernel picks a free port, which noida-db prints ("  kafka  127.0.0.1:PORT").
  # On Debian 12 the dynamic linker warns "weak version `GLIBC_2.39' not found": only two
  # optional symbols (pidfd_spawnp, pidfd_getpid) are missing, the broker runs.
  "$binary" start --only kafka --kafka-port 0 --data-dir "$work/data" >"$work/out" 2>&1 &
  local pid=$!
  # SIGKILL: on a clean exit noida-db would first save everything to the data directory.
  # (|| true: the EXIT trap runs under set -e, and wait reports the kill as a failure.)
  trap 'kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$work" "$bootstrap_file"' EXIT
  trap 'exit 0' TERM INT
  local address=""
  for _ in $(seq 100); do
    address="$(sed -n 's/^ *kafka *\(127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' "$work/out")"
    [ -n "$address" ] && (exec 3<>"/dev/tcp/${address%:*}/${address#*:}") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "noida.sh: noida-db exited:" >&2; cat "$work/out" >&2; exit 1; }
    address=""
    sleep 0.1
  done
  [ -n "$address" ] || { echo "noida.sh: noida-db did not listen within 10 s:" >&2; cat "$work/out" >&2; exit 1; }
  local spec specs=()
  for spec in "impressions:$partitions" "predictions:$partitions" "impressions.dlq:1" "${topics[@]}"; do
    [ "${spec%%:*}" = "$spec" ] && spec="$spec:$partitions"
    specs+=("$spec")
  done
  python3 "$root/scripts/kafka-create-topics.py" "$address" "${specs[@]}"
  echo "$address" > "$bootstrap_file"
  echo "noida.sh: noida-db on $address (pid $pid), address in $bootstrap_file" >&2
  wait "$pid"
}

case "${1:-}" in
  install) install; echo "$binary" ;;
  run) shift; run "$@" ;;
  *) usage ;;
esac
