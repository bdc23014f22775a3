#!/usr/bin/env bash
# Kafka wrapper vs kcat, side by side on the development cluster (librdkafka's mock brokers).
#
# Both sides link the same librdkafka and get the same client settings. Three measurements, each
# as wall-clock time of a whole process (start-up included on both sides):
#   produce      COUNT messages of SIZE bytes, waiting for every delivery report
#                  ours: scorer broker bench produce      kcat: kcat -P < file
#   consume      COUNT messages from the beginning of every partition (no consumer group)
#                  ours: scorer broker bench consume      kcat: kcat -C -o beginning -c COUNT -e
#   passthrough  consume COUNT messages and produce each to another topic, waiting for delivery
#                  ours: scorer broker bench passthrough  kcat: kcat -C ... | kcat -P
#                  (both sides consume and produce concurrently: kcat in two processes, ours in
#                  two threads of one process, the consuming one handing batches to the other)
# Rounds interleave the two sides (alternating which goes first); the script prints the median
# of each and the ratio kcat time / our time (> 1.0 means our wrapper is faster).
#
# The mock broker keeps only a few MB per partition: COUNT * SIZE / PARTITIONS must stay under
# about 2 MB (checked before measuring). COUNT is large enough that process start-up (about 20 ms
# for our Swift binary, 3 ms for kcat; printed at the end) weighs a few percent, not the result.
#
# BROKER=tansu measures against Tansu instead (scripts/tansu.sh, an independent Kafka-compatible
# broker), both sides with librdkafka $LIBRDKAFKA_VERSION (default 2.3.0, scripts/librdkafka.sh)
# loaded at run time, and librdkafka's default client settings (the `kafka` profile).
#
# Usage: benchmarks/kafka_throughput.sh            (env: COUNT=500000 ROUNDS=5 SIZE=150 PARTITIONS=64
#                                                        SCORER=path/to/release/scorer BROKER=mock|tansu)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-500000}
ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-150}
PARTITIONS=${PARTITIONS:-64}
BROKER=${BROKER:-mock}
command -v kcat >/dev/null || { echo "kcat not found: apt-get install kcat" >&2; exit 1; }
if [[ -z "${SCORER:-}" ]]; then
    swift build -c release --product scorer >&2
    SCORER="$(swift build -c release --show-bin-path)/scorer"
fi

WORK=$(mktemp -d)
BROKER_PID=""
cleanup() {
    if [[ -n "$BROKER_PID" ]]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "$BROKER" == tansu ]]; then
    export LD_LIBRARY_PATH="$(bash scripts/librdkafka.sh install)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    bash scripts/tansu.sh run --partitions "$PARTITIONS" --topic "bench-in:$PARTITIONS" --topic "bench-produce:$PARTITIONS" \
        --topic "bench-pass:$PARTITIONS" --bootstrap-file "$WORK/brokers" >/dev/null 2>"$WORK/broker.log" &
    BROKER_PID=$!
    # librdkafka's defaults on both sides (the scorer's `kafka` profile: the file has no development marker).
    KCAT_CONSUMER=()
else
    "$SCORER" broker --partitions "$PARTITIONS" --topic bench-in --topic bench-produce --topic bench-pass \
        --bootstrap-file "$WORK/brokers" >/dev/null 2>"$WORK/broker.log" &
    BROKER_PID=$!
    # The development-cluster client preset (KafkaConfig.developmentClusterProperties), for kcat's
    # consumers; our side gets it from the bootstrap file.
    KCAT_CONSUMER=(-X fetch.wait.max.ms=1 -X queued.min.messages=200000 -X queued.max.messages.kbytes=262144)
fi
for _ in $(seq 100); do [[ -s "$WORK/brokers" ]] && break; sleep 0.1; done
[[ -s "$WORK/brokers" ]] || { cat "$WORK/broker.log" >&2; echo "broker did not start" >&2; exit 1; }
ADDRESS=$(head -n 1 "$WORK/brokers")
BROKER_PROCESS=$(pgrep -f "tansu broker --listener-url tcp://$ADDRESS" || echo "$BROKER_PID")

python3 -c "import sys; sys.stdout.write(('x' * $SIZE + '\n') * $COUNT)" > "$WORK/payload"
# Input of consume and passthrough, spread evenly: librdkafka's default sticky partitioner sends
# 10 ms runs of keyless messages to one partition, which can overflow the mock's retention.
kcat -P -b "$ADDRESS" -t bench-in -X sticky.partitioning.linger.ms=0 < "$WORK/payload"
# The mock broker drops a partition's oldest data beyond a few MB: check the input is whole, so
# neither side can finish early on a short topic (kcat -e would stop silently at the end).
stored=$(kcat -C -b "$ADDRESS" -t bench-in -o beginning -e -q "${KCAT_CONSUMER[@]}" | wc -l)
if (( stored != COUNT )); then
    echo "bench-in holds $stored of $COUNT messages (mock broker retention): lower COUNT or raise PARTITIONS" >&2
    exit 1
fi

ours_produce()     { "$SCORER" broker bench produce --bootstrap "@$WORK/brokers" --bench-topic bench-produce --count "$COUNT" --size "$SIZE" >/dev/null; }
kcat_produce()     { kcat -P -b "$ADDRESS" -t bench-produce < "$WORK/payload"; }
ours_consume()     { "$SCORER" broker bench consume --bootstrap "@$WORK/brokers" --bench-topic bench-in --count "$COUNT" >/dev/null; }
kcat_consume()     { kcat -C -b "$ADDRESS" -t bench-in -o beginning -c "$COUNT" -e -q "${KCAT_CONSUMER[@]}" >/dev/null; }
ours_passthrough() { "$SCORER" broker bench passthrough --bootstrap "@$WORK/brokers" --bench-topic bench-in --to bench-pass --count "$COUNT" >/dev/null; }
kcat_passthrough() { kcat -C -b "$ADDRESS" -t bench-in -o beginning -c "$COUNT" -e -q "${KCAT_CONSUMER[@]}" | kcat -P -b "$ADDRESS" -t bench-pass; }

# CPU seconds the broker process has used so far (the mock cluster runs inside `scorer broker`).
broker_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$BROKER_PROCESS/stat"; }

# Prints the wall-clock seconds of one run of function $1, and the broker's CPU seconds meanwhile.
timed() {
    local start end cpu0 cpu1
    cpu0=$(broker_cpu)
    start=$(date +%s%N)
    "$1" || { echo "$1 failed" >&2; exit 1; }
    end=$(date +%s%N)
    cpu1=$(broker_cpu)
    echo "$(echo "scale=4; ($end - $start) / 1000000000" | bc) $(echo "$cpu1 - $cpu0" | bc)"
}

echo "Kafka wrapper vs kcat on $BROKER: $COUNT messages of $SIZE bytes, $PARTITIONS partitions, $ROUNDS rounds, librdkafka $("$SCORER" --version | grep -o 'librdkafka [0-9.]*' | cut -d' ' -f2)" >&2
: > "$WORK/times"
for round in $(seq "$ROUNDS"); do
    for what in produce consume passthrough; do
        if (( round % 2 )); then order="ours kcat"; else order="kcat ours"; fi
        for side in $order; do
            read -r seconds broker_seconds < <(timed "${side}_${what}")
            echo "$what $side $seconds $broker_seconds" >> "$WORK/times"
            echo "  round $round $what $side ${seconds}s (broker ${broker_seconds} CPU-s)" >&2
        done
    done
done

# Process start-up alone (argument parsing included), for reading the figures above.
startup_ms() { python3 - "$@" <<'PY'
import statistics, subprocess, sys, time
runs = []
for _ in range(21):
    start = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs.append(time.perf_counter() - start)
print(f"{statistics.median(runs) * 1000:.1f}")
PY
}
OURS_STARTUP=$(startup_ms "$SCORER" broker bench --help)
KCAT_STARTUP=$(startup_ms kcat -V)

python3 - "$WORK/times" "$COUNT" <<'PY'
import statistics, sys
times, broker, count = {}, {}, int(sys.argv[2])
for line in open(sys.argv[1]):
    what, side, seconds, broker_seconds = line.split()
    times.setdefault((what, side), []).append(float(seconds))
    broker.setdefault((what, side), []).append(float(broker_seconds) / float(seconds))
print(f"{'':12} {'ours msg/s':>12} {'kcat msg/s':>12} {'ratio of medians':>17} {'median of round ratios':>23} {'broker cores (ours/kcat)':>25}")
for what in ("produce", "consume", "passthrough"):
    ours_runs, kcat_runs = times[(what, "ours")], times[(what, "kcat")]
    ours, kcat = statistics.median(ours_runs), statistics.median(kcat_runs)
    paired = statistics.median(k / o for o, k in zip(ours_runs, kcat_runs))
    cores = f"{statistics.median(broker[(what, 'ours')]):.2f} / {statistics.median(broker[(what, 'kcat')]):.2f}"
    print(f"{what:12} {count / ours:12,.0f} {count / kcat:12,.0f} {kcat / ours:17.2f} {paired:23.2f} {cores:>25}")
print("ratio > 1.0: our wrapper is faster than kcat; broker cores: the broker's CPU while each side ran")
PY
echo "process start-up, included in every time above: ours ${OURS_STARTUP} ms, kcat ${KCAT_STARTUP} ms (median of 21)"
