import Foundation
public import Kafka

/// Where a ``PredictionMeasurer`` reads answers from, and which of them.
public struct MeasureSettings: Sendable, Hashable {
    /// Which answers the measurer sees when the scorer writes them in Kafka transactions
    /// (`scorer run --guarantee exactly-once`): its consumer's `isolation.level`. Answers written
    /// without transactions (at-least-once) are seen either way.
    public enum Isolation: String, Sendable, Hashable, CaseIterable {
        /// Answers of committed transactions only, as a downstream `read_committed` consumer reads
        /// them (librdkafka's default): an answer's latency includes the wait for its transaction
        /// to commit, and answers of aborted transactions are never seen.
        case readCommitted = "read-committed"
        /// Every answer written, those of aborted and still-open transactions too: an input
        /// answered again after an abort counts as a duplicate.
        case readUncommitted = "read-uncommitted"

        /// The librdkafka `isolation.level` value.
        public var isolationLevel: String {
            switch self {
            case .readCommitted: "read_committed"
            case .readUncommitted: "read_uncommitted"
            }
        }
    }

    /// Topic the scorer publishes predictions to.
    public var predictionsTopic: String
    /// Topic the scorer sends unusable events to; `nil` to not read dead letters.
    public var deadLetterTopic: String?
    /// Timeout of the broker queries `start()` makes (metadata, watermarks).
    public var brokerTimeoutSeconds: Double
    /// Which answers are read; it decides the consumer's `isolation.level`, whatever the Kafka
    /// configuration given to the measurer says.
    public var isolation: Isolation

    public init(predictionsTopic: String = "predictions", deadLetterTopic: String? = "impressions.dlq",
                brokerTimeoutSeconds: Double = 10, isolation: Isolation = .readCommitted) {
        self.predictionsTopic = predictionsTopic
        self.deadLetterTopic = deadLetterTopic
        self.brokerTimeoutSeconds = brokerTimeoutSeconds
        self.isolation = isolation
    }
}

/// Reads the predictions (and dead letters) a scorer publishes and ticks them off in a ``LoadLedger``:
/// end-to-end latency, completeness, duplicates.
///
/// `start()` notes the end offset of every partition of the predictions and dead-letter topics and
/// reads from there, assigned directly (no consumer group, nothing committed, nothing to join), so
/// every answer to an event sent after `start()` returns is seen. Predictions older than the ledger
/// (another run's, still being scored) are recognised by their `event_ts` and counted as foreign.
///
/// Latency is measured on one monotonic clock from just before the event is produced to the moment its
/// prediction is handed to this process, so the replayer and the measurer must share a process (they
/// share the ledger).
///
/// - Important: polling runs on a thread of its own between `start()` and `stop()`.
public final class PredictionMeasurer: Sendable {
    /// The ledger answers are recorded in.
    public let ledger: LoadLedger
    private let settings: MeasureSettings
    private let kafka: KafkaConfig
    private let consumer: KafkaConsumer
    private let control: Locked<Control>

    struct Control {
        var started = false
        var stopRequested = false
        var stopped = false
        var lastAnswerTime: UInt64 = 0
        var lastError: String?
        var notes: [String] = []
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates the measurer and its consumer (not yet reading).
    ///
    /// - Throws: `LoadSimulatorError.kafka` when the consumer cannot be created.
    public init(ledger: LoadLedger, kafka: KafkaConfig, settings: MeasureSettings = MeasureSettings()) throws(LoadSimulatorError) {
        var config = kafka
        config.groupID = nil
        config.autoCommit = false
        config.properties["isolation.level"] = nil
        config.consumerProperties["isolation.level"] = settings.isolation.isolationLevel
        self.ledger = ledger
        self.settings = settings
        self.kafka = config
        let control = Locked(Control())
        self.control = control
        do {
            consumer = try KafkaConsumer(
                config: config, errorHandler: { error in control.withLock { $0.lastError = "\(error)" } },
                readsHeaders: false)  // answers are matched by their values, never by headers
        } catch {
            throw .kafka("cannot create the predictions consumer: \(error)")
        }
    }

    /// Positions the consumer at the current end of the predictions (and dead-letter) topics and starts
    /// reading. Start it before sending.
    ///
    /// - Throws: `LoadSimulatorError.notFound` when the predictions topic does not exist, `.kafka` when
    ///   the brokers cannot be asked. A missing dead-letter topic is not an error (see ``notes``).
    public func start() async throws(LoadSimulatorError) {
        let first = control.withLock { control in
            defer { control.started = true }
            return !control.started
        }
        guard first else { return }
        let result: Result<Void, LoadSimulatorError>
        do {
            result = try await KafkaThread.run(name: "measurer-start") { [self] in
                Result { () throws(LoadSimulatorError) in try assignAtEnd() }
            }
        } catch {
            result = .failure(.kafka("\(error)"))
        }
        if case .failure = result {
            control.withLock { $0.stopped = true }
        }
        try result.get()
        let thread = Thread { [self] in pollLoop() }
        thread.name = "measurer"
        thread.start()
    }

    /// Blocking part of `start()`: the end offsets, then `assign`.
    private func assignAtEnd() throws(LoadSimulatorError) {
        let timeoutMs = Int(settings.brokerTimeoutSeconds * 1000)
        var positions: [TopicPartitionOffset] = []
        var predictionsTopicExists = true
        do throws(KafkaError) {
            let admin = try KafkaAdmin(config: kafka)
            var topics = [settings.predictionsTopic]
            if let deadLetters = settings.deadLetterTopic, deadLetters != settings.predictionsTopic { topics.append(deadLetters) }
            for topic in topics {
                guard let metadata = try admin.topicMetadata(topic, timeoutMs: timeoutMs) else {
                    if topic == settings.predictionsTopic {
                        predictionsTopicExists = false
                        break
                    }
                    control.withLock { $0.notes.append("dead-letter topic \"\(topic)\" does not exist: dead letters are not counted") }
                    continue
                }
                for partition in metadata.partitions {
                    let marks = try admin.watermarks(topic: topic, partition: partition, timeoutMs: timeoutMs)
                    positions.append(TopicPartitionOffset(topic: topic, partition: partition, offset: marks.high))
                }
            }
            if predictionsTopicExists { try consumer.assign(positions, metadataTimeoutMs: timeoutMs) }
        } catch {
            throw .kafka("cannot position the predictions consumer: \(error)")
        }
        guard predictionsTopicExists else {
            throw .notFound(
                "the predictions topic \"\(settings.predictionsTopic)\" does not exist on \(kafka.bootstrapServers): start the scorer (or 'scorer broker') first, or name it with --predictions-topic")
        }
    }

    /// Things worth telling the user about the measurement (e.g. no dead-letter topic).
    public var notes: [String] { control.withLock { $0.notes } }

    /// Waits until every tracked event sent so far has an answer, or until no answer has arrived for
    /// `quietSeconds`. Returns whether nothing is pending.
    ///
    /// Call it after the replayer has finished, to collect the last predictions before the summary.
    public func drain(quietSeconds: Double) async -> Bool {
        let startedWaiting = monotonicNanoseconds()
        while true {
            if ledger.snapshot().counts.pending == 0 { return true }
            let lastAnswer = max(control.withLock { $0.lastAnswerTime }, startedWaiting)
            if monotonicNanoseconds() >= lastAnswer + UInt64(quietSeconds * 1e9) { return false }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Stops reading and leaves the consumer group. Safe to call more than once.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = control.withLock { control in
                control.stopRequested = true
                if control.stopped || !control.started { return true }
                control.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The last error the consumer reported (informational: librdkafka retries by itself).
    public var lastError: String? { control.withLock { $0.lastError } }

    // MARK: - Poll loop

    private func pollLoop() {
        var batch = KafkaMessageBatch()
        defer { finishPolling() }
        let predictions = settings.predictionsTopic
        while !control.withLock({ $0.stopRequested }) {
            do {
                try consumer.poll(into: &batch, maxMessages: 2000, timeoutMs: 50)
            } catch {
                control.withLock { $0.lastError = "\(error)" }
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            guard !batch.isEmpty else { continue }
            let received = monotonicNanoseconds()
            for message in batch {
                guard let value = message.value else { continue }
                value.withUnsafeBufferPointer { bytes in
                    if message.topic == predictions {
                        ledger.recordPrediction(value: bytes, receivedAt: received)
                    } else {
                        ledger.recordDeadLetter(value: bytes, messageTimestampMs: message.timestampMs, receivedAt: received)
                    }
                }
            }
            control.withLock { $0.lastAnswerTime = received }
        }
    }

    private func finishPolling() {
        try? consumer.close()
        let waiters = control.withLock { control in
            control.stopped = true
            defer { control.waiters = [] }
            return control.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
