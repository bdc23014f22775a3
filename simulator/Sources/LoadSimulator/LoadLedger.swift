import Histogram

/// The shared record of a load test: which events were sent when, and which came back as a
/// prediction or a dead letter, how late, and how often.
///
/// The ``Replayer`` writes a line per sent event; the ``PredictionMeasurer`` ticks it off when the
/// answer arrives. Events are numbered by their *sequence*: `pass × catalog.count + index`, the order
/// they are sent in. Answered prefixes are dropped as the test runs, so memory follows the events
/// still in flight (9 bytes each), not the length of the test.
///
/// All methods are thread-safe (one lock; a handful of operations per event).
public final class LoadLedger: Sendable {
    /// What happened to one sent event.
    enum Outcome: UInt8 {
        case pending, predicted, deadLettered, untracked, failed
    }

    struct State {
        /// Sequence number of `sendTimes[0]`; everything before it was resolved and dropped.
        var base = 0
        var sendTimes: [UInt64] = []
        var outcomes: [Outcome] = []
        var counts = LoadCounts()
        var latency = LatencyRecorder()
        var intervalLatency = LatencyRecorder()
        var firstDeliveryError: String?
        /// Number of entries at the front known to be resolved (advanced incrementally).
        var resolvedPrefix = 0
        /// Monotonic time of the first send: second 0 of the per-second series.
        var origin: UInt64?
        /// Events sent, predictions and dead letters received, per second since `origin`.
        var sentPerSecond: [Int] = []
        var predictedPerSecond: [Int] = []
        var deadLetteredPerSecond: [Int] = []

        mutating func bump(_ series: WritableKeyPath<State, [Int]>, at time: UInt64) {
            guard let origin else { return }
            let second = time > origin ? Int((time - origin) / 1_000_000_000) : 0
            if self[keyPath: series].count <= second {
                self[keyPath: series].append(contentsOf: repeatElement(0, count: second + 1 - self[keyPath: series].count))
            }
            self[keyPath: series][second] += 1
        }
    }

    /// The events being replayed.
    public let catalog: EventCatalog
    /// Wall-clock start of the test (ms since 1970): predictions of events sent before it (an earlier
    /// run still being scored) are ignored.
    public let startWallClockMs: Int64
    let state = Locked(State())
    private let idKey = Array("id".utf8)
    private let eventTimestampKey = Array("event_ts".utf8)

    /// Starts an empty ledger for `catalog`.
    public init(catalog: EventCatalog) {
        self.catalog = catalog
        self.startWallClockMs = wallClockMilliseconds()
    }

    // MARK: - Sending side

    /// Records that the event with sequence number `sequence` is being sent now (call it just before
    /// producing, so an answer can never arrive first). Sequence numbers must come in order.
    func recordSend(sequence: Int, at time: UInt64) {
        let tracked = catalog.isTracked(sequence % catalog.count)
        state.withLock { state in
            precondition(sequence == state.base + state.outcomes.count, "events must be recorded in send order")
            if state.origin == nil { state.origin = time }
            state.bump(\.sentPerSecond, at: time)
            state.sendTimes.append(time)
            state.outcomes.append(tracked ? .pending : .untracked)
            state.counts.sent += 1
            if tracked { state.counts.pending += 1 } else { state.counts.untrackedSent += 1 }
        }
    }

    /// Records that the broker refused event `sequence` (it will not be scored, so is not missing).
    func recordDeliveryFailure(sequence: Int, error: String) {
        state.withLock { state in
            state.counts.deliveryFailures += 1
            if state.firstDeliveryError == nil { state.firstDeliveryError = error }
            let slot = sequence - state.base
            guard slot >= 0, slot < state.outcomes.count else { return }
            if state.outcomes[slot] == .pending {
                state.outcomes[slot] = .failed
                state.counts.pending -= 1
                Self.dropResolvedPrefix(&state)
            }
        }
    }

    // MARK: - Answering side

    /// Records a message read from the predictions topic, received at monotonic time `received`.
    ///
    /// The value is the prediction JSON; its `id` names the event and `event_ts` (when present) must not
    /// be older than this test, or it is counted as foreign (another run's prediction).
    func recordPrediction(value: UnsafeBufferPointer<UInt8>, receivedAt received: UInt64) {
        guard let idRange = JSONMemberScanner.stringValue(named: idKey, in: value),
            let location = catalog.locate(id: UnsafeBufferPointer(rebasing: value[idRange]))
        else {
            state.withLock { $0.counts.foreign += 1 }
            return
        }
        if let eventTimestamp = JSONMemberScanner.integerValue(named: eventTimestampKey, in: value),
            eventTimestamp < startWallClockMs
        {
            state.withLock { $0.counts.foreign += 1 }
            return
        }
        resolve(sequence: location.pass * catalog.count + location.index, as: .predicted, receivedAt: received)
    }

    /// Records a message read from the dead-letter topic (its value is the original event bytes).
    ///
    /// - Parameter messageTimestampMs: the dead letter's own Kafka timestamp; dead letters older than
    ///   this test are another run's and are ignored.
    func recordDeadLetter(value: UnsafeBufferPointer<UInt8>, messageTimestampMs: Int64?, receivedAt received: UInt64) {
        if let messageTimestampMs, messageTimestampMs < startWallClockMs { return }
        guard let idRange = JSONMemberScanner.stringValue(named: idKey, in: value),
            let location = catalog.locate(id: UnsafeBufferPointer(rebasing: value[idRange]))
        else {
            state.withLock { $0.counts.untrackedDeadLetters += 1 }
            return
        }
        resolve(sequence: location.pass * catalog.count + location.index, as: .deadLettered, receivedAt: received)
    }

    private func resolve(sequence: Int, as outcome: Outcome, receivedAt received: UInt64) {
        state.withLock { state in
            let slot = sequence - state.base
            if slot < 0 {
                // Dropped from memory because it was already resolved.
                state.counts.duplicates += 1
                return
            }
            guard slot < state.outcomes.count else {
                // An id this run has not sent yet: another run's event.
                state.counts.foreign += 1
                return
            }
            switch state.outcomes[slot] {
            case .pending:
                state.counts.pending -= 1
                state.outcomes[slot] = outcome
                if outcome == .predicted {
                    state.bump(\.predictedPerSecond, at: received)
                    state.counts.predicted += 1
                    let latency = received > state.sendTimes[slot] ? received - state.sendTimes[slot] : 0
                    state.latency.record(nanoseconds: latency)
                    state.intervalLatency.record(nanoseconds: latency)
                } else {
                    state.bump(\.deadLetteredPerSecond, at: received)
                    state.counts.deadLettered += 1
                }
                Self.dropResolvedPrefix(&state)
            case .predicted, .deadLettered, .untracked, .failed:
                state.counts.duplicates += 1
            }
        }
    }

    /// Drops resolved entries from the front once there are enough to make the copy worthwhile.
    private static func dropResolvedPrefix(_ state: inout State) {
        var resolved = state.resolvedPrefix
        while resolved < state.outcomes.count, state.outcomes[resolved] != .pending {
            resolved += 1
        }
        state.resolvedPrefix = resolved
        guard resolved >= 65_536 else { return }
        state.outcomes.removeFirst(resolved)
        state.sendTimes.removeFirst(resolved)
        state.base += resolved
        state.resolvedPrefix = 0
    }

    // MARK: - Reading

    /// Counts and latency percentiles so far. Cheap enough to call every second.
    public func snapshot() -> LoadSnapshot {
        state.withLock { state in
            LoadSnapshot(counts: state.counts, latency: state.latency.summary())
        }
    }

    /// The latency of predictions received since the previous call (or since the start), and resets it.
    func takeIntervalLatency() -> LatencyRecorder {
        state.withLock { state in
            let interval = state.intervalLatency
            state.intervalLatency.reset()
            return interval
        }
    }

    /// Per-second counts since the first send: events sent, first predictions and first dead letters
    /// received in each second (the last second may still be filling).
    public func perSecondCounts() -> (sent: [Int], predicted: [Int], deadLettered: [Int]) {
        state.withLock { ($0.sentPerSecond, $0.predictedPerSecond, $0.deadLetteredPerSecond) }
    }

    /// Monotonic time (ns) of the first send, if any.
    var origin: UInt64? { state.withLock { $0.origin } }

    /// The whole-test latency distribution.
    func totalLatency() -> LatencyRecorder { state.withLock { $0.latency } }

    /// The first error the broker gave for an undelivered event, if any.
    var firstDeliveryError: String? { state.withLock { $0.firstDeliveryError } }

    /// Ids sent (and delivered) that have neither a prediction nor a dead letter yet: at most `limit`
    /// of them, oldest first.
    public func missingIDs(limit: Int) -> [String] {
        let sequences: [Int] = state.withLock { state in
            var result: [Int] = []
            for slot in state.outcomes.indices where state.outcomes[slot] == .pending {
                result.append(state.base + slot)
                if result.count == limit { break }
            }
            return result
        }
        var value: [UInt8] = []
        var key: [UInt8] = []
        return sequences.map { sequence in
            catalog.render(index: sequence % catalog.count, pass: sequence / catalog.count, value: &value, key: &key)
            return String(decoding: key, as: UTF8.self)
        }
    }
}

/// Running totals of a load test.
public struct LoadCounts: Sendable, Hashable, Codable {
    /// Events handed to the producer (tracked or not).
    public var sent = 0
    /// Sent events without a usable id (expected to be dead-lettered; not matched).
    public var untrackedSent = 0
    /// Events the broker did not accept (not counted as missing).
    public var deliveryFailures = 0
    /// Events with at least one prediction.
    public var predicted = 0
    /// Events that came back on the dead-letter topic (and not as a prediction).
    public var deadLettered = 0
    /// Answers (prediction or dead letter) for an event that already had one.
    public var duplicates = 0
    /// Predictions whose id this test did not send (or sent before it started).
    public var foreign = 0
    /// Dead letters of this test without a usable id.
    public var untrackedDeadLetters = 0

    /// Tracked, delivered events with no answer yet (in flight, or lost once the test has drained).
    public var pending = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case sent, untrackedSent = "untracked_sent", deliveryFailures = "delivery_failures", predicted,
            deadLettered = "dead_lettered", duplicates, foreign, untrackedDeadLetters = "untracked_dead_letters", pending
    }
}

/// A point-in-time view of a load test: counts plus latency percentiles so far.
public struct LoadSnapshot: Sendable, Hashable {
    public var counts: LoadCounts
    public var latency: LatencySummary
}
