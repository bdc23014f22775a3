#!/usr/bin/env bash
# What fetch.wait.max.ms does against a broker that holds an empty fetch for the whole wait (Tansu):
# for each value, a fresh Tansu (4 partitions), `scorer run` and `simulator --measure` (5,000
# events/s for 10 s) both with that fetch.wait.max.ms, librdkafka $LIBRDKAFKA_VERSION (default
# 2.3.0). Prints e2e latency, predictions answered, and the CPU the broker and the scorer used
# while busy (the 10 s) and idle (5 s after), in cores.
#
#   /work/tools/quiet bench bash benchmarks/brokers/fetch_wait.sh 500 100 50 20 5 1
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then values=("$@"); else values=(500 100 50 20 5 1); fi
swift build -c release --product scorer >&2
swift build -c release --product simulator >&2
bin="$(swift build -c release --show-bin-path)"
lib="$(bash scripts/librdkafka.sh install)"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf '%-8s %-9s %7s %7s %7s  %-11s %-11s %-11s %-11s\n' fetch_ms answered p50_ms p99_ms max_ms tansu_busy scorer_busy tansu_idle scorer_idle
for fw in "${values[@]}"; do
  rm -f "$work/addr"
  bash scripts/tansu.sh run --bootstrap-file "$work/addr" --partitions 4 2>/dev/null &
  runner=$!
  for _ in $(seq 100); do [ -s "$work/addr" ] && break; sleep 0.1; done
  addr="$(cat "$work/addr")"
  broker=$(pgrep -f "tansu broker --listener-url tcp://$addr")
  "$bin/scorer" run --brokers "$addr" --broker-profile kafka --group "fw$fw" --session-timeout 6 --no-metrics \
    -X "fetch.wait.max.ms=$fw" > "$work/scorer.log" 2>&1 &
  scorer=$!
  for _ in $(seq 150); do grep -q "partitions assigned" "$work/scorer.log" && break; sleep 0.2; done
  t0=$(ticks "$broker"); s0=$(ticks "$scorer"); w0=$(date +%s.%N)
  "$bin/simulator" --brokers "$addr" --broker-profile kafka --rate 5000 --duration 10 --measure --drain 3s --json \
    -X "fetch.wait.max.ms=$fw" > "$work/sim.ndjson" 2>/dev/null || true
  t1=$(ticks "$broker"); s1=$(ticks "$scorer"); w1=$(date +%s.%N)
  sleep 5
  t2=$(ticks "$broker"); s2=$(ticks "$scorer")
  python3 - "$work/sim.ndjson" "$fw" $((t1 - t0)) $((s1 - s0)) $((t2 - t1)) $((s2 - s1)) "$hz" "$w0" "$w1" <<'PY'
import json, sys
path, fw = sys.argv[1], sys.argv[2]
tb, sb, ti, si, hz = map(int, sys.argv[3:8])
busy = float(sys.argv[9]) - float(sys.argv[8])  # the simulator's run: sending and draining
summary = next((json.loads(l) for l in open(path) if '"type":"summary"' in l), None)
if summary is None:
    print(f"{fw:<8} no summary")
    sys.exit()
c, lat = summary["counts"], summary["latency_ms"]
answered = f'{c["predicted"]}/{c["sent"]}'
p = lambda k: f'{lat.get(k, float("nan")):7.1f}' if c["predicted"] else '      -'
print(f'{fw:<8} {answered:<9} {p("p50_ms")} {p("p99_ms")} {p("max_ms")}  '
      f'{tb / hz / busy:<11.2f} {sb / hz / busy:<11.2f} {ti / hz / 5:<11.2f} {si / hz / 5:<11.2f}')
PY
  kill -TERM "$scorer" 2>/dev/null; wait "$scorer" 2>/dev/null || true
  kill -TERM "$runner" 2>/dev/null; wait "$runner" 2>/dev/null || true
done
