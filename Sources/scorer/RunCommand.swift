import ArgumentParser
import Foundation
import Kafka
import KafkaOptions
import Logging
import Scoring

/// `scorer run`: the scoring service.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Score impression events from Kafka in real time, at least once or exactly once.",
        discussion: """
            Consumes impression events (JSON) from --input-topic in consumer group --group, \
            scores them in micro-batches with the model bundle, and produces one prediction per \
            event to --output-topic (key = input key; headers source.topic/partition/offset). \
            Events that cannot be scored go untouched to --dlq-topic with an 'error' header.

            Delivery is at least once: an input offset is committed only after its output, and \
            the outputs of all earlier offsets of its partition, are acknowledged by the broker. \
            A crash re-scores a bounded window; nothing is lost. Start more instances with the \
            same --group to share the partitions.

            --guarantee exactly-once wraps each commit interval in a Kafka transaction: the \
            outputs and the input offsets they answer commit together (KIP-447), so readers with \
            isolation.level=read_committed see each event's output exactly once, even across \
            kill -9. Outputs become visible at the commit, so their latency grows by up to \
            --commit-interval. The broker must support transactions; give each instance a \
            stable --transactional-id (or --instance-id, which names it), so a restart aborts \
            what the crashed process left open at once.

            Every bundle is proven when loaded: features.json must fit the model, and the model \
            must reproduce the probabilities XGBoost (model.json) or LightGBM (model.txt) gave the \
            events of its reference.jsonl, bit for bit. Predictions name the model as name@hash \
            (a hash of model.json or model.txt and \
            features.json). --shadow adds a second model's p_shadow to every prediction; \
            --canary lets a second model answer a sticky share of event ids.

            Signals: SIGTERM/SIGINT stop consuming, drain, commit and leave the group (exit 0 \
            within --shutdown-timeout); a second one exits at once. SIGHUP reloads every model \
            bundle (a bad bundle is refused and that role's current model keeps serving).

            HTTP on --metrics-port: /metrics (Prometheus), /healthz, /readyz (ready once in the \
            group, with or without partitions: scorer_assigned_partitions says how many).

            Examples:
            scorer run --brokers localhost:9092
            scorer run --brokers @/tmp/scorer.bootstrap --model models/install-v1 --watch-model
            scorer run --brokers kafka:9092 -X security.protocol=SASL_SSL --group scorer-eu --metrics-port 9464
            scorer run --brokers kafka:9092 --model models/install-v1 --canary models/install-v2 --canary-percent 5
            scorer run --brokers kafka:9092 --guarantee exactly-once --instance-id scorer-0
            """
    )

    @OptionGroup(title: "Kafka") var kafka: KafkaConnectionOptions

    @Option(name: .long, help: ArgumentHelp("Topic of impression events.", valueName: "TOPIC"))
    var inputTopic = "impressions"

    @Option(name: .long, help: ArgumentHelp("Topic predictions are written to.", valueName: "TOPIC"))
    var outputTopic = "predictions"

    @Option(name: .customLong("dlq-topic"), help: ArgumentHelp("Topic unusable events are written to, untouched.", valueName: "TOPIC"))
    var deadLetterTopic = "impressions.dlq"

    @Option(name: .long, help: ArgumentHelp("Consumer group; instances in one group share partitions.", valueName: "NAME"))
    var group = "scorer"

    @Option(name: .long, help: ArgumentHelp("How the group spreads partitions: cooperative-sticky (the default; incremental: a member joining, leaving or dying moves only the partitions that must move, the others keep flowing), or range or roundrobin (eager: every rebalance stops every member). All instances of a group must use the same.", valueName: "NAME"))
    var assignor = ScoringConfiguration.Assignor.cooperativeSticky.rawValue

    @Option(name: .long, help: ArgumentHelp("Static group membership (group.instance.id): an instance restarted with the same id within the session timeout gets its partitions back without a rebalance. Unique per instance, e.g. the StatefulSet pod name. A static member leaving does not hand its partitions over before the session timeout.", valueName: "ID"))
    var instanceId: String?

    @Option(name: .long, help: ArgumentHelp("at-least-once (the default: offsets are committed after the outputs are acknowledged; a crash may publish some outputs twice) or exactly-once (Kafka transactions: read_committed readers see each output once; outputs appear at each commit, up to --commit-interval later).", valueName: "MODE"))
    var guarantee = ScoringConfiguration.Guarantee.atLeastOnce.rawValue

    @Option(name: .long, help: ArgumentHelp("With --guarantee exactly-once: the producer's transactional.id, unique per instance and the same after a restart, so the restarted process aborts what the crashed one left open at once and fences it. Default: scorer-GROUP-ID with --instance-id ID, else random per process (a crash then holds back read_committed readers of its output partitions until the broker's transaction timeout, 10 s here).", valueName: "ID"))
    var transactionalId: String?

    @Option(name: .long, help: ArgumentHelp("Model bundle folder (model.json or model.txt, features.json, card.json).", valueName: "PATH"))
    var model = "models/install-v1"

    @Option(name: .long, help: ArgumentHelp("A second bundle that scores every event too: its probability is published as p_shadow (and its identity as shadow_model), never as the answer.", valueName: "PATH"))
    var shadow: String?

    @Option(name: .long, help: ArgumentHelp("A bundle that answers --canary-percent of the events, chosen by a hash of the event id (the same ids in every instance and after restarts); predictions then say \"variant\":\"canary\" or \"primary\".", valueName: "PATH"))
    var canary: String?

    @Option(name: .long, help: ArgumentHelp("The canary's share of events, 0-100 (needs --canary).", valueName: "PERCENT"))
    var canaryPercent: Double?

    @Option(name: .long, help: ArgumentHelp("Add \"reasons\" to each prediction the primary model answers: its K largest TreeSHAP contributions by absolute value, as [{\"feature\",\"value\",\"contribution\"},...] (what 'scorer score --features-csv --top K' prints). 0 = none.", valueName: "K"))
    var explain = 0

    @Option(name: .long, help: ArgumentHelp("Largest micro-batch, in events.", valueName: "N"))
    var maxBatch = 1_000

    @Option(name: .long, help: ArgumentHelp("Longest a micro-batch waits for more events after its first, in milliseconds (fractions allowed). 0 scores what has arrived at once: lowest latency, and under load batches still fill from librdkafka's prefetch.", valueName: "MS"))
    var maxWait = 0.0

    @Option(name: .long, help: ArgumentHelp("Seconds allowed for draining and committing on SIGTERM/SIGINT.", valueName: "SECONDS"))
    var shutdownTimeout = 30.0

    @Option(name: .long, help: ArgumentHelp("Consumer group session timeout in seconds: how long the group waits for a crashed instance before moving its partitions (default: librdkafka's 45).", valueName: "SECONDS"))
    var sessionTimeout: Double?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the brokers at startup before giving up.", valueName: "SECONDS"))
    var startupTimeout = 10.0

    @Flag(name: .long, help: "Also reload a model when its bundle changes on disk (every bundle, polled every --watch-interval).")
    var watchModel = false

    @Option(name: .long, help: ArgumentHelp("Seconds between checks of the bundle with --watch-model.", valueName: "SECONDS"))
    var watchInterval = 2.0

    @Option(name: .long, help: ArgumentHelp("Port of /metrics, /healthz and /readyz (0 = any free port, logged).", valueName: "PORT"))
    var metricsPort = 9464

    @Flag(name: .long, help: "Serve no HTTP endpoint.")
    var noMetrics = false

    @Option(name: .long, help: ArgumentHelp("Address the HTTP endpoint binds to.", valueName: "HOST"))
    var metricsHost = "0.0.0.0"

    @Option(name: .long, help: ArgumentHelp("Outputs awaiting broker acknowledgement above which consumption pauses.", valueName: "N"))
    var maxInFlight = 50_000

    @Option(name: .long, help: ArgumentHelp("Milliseconds between offset commits. With --guarantee exactly-once: the longest an output waits for its transaction to commit, which is when read_committed readers see it (a transaction commits this long after the event of its first output, less what recent commits take).", valueName: "MS"))
    var commitInterval = 100

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical. Event payloads are only logged at trace.", valueName: "LEVEL"))
    var logLevel = "info"

    func validate() throws {
        if maxWait < 0 || maxWait > 10_000 { throw ValidationError("--max-wait must be between 0 and 10000 ms (got \(maxWait)).") }
        if shutdownTimeout <= 0 { throw ValidationError("--shutdown-timeout must be positive (got \(shutdownTimeout)).") }
        if let sessionTimeout, sessionTimeout < 1 || sessionTimeout > 3_600 {
            throw ValidationError("--session-timeout must be between 1 and 3600 seconds (got \(sessionTimeout)).")
        }
        if startupTimeout <= 0 { throw ValidationError("--startup-timeout must be positive (got \(startupTimeout)).") }
        if watchInterval <= 0 { throw ValidationError("--watch-interval must be positive (got \(watchInterval)).") }
        if !(0...1_000).contains(explain) { throw ValidationError("--explain must be between 0 and 1000 (got \(explain)).") }
        if !(1...100_000).contains(maxBatch) { throw ValidationError("--max-batch must be between 1 and 100000 (got \(maxBatch)).") }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got '\(logLevel)').")
        }
        if let canaryPercent {
            if canary == nil { throw ValidationError("--canary-percent needs --canary PATH.") }
            if !(0...100).contains(canaryPercent) { throw ValidationError("--canary-percent must be between 0 and 100 (got \(canaryPercent)).") }
        }
        if ScoringConfiguration.Assignor(rawValue: assignor) == nil {
            throw ValidationError("--assignor must be one of \(ScoringConfiguration.Assignor.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(assignor)').")
        }
        if ScoringConfiguration.Guarantee(rawValue: guarantee) == nil {
            throw ValidationError("--guarantee must be one of \(ScoringConfiguration.Guarantee.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(guarantee)').")
        }
        if let transactionalId {
            if guarantee != ScoringConfiguration.Guarantee.exactlyOnce.rawValue { throw ValidationError("--transactional-id needs --guarantee exactly-once.") }
            if transactionalId.isEmpty { throw ValidationError("--transactional-id must not be empty.") }
        }
        if commitInterval < 1 || commitInterval > 600_000 {
            throw ValidationError("--commit-interval must be between 1 and 600000 ms (got \(commitInterval)).")
        }
        if let instanceId, instanceId.isEmpty || instanceId.count > 249 {
            throw ValidationError("--instance-id must be 1 to 249 characters (got \(instanceId.count)).")
        }
        if !(0...65_535).contains(metricsPort) { throw ValidationError("--metrics-port must be between 0 and 65535 (got \(metricsPort)).") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        routeLibrdkafkaLogs(to: Logger(label: "librdkafka"))
        var logger = Logger(label: "scorer")
        logger.logLevel = level
        logger.info("scorer \(Scorer.version), librdkafka \(KafkaError.librdkafkaVersion)")

        let configuration: ScoringConfiguration
        do {
            var scoring = ScoringConfiguration(
                kafka: try kafka.makeConfig(clientID: "scorer", groupID: group, forConsumer: true))
            scoring.inputTopic = inputTopic
            scoring.outputTopic = outputTopic
            scoring.deadLetterTopic = deadLetterTopic
            scoring.group = group
            scoring.assignor = ScoringConfiguration.Assignor(rawValue: assignor) ?? .cooperativeSticky
            scoring.instanceID = instanceId
            scoring.guarantee = ScoringConfiguration.Guarantee(rawValue: guarantee) ?? .atLeastOnce
            scoring.transactionalID = transactionalId
            scoring.modelPath = model
            scoring.shadowModelPath = shadow
            scoring.canaryModelPath = canary
            scoring.canaryPercent = canaryPercent ?? 10
            scoring.maxBatch = maxBatch
            scoring.explainTop = explain
            scoring.maxWaitMicros = Int((maxWait * 1_000).rounded())
            scoring.shutdownTimeout = .milliseconds(Int64((shutdownTimeout * 1_000).rounded()))
            scoring.watchModelInterval = watchModel ? .milliseconds(Int64((watchInterval * 1_000).rounded())) : nil
            scoring.metricsPort = noMetrics ? nil : metricsPort
            scoring.metricsHost = metricsHost
            scoring.maxInFlight = max(maxInFlight, maxBatch)
            scoring.commitIntervalMs = commitInterval
            scoring.startupTimeoutMs = Int((startupTimeout * 1_000).rounded())
            if let sessionTimeout { scoring.kafka.sessionTimeoutMs = Int((sessionTimeout * 1_000).rounded()) }
            configuration = scoring
        } catch let error as ValidationError {
            throw error
        } catch {
            // A bad -X property: one line naming it.
            throw fail("invalid Kafka configuration: \(error)")
        }

        do {
            try await ScoringService.runUntilSignalled(configuration: configuration, logger: logger)
        } catch let error as ScoringError {
            throw fail(error.description)
        }
    }

    /// Prints `error: <line>` and returns the exit code to throw.
    private func fail(_ line: String) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(line)\n".utf8))
        return ExitCode(1)
    }
}
