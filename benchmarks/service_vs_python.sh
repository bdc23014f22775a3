#!/usr/bin/env bash
# `scorer run` vs the Python baselines (benchmarks/python_baseline.py, benchmarks/python_lean_baseline.py)
# and the C pass-through (benchmarks/passthrough/passthrough.c, consume -> produce -> commit, no
# scoring: the client-side limit; compiled here with gcc against the system librdkafka) on one
# development cluster: throughput draining a 500k-event backlog, end-to-end latency at 5,000
# events/s for 60 s, and resident memory, side by side in one run, interleaved, medians and ratios.
#
#   bash benchmarks/service_vs_python.sh                     # the full run (about 6-8 minutes)
#   bash benchmarks/service_vs_python.sh --backlog 100000 --repeats 1 --latency-seconds 20   # quick look
#
#   bash benchmarks/service_vs_python.sh --skip latency --repeats 5     # the four-way drain only
#   bash benchmarks/service_vs_python.sh --sides swift,python           # the two sides of earlier sessions
#   bash benchmarks/service_vs_python.sh --broker tansu --partitions 8   # against Tansu (librdkafka 2.3.0 loaded
#                                                                      # for every client, scripts/librdkafka.sh)
#
# Every option is passed to benchmarks/service/compare.py (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q -r benchmarks/requirements.txt >&2 \
  || python3 -m pip install -q --break-system-packages -r benchmarks/requirements.txt >&2
swift build -c release --product scorer >&2
swift build -c release --product simulator >&2
bin="$(swift build -c release --show-bin-path)"
gcc -O2 -Wall -o "$bin/passthrough" benchmarks/passthrough/passthrough.c -lrdkafka
if [[ " $* " == *" --broker tansu "* ]]; then
    exec bash scripts/librdkafka.sh exec -- python3 benchmarks/service/compare.py --scorer "$bin/scorer" --simulator "$bin/simulator" --passthrough "$bin/passthrough" "$@"
fi
exec python3 benchmarks/service/compare.py --scorer "$bin/scorer" --simulator "$bin/simulator" --passthrough "$bin/passthrough" "$@"
