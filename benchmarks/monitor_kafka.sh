#!/usr/bin/env bash
# scorer monitor through Kafka: how fast one monitor process drains predictions and outcomes that
# are already in the topics (the issue's goal: keep up with 50,000 predictions/s on one core).
#
# One development cluster (scorer broker, its own process) is preloaded once with COUNT predictions
# and COUNT outcomes (benchmarks/monitor_preload.py, confluent-kafka); then each round starts
# `scorer monitor --drain COUNT` in a new consumer group, pinned to one core (taskset -c $CORE:
# the monitor's thread and librdkafka's threads share it), which reads both topics from the log
# start, joins every prediction with its outcome, and prints the rate from the moment the group
# held its partitions to the last label, and the process's CPU seconds per million predictions.
# The script prints each round and the medians.
#
# The mock broker keeps a few MB per partition: COUNT * ~170 bytes / PARTITIONS stays under 2.5 MB.
# Usage: benchmarks/monitor_kafka.sh     (env: COUNT=400000 ROUNDS=5 PARTITIONS=32 CORE=0
#                                               SCORER=path/to/release/scorer)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-400000}
ROUNDS=${ROUNDS:-5}
PARTITIONS=${PARTITIONS:-32}
CORE=${CORE:-0}
if (( COUNT * 170 / PARTITIONS > 2500000 )); then
    echo "COUNT=$COUNT over $PARTITIONS partitions exceeds what the mock broker keeps; raise PARTITIONS" >&2; exit 1
fi
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q -r benchmarks/requirements.txt
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

"$SCORER" broker --partitions "$PARTITIONS" --topic installs --bootstrap-file "$WORK/brokers" >/dev/null 2>"$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 100); do [[ -s "$WORK/brokers" ]] && break; sleep 0.1; done
python3 benchmarks/monitor_preload.py "$(cat "$WORK/brokers")" "$COUNT"

rates=(); cpus=()
for round in $(seq "$ROUNDS"); do
    line=$(taskset -c "$CORE" "$SCORER" monitor --brokers "@$WORK/brokers" --group "monitor-bench-$round" \
        --drain "$COUNT" --duration 300s 2>"$WORK/monitor.log" | tail -1) || { cat "$WORK/monitor.log" >&2; exit 1; }
    echo "round $round: $line"
    rates+=("$(sed -E 's/.*: ([0-9]+) predictions\/s.*/\1/' <<<"$line")")
    cpus+=("$(sed -E 's/.*, ([0-9.]+) CPU-s per million.*/\1/' <<<"$line")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "median: $(median "${rates[@]}") predictions/s, $(median "${cpus[@]}") CPU-s per million predictions" \
     "(one process on core $CORE, $COUNT predictions + $COUNT outcomes, $PARTITIONS partitions, $ROUNDS rounds)"
