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
# Size: the mock broker keeps ~5 MB per partition (inputs ~350 B, predictions ~300 B): RATE x
# (KILLS + TERMS) x INTERVAL must stay under ~14,000 events per partition.
#
# Usage: benchmarks/group_chaos.sh   (env: ROUNDS=2 KILLS=16 TERMS=4 INTERVAL=6 RATE=600
#                                          PARTITIONS=6 SESSION_TIMEOUT=3 ASSIGNORS="cooperative-sticky range")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
ASSIGNORS=${ASSIGNORS:-"cooperative-sticky range"}
export SCORER_CHAOS_KILLS=${KILLS:-16} SCORER_CHAOS_TERMS=${TERMS:-4} SCORER_CHAOS_INTERVAL=${INTERVAL:-6}
export SCORER_CHAOS_RATE=${RATE:-600} SCORER_CHAOS_PARTITIONS=${PARTITIONS:-6} SCORER_CHAOS_SESSION_TIMEOUT=${SESSION_TIMEOUT:-3}
swift build --build-tests >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  for assignor in $ASSIGNORS; do
    echo "== round $round, $assignor"
    SCORER_CHAOS_ASSIGNOR=$assignor swift test --skip-build --filter 'ScorerProcessTests/chaosKillsAndRestartsLoseNothingAndSurvivorsKeepScoring' 2>&1 \
      | grep -E '^chaos:|passed|failed|recorded an issue' || true
  done
done
