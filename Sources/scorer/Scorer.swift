import ArgumentParser
import Kafka

/// The `scorer` command line: the service, its demo, offline scoring, and the operator tools.
@main
struct Scorer: AsyncParsableCommand {
    /// The scorer's own version.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "scorer",
        abstract: "Real-time install-probability scoring of ad impressions over Kafka.",
        discussion: """
            Reads impression events (JSON) from a Kafka topic, featurizes them as the training \
            pipeline did, scores them in micro-batches with a vectorised XGBoost evaluator and \
            publishes one install probability per event, at-least-once.

            Start here:
              scorer demo                                   embedded cluster + simulator + scorer, 30 s
              scorer broker --bootstrap-file /tmp/kafka.addr
              scorer run --brokers @/tmp/kafka.addr --metrics-port 9100
              scorer lag --brokers @/tmp/kafka.addr --follow
              scorer score --model models/install-v1 --events events.jsonl
              scorer model inspect models/install-v1

            Kafka addresses: --brokers HOST:PORT[,...] or @FILE, else $SCORER_BROKERS.
            Any librdkafka property: -X key=value (repeatable), e.g. for SASL/TLS.
            """,
        // The librdkafka loaded at run time (which LD_LIBRARY_PATH or scripts/librdkafka.sh may
        // change without a rebuild), not the headers it was compiled against.
        version: "\(Scorer.version) (librdkafka \(KafkaError.librdkafkaVersion))",
        subcommands: [
            DemoCommand.self, RunCommand.self, ScoreCommand.self, ModelCommand.self,
            BrokerCommand.self, LagCommand.self, MonitorCommand.self,
        ]
    )
}

/// A problem that ends a command with one line (printed by ArgumentParser as `Error: ...`, exit
/// status 1): a model bundle that is refused, an unreadable input, a demo that could not run.
/// Usage mistakes are `ValidationError`s instead, which also print the usage.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
