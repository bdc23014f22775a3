import Foundation
import Kafka
public import Logging
import ModelBundles
public import ServiceLifecycle
import Synchronization

/// The real-time scoring service as a swift-service-lifecycle `Service`: consumes impression
/// events, scores them in micro-batches and produces predictions and dead letters, at least once.
///
/// Create it (cheap checks: options, model bundle, Kafka properties), then run it in a
/// `ServiceGroup` (or use ``runUntilSignalled(configuration:logger:)``, which is what `scorer run`
/// does). `run()` first checks the brokers and topics (one clear error line each), then serves
/// until graceful shutdown: it stops consuming, drains in-flight outputs, commits, leaves the
/// group and returns.
///
/// Threads: the consume-score-produce loop and the delivery-report loop each run on a dedicated
/// thread (librdkafka calls block); the HTTP endpoint runs on SwiftNIO's event loop; model reloads
/// load on a thread of their own. Nothing blocking runs on Swift's cooperative pool.
public final class ScoringService: Service, Sendable {
    /// What this service was configured with.
    public let configuration: ScoringConfiguration
    /// The service's metrics (its own Prometheus registry).
    public let metrics: ScoringMetrics

    private let logger: Logger
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let initialModels: ServingModels
    private let tracker = OffsetTracker()
    private let slots = ModelSlots()
    private let control: PipelineControl
    private let forwarder: RebalanceForwarder
    private let boundMetricsPort = Mutex<Int?>(nil)
    /// Exactly-once mode: the producer's transactional id (nil at least once).
    private let transactionalID: String?

    /// Validates the options, loads and proves the model bundles and creates the Kafka clients.
    ///
    /// - Throws: ``ScoringError`` (`.invalidConfiguration`, `.invalidModel`,
    ///   `.invalidKafkaConfiguration`) with a one-line description.
    public init(configuration: ScoringConfiguration, logger: Logger) throws(ScoringError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let metrics = ScoringMetrics()
        self.metrics = metrics
        func load(_ path: String, as role: ModelRole) throws(ScoringError) -> ScoringModel {
            do {
                let model = try ScoringModel.load(path: path)
                for warning in model.bundle.warnings { logger.warning("\(warning)") }
                metrics.recordModel(model, role: role)
                return model
            } catch {
                throw ScoringError.invalidModel(path: path, role: role, reason: error.message)
            }
        }
        initialModels = ServingModels(
            primary: try load(configuration.modelPath, as: .primary),
            shadow: try configuration.shadowModelPath.map { path throws(ScoringError) in try load(path, as: .shadow) },
            canary: try configuration.canaryModelPath.map { path throws(ScoringError) in try load(path, as: .canary) },
            canaryBasisPoints: CanarySplit(percent: configuration.canaryPercent).basisPoints)
        if configuration.explainTop > 0, let problem = initialModels.primary.explanationProblem {
            throw ScoringError.invalidModel(path: configuration.modelPath, role: .primary, reason: "--explain: \(problem)")
        }
        let control = PipelineControl()
        self.control = control
        let forwarder = RebalanceForwarder()
        self.forwarder = forwarder
        let statisticsLogger = logger
        do {
            consumer = try KafkaConsumer(
                config: configuration.consumerConfig,
                rebalanceHandler: { forwarder.handle($0) },
                errorHandler: { [control] error in
                    if error.isRebalanceInProgress {
                        // Runs inside poll, on the pipeline's thread: hold commits until the
                        // rebalance is over (see `PipelineControl.rebalanceInProgress`).
                        control.rebalanceInProgress.store(true, ordering: .relaxed)
                        statisticsLogger.debug("consumer: \(error); holding commits until the rebalance completes")
                        return
                    }
                    statisticsLogger.warning("consumer: \(error)")
                },
                statisticsHandler: { json in
                    metrics.recordLag(ConsumerStatistics.lag(fromStatistics: json), dropOthers: true)
                },
                // Input headers are not part of the event contract (DESIGN.md): skip their parse.
                readsHeaders: false,
                offsetResetHandler: { reset in
                    // librdkafka only warns; events between the old position and where it resumes
                    // were never scored: data loss the operator must hear about.
                    metrics.recordOffsetReset(reset)
                    statisticsLogger.error("offset reset skipped input events: \(reset.topic)[\(reset.partition)] could not resume at offset \(reset.fromOffset.map(String.init) ?? "?") and moved to \(reset.to) (\(reset.reason)); events before it were never scored", metadata: [
                        "topic": "\(reset.topic)", "partition": "\(reset.partition)",
                        "from": "\(reset.fromOffset.map(String.init) ?? "?")", "to": "\(reset.to)",
                    ])
                }
            )
            let transactionalID: String? = configuration.guarantee == .exactlyOnce
                ? configuration.stableTransactionalID ?? "scorer-\(configuration.group)-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
                : nil
            self.transactionalID = transactionalID
            if transactionalID != nil, configuration.stableTransactionalID == nil {
                logger.warning("--guarantee exactly-once without --transactional-id or --instance-id: a random transactional id; if this process crashes, read_committed readers of its output partitions wait until the broker aborts its open transaction (transaction.timeout.ms); give each instance a stable --transactional-id (or --instance-id) to end it at restart")
            }
            producer = try KafkaProducer(
                config: transactionalID.map { configuration.transactionalProducerConfig(transactionalID: $0) } ?? configuration.producerConfig,
                errorHandler: { error in
                statisticsLogger.warning("producer: \(error)")
            })
        } catch {
            throw ScoringError.invalidKafkaConfiguration(error.description)
        }
    }

    // MARK: - Observing

    /// A snapshot of the counters for a status line; `resettingWindow` starts a new latency window.
    public func stats(resettingWindow: Bool = false) -> ScoringStats {
        metrics.snapshot(resettingWindow: resettingWindow)
    }

    /// The port the HTTP endpoint listens on, once it does (useful with `metricsPort = 0`).
    public var metricsPort: Int? { boundMetricsPort.withLock { $0 } }

    /// Whether the service is consuming: models loaded, in its consumer group (with or without
    /// partitions: see ``ScoringStats/assignedPartitions``), not draining.
    public var isReady: Bool { control.ready.load(ordering: .relaxed) && !control.isStopRequested }

    // MARK: - Running

    /// Checks brokers and topics, then consumes and scores until graceful shutdown.
    ///
    /// - Throws: ``ScoringError`` for a failed startup check, a delivery that failed for good, or a
    ///   drain that did not finish within `shutdownTimeout`.
    public func run() async throws {
        try await startupChecks()
        let pipeline = ScoringPipeline(
            configuration: configuration, consumer: consumer, producer: producer, tracker: tracker,
            metrics: metrics, models: initialModels, slots: slots, control: control, transactionalID: transactionalID, logger: logger)
        forwarder.pipeline = pipeline

        try await withThrowingTaskGroup(of: Void.self) { group in
            if let port = configuration.metricsPort {
                let server = MetricsServer(
                    host: configuration.metricsHost, port: port, metrics: metrics,
                    isReady: { [control] in control.ready.load(ordering: .relaxed) && !control.isStopRequested },
                    assignedPartitions: { [metrics] in metrics.snapshot(resettingWindow: false).assignedPartitions },
                    logger: logger,
                    onListening: { [logger] port in
                        self.boundMetricsPort.withLock { $0 = port }
                        logger.info("metrics on http://\(self.configuration.metricsHost):\(port)/metrics")
                    })
                let address = "\(configuration.metricsHost):\(port)"
                group.addTask {
                    do {
                        try await server.run()
                    } catch {
                        throw ScoringError(.metricsServerFailed, "cannot serve metrics on \(address): \(error)")
                    }
                }
            }
            let reloader = ModelReloader(
                targets: reloadTargets, watchInterval: configuration.watchModelInterval,
                reloadOnSIGHUP: configuration.reloadOnSIGHUP, explainTop: configuration.explainTop, slots: slots,
                metrics: metrics, logger: logger)
            group.addTask { try await reloader.run() }

            // The Kafka loops: blocking calls on threads of their own.
            let delivery = DeliveryLoop(producer: producer, tracker: tracker, metrics: metrics, control: control, logger: logger)
            let control = self.control
            let timeout = configuration.shutdownTimeout
            try await withGracefulShutdownHandler {
                async let delivered: Void = KafkaThread.run(name: "scorer-deliveries") { delivery.run() }
                do {
                    try await KafkaThread.run(name: "scorer-consume", stackSize: 4 << 20) {
                        defer { control.consumingFinished.store(true, ordering: .releasing) }
                        try pipeline.run()
                    }
                } catch {
                    try? await delivered
                    throw error
                }
                try await delivered
            } onGracefulShutdown: {
                control.requestStop(within: timeout)
            }
            group.cancelAll()
        }
        logger.info("stopped: drained, committed and left the group")
    }

    /// Reloads every model bundle now (as SIGHUP does); a bad bundle is refused and logged, and
    /// its role's current model keeps serving.
    public func reloadModel() async {
        let reloader = ModelReloader(
            targets: reloadTargets, watchInterval: nil, reloadOnSIGHUP: false, explainTop: configuration.explainTop, slots: slots,
            metrics: metrics, logger: logger)
        await reloader.reloadAll()
    }

    private var reloadTargets: [ModelReloader.Target] {
        [ModelReloader.Target(role: .primary, path: configuration.modelPath)]
            + (configuration.shadowModelPath.map { [ModelReloader.Target(role: .shadow, path: $0)] } ?? [])
            + (configuration.canaryModelPath.map { [ModelReloader.Target(role: .canary, path: $0)] } ?? [])
    }

    // MARK: - Startup checks

    private func startupChecks() async throws {
        let configuration = self.configuration
        let consumer = self.consumer
        let brokers = configuration.kafka.bootstrapServers
        try await KafkaThread.run(name: "scorer-startup") {
            do {
                try consumer.checkConnection(timeoutMs: configuration.startupTimeoutMs)
            } catch {
                throw ScoringError.brokerUnreachable(brokers: brokers, reason: "\(error)")
            }
            let admin: KafkaAdmin
            do {
                admin = try KafkaAdmin(config: configuration.kafka)
            } catch {
                throw ScoringError.invalidKafkaConfiguration("\(error)")
            }
            for (topic, role) in [
                (configuration.inputTopic, "input"), (configuration.outputTopic, "output"),
                (configuration.deadLetterTopic, "dlq"),
            ] {
                let metadata: KafkaAdmin.TopicMetadata?
                do {
                    metadata = try admin.topicMetadata(topic, timeoutMs: configuration.startupTimeoutMs)
                } catch {
                    throw ScoringError.brokerUnreachable(brokers: brokers, reason: "\(error)")
                }
                if metadata == nil { throw ScoringError.topicMissing(topic, role: role, brokers: brokers) }
            }
        }
    }
}
