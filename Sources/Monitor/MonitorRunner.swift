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

/// Where a monitor member starts reading the partitions it is assigned.
public enum MonitorStart: String, Sendable, Hashable, CaseIterable {
    /// Read both topics again from now - (join window + longest metrics window): the join buffers
    /// and the windows are rebuilt from scratch at every assignment, so a restarted or rebalanced
    /// member reports what an uninterrupted one would. Committed offsets only serve lag.
    case window
    /// Resume at the group's committed offsets (the earliest stored message without one): ids in
    /// flight at a restart lose their join and the windows refill within their length.
    case committed
}

/// Runs an ``OutcomeMonitor`` over a consumer group of the predictions and outcomes topics.
///
/// Partitions are assigned with the range assignor, which gives one member the same partition
/// numbers of both topics when they have the same partition count, so every member joins locally.
/// Offsets are committed as read (auto-commit). Join state lives only in memory and is derived
/// from the two topics: with ``MonitorStart/window`` (the default) every assignment starts a new
/// ``OutcomeMonitor`` and reads both topics again from the start of the longest span a current
/// label can depend on; with ``MonitorStart/committed`` a member resumes where the group left off
/// and a partition number that moves to another member is dropped here.
///
/// - Important: `start()` runs the consumer loop on a thread of its own; `snapshot`, `stop` and
///   `wait` may be called from anywhere.
public final class MonitorRunner: Sendable {
    private let consumer: KafkaConsumer
    private let topics: MonitorTopics
    private let shared: Shared
    private let monitorSettings: MonitorSettings
    private let startPolicy: MonitorStart
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
        /// Where the partitions of the latest assignment started (``MonitorStart/window``).
        var startReport: AssignmentStartReport?
        var lag: Int64?
        /// How many partitions `lag` covers.
        var lagPartitions = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates the consumer and subscribes it.
    ///
    /// - Parameters:
    ///   - kafka: connection settings with the group id.
    ///   - settings: the join window, memory cap and metric windows.
    ///   - start: where assigned partitions start (``MonitorStart``).
    /// - Throws: `KafkaError` for bad settings or when the consumer cannot be created.
    public init(kafka: KafkaConfig, topics: MonitorTopics = MonitorTopics(), settings: MonitorSettings = MonitorSettings(),
                start: MonitorStart = .window, snapshotIntervalMs: Int64 = 1000) throws(KafkaError) {
        var config = kafka
        if config.autoOffsetReset == nil { config.autoOffsetReset = .earliest }
        // Offsets are stored as messages are handed over and committed by the timer: they serve
        // lag (and `--start committed`), and the lag statistics say when the backlog is read.
        config.autoCommit = true
        config.autoOffsetStore = true
        if config.statisticsIntervalMs == nil { config.statisticsIntervalMs = 1000 }
        // Range: partition N of both topics to the same member (the join is local).
        config.consumerProperties["partition.assignment.strategy"] = "range"
        let shared = Shared()
        let handle = ConsumerHandle()
        let span = settings.rebuildSpanMs
        var placement: (@Sendable (TopicPartition) -> AssignmentStart)?
        if start == .window {
            placement = { @Sendable (_: TopicPartition) -> AssignmentStart in .time(ms: wallClockMs() - span) }
        }
        consumer = try KafkaConsumer(
            config: config,
            rebalanceHandler: { event in
                shared.changes.withLock { $0.append(event) }
                // The loop has handled every message polled so far (the handler runs inside its
                // poll): commit them, so the next owner starts right after them.
                if event.kind == .revoked { try? handle.consumer?.commit() }
            },
            statisticsHandler: { json in
                let lag = MonitorRunner.lag(fromStatistics: json)
                let total: Int64? = lag?.total
                let partitions: Int = lag?.partitions ?? 0
                shared.state.withLock { (state: inout State) -> Void in
                    state.lag = total
                    state.lagPartitions = partitions
                }
            },
            readsHeaders: false,
            assignmentStart: placement)
        handle.consumer = consumer
        try consumer.subscribe(topics: [topics.predictions, topics.outcomes])
        self.topics = topics
        self.shared = shared
        self.monitorSettings = settings
        self.startPolicy = start
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
    /// Where the partitions of the latest assignment started, with ``MonitorStart/window``.
    public var startReport: AssignmentStartReport? { shared.state.withLock { $0.startReport } }
    /// Partitions this member holds.
    public var assigned: Set<TopicPartition> { shared.state.withLock { $0.assigned } }
    /// The consumer's total lag over its partitions (librdkafka statistics), when known.
    public var lag: Int64? { shared.state.withLock { $0.lag } }
    /// Why the loop stopped, when it failed.
    public var failure: String? { shared.state.withLock { $0.failure } }

    private func loop() {
        var monitor = OutcomeMonitor(settings: monitorSettings)
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
            var revoked = false
            for event in shared.changes.withLock({ events in defer { events = [] }; return events }) {
                switch event.kind {
                case .assigned: assigned.formUnion(event.partitions)
                case .revoked, .lost:
                    assigned.subtract(event.partitions)
                    revoked = true
                }
                switch startPolicy {
                case .window:
                    // Every assignment reads its partitions again from the rebuild start, so the
                    // state starts over (the range assignor is eager: a revocation takes every
                    // partition, and the next assignment places them all by time again).
                    monitor = OutcomeMonitor(
                        settings: monitorSettings,
                        unmatchedFromMs: wallClockMs() - monitorSettings.rebuildSpanMs + monitorSettings.joinWindowMs)
                case .committed:
                    // Join state of partition numbers this member no longer reads on either topic goes.
                    let held = Set(assigned.map(\.partition))
                    for partition in Set(event.partitions.map(\.partition)) where !held.contains(partition) {
                        monitor.dropPartition(partition)
                    }
                }
                shared.state.withLock { state in
                    state.assigned = assigned
                    if let report = event.start { state.startReport = report }
                    // Lag figures from before this change say nothing about the new positions.
                    state.lag = nil
                    state.lagPartitions = 0
                }
            }
            for message in batch {
                // Messages polled before a revocation in the same poll belong to the old assignment.
                if revoked, startPolicy == .window, !assigned.contains(TopicPartition(topic: message.topic, partition: message.partition)) {
                    continue
                }
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
            // An empty poll alone does not say so while a backlog (a rebuild) is still being read:
            // the statistics must show no lag on every assigned partition.
            if batch.isEmpty, shared.state.withLock({ $0.lag == 0 && $0.lagPartitions >= assigned.count }) {
                monitor.advance(toMs: now)
            }
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

    /// Sums each partition's lag in librdkafka's statistics JSON, with how many partitions had one.
    ///
    /// The lag behind the last message handed to the application (`consumer_lag_stored`) where
    /// known, else behind the committed offset (`consumer_lag`): after a rebuild rewinds a
    /// partition, the committed offset can be ahead of what was read.
    static func lag(fromStatistics json: String) -> (total: Int64, partitions: Int)? {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let topics = root["topics"] as? [String: Any]
        else { return nil }
        var total: Int64 = 0
        var known = 0
        for value in topics.values {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (key, entry) in partitions {
                guard let partition = Int(key), partition >= 0, let entry = entry as? [String: Any] else { continue }
                let stored = (entry["consumer_lag_stored"] as? NSNumber)?.int64Value ?? -1
                let committed = (entry["consumer_lag"] as? NSNumber)?.int64Value ?? -1
                let lag = stored >= 0 ? stored : committed
                guard lag >= 0 else { continue }
                total += lag
                known += 1
            }
        }
        return known > 0 ? (total, known) : nil
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
