#!/usr/bin/env bash
# The long version of the suite's chaos test (Tests/ScoringTests/ChaosTests.swift): three
# `scorer run` members in one group on the development cluster, members killed with -9 (and a few
# stopped with SIGTERM) in turn and restarted at once, under a steady load. Prints, per run:
#   - events, missing (must be 0) and scored twice;
#   - per stop, how many of the partitions kept producing without a 2 s gap until the next stop,
#     and the longest gap of the better half of the partitions (the survivors' share);
#   - when the killed member's partitions resumed (first prediction after the kill).
# Runs each assignor in turn (interleaved rounds): cooperative-sticky (the default) and range
# (eager, for comparison; the flow assertions apply to cooperative-sticky only).
#
# With MODE=exactly-once it runs the exactly-once chaos instead (--guarantee exactly-once, read
# back read_committed: 0 missing and 0 duplicates), on noida-db with librdkafka $LIBRDKAFKA_VERSION
# (default 2.3.0), the one broker here whose transactions hide aborted records: static members
# (each slot keeps its --instance-id) with range, session timeout at least 6 s (noida-db's minimum);
# it also prints how many restarts took their slot's partitions back.
#
# Size: the mock broker keeps ~5 MB per partition (inputs ~350 B, predictions ~300 B): RATE x
# (KILLS + TERMS) x INTERVAL must stay under ~14,000 events per partition. Each run must also end
# within the suite's 4-minute limit per test: (KILLS + TERMS) x INTERVAL up to about 150 s.
#
# Usage: benchmarks/group_chaos.sh   (env: ROUNDS=2 KILLS=16 TERMS=4 INTERVAL=6 RATE=600
#                                          PARTITIONS=6 SESSION_TIMEOUT=3 ASSIGNORS="cooperative-sticky range"
#                                          MODE=at-least-once|exactly-once)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
MODE=${MODE:-at-least-once}
export SCORER_CHAOS_KILLS=${KILLS:-16} SCORER_CHAOS_TERMS=${TERMS:-4} SCORER_CHAOS_INTERVAL=${INTERVAL:-6}
export SCORER_CHAOS_RATE=${RATE:-600} SCORER_CHAOS_PARTITIONS=${PARTITIONS:-6} SCORER_CHAOS_SESSION_TIMEOUT=${SESSION_TIMEOUT:-3}
swift build --build-tests >/dev/null
if [ "$MODE" = exactly-once ]; then
  version="${LIBRDKAFKA_VERSION:-2.3.0}"
  bash scripts/librdkafka.sh install "$version" >/dev/null
  bash scripts/noida.sh install >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round, exactly-once on noida-db"
    SCORER_TEST_BROKER=noida bash scripts/librdkafka.sh exec "$version" -- swift test --skip-build \
      --filter 'ScorerProcessTests/exactlyOnceChaosKillsAndRestartsAnswerEveryEventOnce' 2>&1 \
      | grep -E '^chaos:|passed|failed|recorded an issue' || true
  done
  exit 0
fi
[ "$MODE" = at-least-once ] || { echo "group_chaos.sh: MODE must be at-least-once or exactly-once (got $MODE)" >&2; exit 2; }
ASSIGNORS=${ASSIGNORS:-"cooperative-sticky range"}
for round in $(seq 1 "$ROUNDS"); do
  for assignor in $ASSIGNORS; do
    echo "== round $round, $assignor"
    SCORER_CHAOS_ASSIGNOR=$assignor swift test --skip-build --filter 'ScorerProcessTests/chaosKillsAndRestartsLoseNothingAndSurvivorsKeepScoring' 2>&1 \
      | grep -E '^chaos:|passed|failed|recorded an issue' || true
  done
done
