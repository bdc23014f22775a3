#!/usr/bin/env bash
# A crash loop on Tansu: 3 `scorer run` instances (8 partitions, 1,000 events/s from the simulator),
# 8 kill -9s and 2 SIGTERMs, one every 6 s, each instance restarted at once (as a supervisor
# would). Prints every assignment and revocation with its time, and writes each instance's log,
# with librdkafka's group coordination (`-X debug=cgrp`), under the printed folder.
#
#   bash benchmarks/brokers/crash_loop.sh                 # librdkafka's 45 s session timeout
#   SESSION=10 bash benchmarks/brokers/crash_loop.sh      # --session-timeout 10
set -uo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product scorer >&2 && swift build -c release --product simulator >&2 || exit 1
bin="$(swift build -c release --show-bin-path)"
export LD_LIBRARY_PATH="$(bash scripts/librdkafka.sh install)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out="$(mktemp -d /tmp/crash-loop.XXXXXX)"
bash scripts/tansu.sh run --bootstrap-file "$out/addr" --partitions 8 2>/dev/null &
runner=$!
for _ in $(seq 100); do [ -s "$out/addr" ] && break; sleep 0.1; done
addr="$(cat "$out/addr")"
declare -A pid
n=0
start() {
  n=$((n + 1))
  "$bin/scorer" run --brokers "$addr" --no-metrics ${SESSION:+--session-timeout $SESSION} \
    -X debug=cgrp --log-level debug > "$out/s$1.$n.log" 2>&1 &
  pid[$1]=$!
  echo "$(date +%T) start instance $1" >> "$out/timeline"
}
for i in 1 2 3; do start $i; done
"$bin/simulator" --brokers "$addr" --rate 1000 --duration 400 > "$out/simulator.log" 2>&1 &
sim=$!
sleep "${WARM:-40}"
k=0
for sig in 9 9 15 9 9 9 15 9 9 9; do
  k=$((k + 1)); i=$(( (k % 3) + 1 ))
  echo "$(date +%T) kill -$sig instance $i" >> "$out/timeline"
  kill -"$sig" "${pid[$i]}" 2>/dev/null
  if [ "$sig" = 15 ]; then for _ in $(seq 100); do kill -0 "${pid[$i]}" 2>/dev/null || break; sleep 0.1; done; fi
  start "$i"
  sleep 6
done
echo "$(date +%T) last fault" >> "$out/timeline"
sleep "${AFTER:-120}"
for i in 1 2 3; do kill -TERM "${pid[$i]}" 2>/dev/null; done
kill "$sim" 2>/dev/null
sleep 5
kill -TERM "$runner" 2>/dev/null; wait 2>/dev/null
{
  cat "$out/timeline"
  for f in "$out"/s*.log; do
    grep -E "\[Scoring\] (partitions (assigned|revoked|lost)|no partitions assigned)" "$f" \
      | sed -E "s/^[0-9-]+T([0-9:]+)\+0000 [a-z]+ scorer: (group=[^ ]+ )?(partitions=\[.*\] )?\[Scoring\] /\1 $(basename "$f" .log) \3/"
  done
} | sort
echo "logs: $out"
