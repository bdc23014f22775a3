import Foundation
import Kafka
public import Logging
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
    private let initialModel: ScoringModel
    private let tracker = OffsetTracker()
    private let slot = ModelSlot<ScoringModel>()
    private let control = PipelineControl()
    private let forwarder: RebalanceForwarder
    private let boundMetricsPort = Mutex<Int?>(nil)

    /// Validates the options, loads and validates the model bundle and creates the Kafka clients.
    ///
    /// - Throws: ``ScoringError`` (`.invalidConfiguration`, `.invalidModel`,
    ///   `.invalidKafkaConfiguration`) with a one-line description.
    public init(configuration: ScoringConfiguration, logger: Logger) throws(ScoringError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let metrics = ScoringMetrics()
        self.metrics = metrics
        initialModel = try ScoringModel.load(path: configuration.modelPath)
        let forwarder = RebalanceForwarder()
        self.forwarder = forwarder
        let statisticsLogger = logger
        do {
            consumer = try KafkaConsumer(
                config: configuration.consumerConfig,
                rebalanceHandler: { forwarder.handle($0) },
                errorHandler: { error in
                    statisticsLogger.warning("consumer: \(error)")
                },
                statisticsHandler: { json in
                    metrics.recordLag(ConsumerStatistics.lag(fromStatistics: json), dropOthers: true)
                },
                // Input headers are not part of the event contract (DESIGN.md): skip their parse.
                readsHeaders: false
            )
            producer = try KafkaProducer(config: configuration.producerConfig, errorHandler: { error in
                statisticsLogger.warning("producer: \(error)")
            })
        } catch {
            throw ScoringError.invalidKafkaConfiguration(error.description)
        }
        metrics.recordModel(name: initialModel.name, loadedAtSeconds: Date().timeIntervalSince1970)
    }

    // MARK: - Observing

    /// A snapshot of the counters for a status line; `resettingWindow` starts a new latency window.
    public func stats(resettingWindow: Bool = false) -> ScoringStats {
        metrics.snapshot(resettingWindow: resettingWindow)
    }

    /// The port the HTTP endpoint listens on, once it does (useful with `metricsPort = 0`).
    public var metricsPort: Int? { boundMetricsPort.withLock { $0 } }

    /// Whether the service is consuming (assigned partitions, model loaded, not draining).
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
            metrics: metrics, model: initialModel, slot: slot, control: control, logger: logger)
        forwarder.pipeline = pipeline

        try await withThrowingTaskGroup(of: Void.self) { group in
            if let port = configuration.metricsPort {
                let server = MetricsServer(
                    host: configuration.metricsHost, port: port, metrics: metrics,
                    isReady: { [control] in control.ready.load(ordering: .relaxed) && !control.isStopRequested },
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
                path: configuration.modelPath, watchInterval: configuration.watchModelInterval,
                reloadOnSIGHUP: configuration.reloadOnSIGHUP, load: { try ScoringModel.load(path: $0) },
                nameOf: { $0.name }, slot: slot, metrics: metrics, logger: logger)
            group.addTask { try await reloader.run() }

            // The Kafka loops: blocking calls on threads of their own.
            let delivery = DeliveryLoop(producer: producer, tracker: tracker, metrics: metrics, control: control, logger: logger)
            let control = self.control
            let timeout = configuration.shutdownTimeout
            try await withGracefulShutdownHandler {
                async let delivered: Void = onDedicatedThread(name: "scorer-deliveries") { delivery.run() }
                do {
                    try await onDedicatedThread(name: "scorer-consume") {
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

    /// Reloads the model bundle now (as SIGHUP does); a bad bundle is rejected and logged.
    public func reloadModel() async {
        let reloader = ModelReloader(
            path: configuration.modelPath, watchInterval: nil, reloadOnSIGHUP: false,
            load: { try ScoringModel.load(path: $0) }, nameOf: { $0.name }, slot: slot, metrics: metrics, logger: logger)
        await reloader.reload()
    }

    // MARK: - Startup checks

    private func startupChecks() async throws {
        let configuration = self.configuration
        let consumer = self.consumer
        let brokers = configuration.kafka.bootstrapServers
        try await onDedicatedThread(name: "scorer-startup") {
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
