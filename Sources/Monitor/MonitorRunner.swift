import Foundation
public import Kafka
import Synchronization

/// Where the monitor reads from.
public struct MonitorTopics: Sendable, Hashable {
    public var predictions: String
    public var outcomes: String

    public init(predictions: String = "predictions", outcomes: String = "installs") {
        self.predictions = predictions
        self.outcomes = outcomes
    }
}

/// Runs an ``OutcomeMonitor`` over a consumer group of the predictions and outcomes topics.
///
/// Partitions are assigned with the range assignor, which gives one member the same partition
/// numbers of both topics when they have the same partition count, so every member joins locally.
/// Offsets are committed as read (auto-commit): a member resumes where the group left off. Join state
/// lives only in memory and is derived from the two topics: a partition number that moves to
/// another member is dropped here and rebuilt there from its committed offset on.
///
/// - Important: `start()` runs the consumer loop on a thread of its own; `snapshot`, `stop` and
///   `wait` may be called from anywhere.
public final class MonitorRunner: Sendable {
    private let consumer: KafkaConsumer
    private let topics: MonitorTopics
    private let shared: Shared
    private let monitorSettings: MonitorSettings
    /// How often the loop publishes a snapshot.
    private let snapshotIntervalMs: Int64

    struct State: Sendable {
        var latest: MonitorSnapshot?
        /// Each published snapshot's metrics (the report's charts), at most `historyLimit`.
        var history: [MetricPoint] = []
        var stopRequested = false
        var finished = false
        var failure: String?
        var assigned: Set<TopicPartition> = []
        var lag: Int64?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates the consumer and subscribes it.
    ///
    /// - Parameters:
    ///   - kafka: connection settings with the group id.
    ///   - settings: the join window, memory cap and metric windows.
    /// - Throws: `KafkaError` for bad settings or when the consumer cannot be created.
    public init(kafka: KafkaConfig, topics: MonitorTopics = MonitorTopics(), settings: MonitorSettings = MonitorSettings(),
                snapshotIntervalMs: Int64 = 1000) throws(KafkaError) {
        var config = kafka
        if config.autoOffsetReset == nil { config.autoOffsetReset = .earliest }
        config.autoCommit = true
        if config.statisticsIntervalMs == nil { config.statisticsIntervalMs = 1000 }
        // Range: partition N of both topics to the same member (the join is local).
        config.consumerProperties["partition.assignment.strategy"] = "range"
        let shared = Shared()
        let handle = ConsumerHandle()
        consumer = try KafkaConsumer(
            config: config,
            rebalanceHandler: { event in
                shared.changes.withLock { $0.append(event) }
                // The loop has handled every message polled so far (the handler runs inside its
                // poll): commit them, so the next owner starts right after them.
                if event.kind == .revoked { try? handle.consumer?.commit() }
            },
            statisticsHandler: { json in
                let lag = MonitorRunner.totalLag(fromStatistics: json)
                shared.state.withLock { $0.lag = lag }
            },
            readsHeaders: false)
        handle.consumer = consumer
        try consumer.subscribe(topics: [topics.predictions, topics.outcomes])
        self.topics = topics
        self.shared = shared
        self.monitorSettings = settings
        self.snapshotIntervalMs = snapshotIntervalMs
    }

    /// Starts consuming on a new thread.
    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "monitor"
        thread.start()
    }

    /// Asks the loop to stop; it publishes a last snapshot and closes the consumer.
    public func stop() { shared.state.withLock { $0.stopRequested = true } }

    /// Returns once the loop has finished.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = shared.state.withLock { state in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The latest snapshot (published every `snapshotIntervalMs`), nil before the first.
    public var snapshot: MonitorSnapshot? { shared.state.withLock { $0.latest } }
    /// The metrics of every snapshot published so far (the most recent 100,000 points).
    public var history: [MetricPoint] { shared.state.withLock { $0.history } }
    /// Partitions this member holds.
    public var assigned: Set<TopicPartition> { shared.state.withLock { $0.assigned } }
    /// The consumer's total lag over its partitions (librdkafka statistics), when known.
    public var lag: Int64? { shared.state.withLock { $0.lag } }
    /// Why the loop stopped, when it failed.
    public var failure: String? { shared.state.withLock { $0.failure } }

    private func loop() {
        let monitor = OutcomeMonitor(settings: monitorSettings)
        var batch = KafkaMessageBatch()
        var nextSnapshot: Int64 = 0
        var assigned: Set<TopicPartition> = []
        while !shared.state.withLock({ $0.stopRequested }) {
            do {
                try consumer.poll(into: &batch, maxMessages: 10_000, timeoutMs: 100)
            } catch {
                shared.state.withLock { $0.failure = "\(error)" }
                break
            }
            for event in shared.changes.withLock({ events in defer { events = [] }; return events }) {
                switch event.kind {
                case .assigned: assigned.formUnion(event.partitions)
                case .revoked, .lost: assigned.subtract(event.partitions)
                }
                // Join state of partition numbers this member no longer reads on either topic goes.
                let held = Set(assigned.map(\.partition))
                for partition in Set(event.partitions.map(\.partition)) where !held.contains(partition) {
                    monitor.dropPartition(partition)
                }
                shared.state.withLock { $0.assigned = assigned }
            }
            for message in batch {
                let isPrediction = message.topic == topics.predictions
                message.withUnsafeKeyAndValueBytes { key, value in
                    guard let value else {
                        return
                    }
                    if isPrediction {
                        monitor.prediction(partition: message.partition, key: key, value: value, timestampMs: message.timestampMs)
                    } else {
                        monitor.outcome(partition: message.partition, key: key, value: value, timestampMs: message.timestampMs)
                    }
                }
            }
            let now = wallClockMs()
            // Caught up: the wall clock is the stream time, so windows expire without new messages.
            if batch.isEmpty { monitor.advance(toMs: now) }
            if now >= nextSnapshot {
                let snapshot = monitor.snapshot(nowMs: now)
                let points = MetricPoint.points(of: snapshot)
                shared.state.withLock { state in
                    state.latest = snapshot
                    state.history.append(contentsOf: points)
                    if state.history.count > 100_000 { state.history.removeFirst(state.history.count - 100_000) }
                }
                nextSnapshot = now + snapshotIntervalMs
            }
        }
        let snapshot = monitor.snapshot(nowMs: wallClockMs())
        try? consumer.commit()
        try? consumer.close()
        let waiters = shared.state.withLock { state in
            state.latest = snapshot
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Sums `consumer_lag` over every partition in librdkafka's statistics JSON.
    static func totalLag(fromStatistics json: String) -> Int64? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let topics = root["topics"] as? [String: Any]
        else { return nil }
        var total: Int64 = 0
        var known = false
        for value in topics.values {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (key, entry) in partitions {
                guard let partition = Int(key), partition >= 0,
                    let lag = ((entry as? [String: Any])?["consumer_lag"] as? NSNumber)?.int64Value, lag >= 0
                else { continue }
                total += lag
                known = true
            }
        }
        return known ? total : nil
    }
}

/// The state the loop, the callers and the consumer's handlers share.
private final class Shared: Sendable {
    let state = Mutex(MonitorRunner.State())
    /// Rebalances seen by the handler, for the loop to apply.
    let changes = Mutex<[RebalanceEvent]>([])
}

/// Lets the rebalance handler, created before the consumer, reach it.
private final class ConsumerHandle: Sendable {
    private let box = Mutex<KafkaConsumer?>(nil)
    var consumer: KafkaConsumer? {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }
}

func wallClockMs() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
}
