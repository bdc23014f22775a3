#!/usr/bin/env bash
# The second broker tier: the integration tests users rely on, against Tansu (an independent
# Kafka-compatible broker) with a modern librdkafka ($LIBRDKAFKA_VERSION, default 2.3.0: the
# Docker image's version) loaded into the same test binaries. The first tier is plain `swift test`
# (librdkafka's mock cluster, Debian's librdkafka).
#
#   scripts/test-brokers.sh [extra swift test arguments]
#
# Tests that need what Tansu lacks (broker fault injection, several brokers) are disabled on it and
# say why in the test output.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${LIBRDKAFKA_VERSION:-2.3.0}"

bash scripts/librdkafka.sh install "$version" >/dev/null
bash scripts/tansu.sh install >/dev/null

# End to end with dead letters, kill -9 and restart, scale-out, SIGTERM drains, reloads, startup
# errors (ScorerProcessTests); the service in process: predictions equal offline scoring, dead
# letters, commits, metrics, lag (ScoringServiceTests); the simulator's --measure and lag report.
suites='ScoringTests\.(ScorerProcessTests|ScoringServiceTests)|LoadSimulatorTests\.LoadSimulatorIntegrationTests/(measureFindsExactlyTheIDsTheScorerDidNotAnswer|lagIsWhatWasProducedMinusWhatTheGroupCommitted|jsonOutputParses)'

export SCORER_TEST_BROKER=tansu
exec bash scripts/librdkafka.sh exec "$version" -- swift test --filter "$suites" "$@"
