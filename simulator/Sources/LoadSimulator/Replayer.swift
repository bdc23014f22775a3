import Foundation
public import Kafka

/// How long a replay runs.
public enum ReplayLimit: Sendable, Hashable {
    /// Send this many events in total.
    case count(Int)
    /// Send for this many seconds.
    case duration(Double)
    /// Send until ``Replayer/stop()`` (or, without looping, until the events run out).
    case unlimited
}

/// Where and when a ``Replayer`` sends each event's outcome (its label: installed or not).
public struct OutcomeSettings: Sendable, Hashable {
    /// Topic the outcomes go to.
    public var topic: String
    /// How long after its event an outcome is sent (compressing the hours an install takes).
    public var delaySeconds: Double

    public init(topic: String = "installs", delaySeconds: Double = 2) {
        self.topic = topic
        self.delaySeconds = delaySeconds
    }
}

/// What a ``Replayer`` sends, where, and how fast.
public struct ReplaySettings: Sendable, Hashable {
    /// Topic the impression events go to.
    public var topic: String
    /// Target send rate in events per second.
    public var rate: Double
    /// When to stop.
    public var limit: ReplayLimit
    /// Replay the events again (fresh ids, dates moved on) after the last one; otherwise stop there.
    public var loop: Bool
    /// The producer's linger interval (ms): pacing never sends more than one interval's worth at once.
    public var lingerMs: Int
    /// Also send each labelled event's outcome, `{"id","installed","ts"}` keyed by the event id,
    /// after a delay; `nil` sends none.
    public var outcomes: OutcomeSettings?

    /// The linger used unless one is given: a few events per message set at 5,000 events/s.
    public static let defaultLingerMs = 5

    public init(topic: String = "impressions", rate: Double = 5000, limit: ReplayLimit = .unlimited,
                loop: Bool = false, lingerMs: Int = ReplaySettings.defaultLingerMs, outcomes: OutcomeSettings? = nil) {
        self.outcomes = outcomes
        self.topic = topic
        self.rate = rate
        self.limit = limit
        self.loop = loop
        self.lingerMs = lingerMs
    }

    /// Throws `LoadSimulatorError.badSetting` for a rate, count, duration or linger out of range.
    public func validate() throws(LoadSimulatorError) {
        guard rate.isFinite, rate > 0, rate <= 10_000_000 else {
            throw .badSetting("the rate must be between 0 and 10,000,000 events/s, got \(rate)")
        }
        switch limit {
        case .count(let count) where count <= 0:
            throw .badSetting("the count must be positive, got \(count)")
        case .duration(let seconds) where !(seconds.isFinite && seconds > 0):
            throw .badSetting("the duration must be positive, got \(seconds) s")
        default: break
        }
        guard (0...10_000).contains(lingerMs) else {
            throw .badSetting("linger must be between 0 and 10,000 ms, got \(lingerMs)")
        }
        guard !topic.isEmpty else { throw .badSetting("the topic name is empty") }
        if let outcomes {
            guard !outcomes.topic.isEmpty else { throw .badSetting("the outcomes topic name is empty") }
            guard outcomes.delaySeconds.isFinite, (0...86_400).contains(outcomes.delaySeconds) else {
                throw .badSetting("the outcome delay must be between 0 and 86,400 s, got \(outcomes.delaySeconds)")
            }
        }
    }
}

/// Sends the events of an ``EventCatalog`` to Kafka at a precise rate, recording each send in a
/// ``LoadLedger``.
///
/// Events are keyed by their id and stamped with the time they are sent (the Kafka message timestamp),
/// which the scorer copies into its prediction as `event_ts`. Pacing follows an absolute schedule
/// (see ``progress`` for how far behind it is); when the producer or the machine cannot keep up, the
/// replayer sends at most one linger interval's worth per wake-up to catch up, and reports the shortfall.
///
/// - Important: `start()` runs the send loop on a thread of its own (produce calls block when the
///   local queue is full); `stop()` and `wait()` may be called from anywhere.
public final class Replayer: Sendable {
    /// The ledger every send is recorded in (give the same one to a ``PredictionMeasurer``).
    public let ledger: LoadLedger
    private let producer: KafkaProducer
    private let settings: ReplaySettings
    private let control: Locked<Control>

    struct Control {
        var requestedRate: Double
        var stopRequested = false
        var started = false
        var progress = ReplayProgress()
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Creates a replayer with its own producer.
    ///
    /// - Parameters:
    ///   - ledger: where sends are recorded; its catalog is what gets sent.
    ///   - kafka: connection settings; the linger interval of `settings` is applied to it.
    /// - Throws: `LoadSimulatorError` for bad settings or when the producer cannot be created.
    public init(ledger: LoadLedger, kafka: KafkaConfig, settings: ReplaySettings) throws(LoadSimulatorError) {
        try settings.validate()
        if settings.outcomes != nil, !ledger.catalog.hasLabels {
            throw .badSetting("the events have no labels (an install column), so there are no outcomes to send")
        }
        var config = kafka
        config.lingerMs = settings.lingerMs
        do {
            producer = try KafkaProducer(config: config)
        } catch {
            throw .kafka("cannot create the producer: \(error)")
        }
        self.ledger = ledger
        self.settings = settings
        self.control = Locked(Control(requestedRate: settings.rate))
        control.withLock { $0.progress.targetRate = settings.rate }
    }

    /// Starts sending on a new thread. Calling it again does nothing.
    public func start() {
        let first = control.withLock { control in
            defer { control.started = true }
            return !control.started
        }
        guard first else { return }
        let thread = Thread { [self] in sendLoop() }
        thread.name = "replayer"
        thread.qualityOfService = .userInteractive
        thread.start()
    }

    /// Asks the send loop to stop after the current wake-up; it then waits for outstanding deliveries.
    public func stop() {
        control.withLock { $0.stopRequested = true }
    }

    /// Changes the target rate from now on (used by ramps).
    public func setRate(_ rate: Double) {
        guard rate.isFinite, rate > 0 else { return }
        control.withLock {
            $0.requestedRate = rate
            $0.progress.targetRate = rate
        }
    }

    /// Where the replay stands; cheap.
    public var progress: ReplayProgress { control.withLock { $0.progress } }

    /// Returns once the send loop has finished and outstanding deliveries were waited for.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = control.withLock { control in
                if control.progress.finished { return true }
                control.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - Send loop

    private func sendLoop() {
        let catalog = ledger.catalog
        let total: Int? = {
            switch settings.limit {
            case .count(let count): return settings.loop ? count : min(count, catalog.count)
            case .duration, .unlimited: return settings.loop ? nil : catalog.count
            }
        }()
        let start = monotonicNanoseconds()
        let end: UInt64? = {
            if case .duration(let seconds) = settings.limit { return start + UInt64(seconds * 1e9) }
            return nil
        }()
        var rate = settings.rate
        var pacer = Pacer(rate: rate, startingAt: start)
        var burst = Pacer.burstLimit(rate: rate, lingerMs: settings.lingerMs)
        // Wake-ups are at most 1 ms apart (and at most half a linger interval) while events are due.
        let tick = UInt64(min(1_000_000, max(100_000, settings.lingerMs * 500_000)))
        var sent = 0
        var value: [UInt8] = []
        var key: [UInt8] = []
        value.reserveCapacity(4096)
        key.reserveCapacity(64)
        var maxBacklog = 0
        var longestWakeDelay: UInt64 = 0
        var longestProduce: UInt64 = 0
        var reason = ReplayProgress.FinishReason.stopped
        var outcomes = OutcomeQueue()
        let outcomeDelay = UInt64((settings.outcomes?.delaySeconds ?? 0) * 1e9)

        while true {
            let (requestedRate, stopRequested) = control.withLock { ($0.requestedRate, $0.stopRequested) }
            let now = monotonicNanoseconds()
            if stopRequested { reason = .stopped; break }
            if let total, sent >= total { reason = total == catalog.count && !settings.loop ? .eventsExhausted : .countReached; break }
            if requestedRate != rate, end.map({ now < $0 }) ?? true {
                pacer.changeRate(to: requestedRate, at: now)
                rate = requestedRate
                burst = Pacer.burstLimit(rate: rate, lingerMs: settings.lingerMs)
            }
            var due = pacer.dueCount(at: now)
            if let total { due = min(due, total) }
            if let end, now >= end {
                // Events due before the end are still sent; then the duration is over.
                due = min(due, pacer.dueCount(at: end - 1))
                if sent >= due { reason = .durationReached; break }
            }
            sendDueOutcomes(&outcomes, at: now)
            let backlog = due - sent
            maxBacklog = max(maxBacklog, backlog)
            let batch = min(backlog, burst)
            for _ in 0..<batch {
                let sequence = sent
                catalog.render(index: sequence % catalog.count, pass: sequence / catalog.count, value: &value, key: &key)
                let sendTime = monotonicNanoseconds()
                ledger.recordSend(sequence: sequence, at: sendTime)
                do {
                    try producer.produce(
                        topic: settings.topic, key: key.isEmpty ? nil : key, value: value,
                        timestampMs: wallClockMilliseconds(), opaque: UInt64(sequence))
                } catch {
                    ledger.recordDeliveryFailure(sequence: sequence, error: "\(error)")
                }
                if settings.outcomes != nil, !key.isEmpty, let installed = catalog.label(sequence % catalog.count) {
                    outcomes.append(due: sendTime + outcomeDelay, key: key, installed: installed)
                }
                let produceTime = monotonicNanoseconds() - sendTime
                longestProduce = max(longestProduce, produceTime)
                if produceTime >= 10_000_000 {
                    let stall = ReplayProgress.Stall(
                        secondsFromStart: Double(sendTime - start) / 1e9, milliseconds: Double(produceTime) / 1e6)
                    control.withLock { if $0.progress.stalls.count < 1000 { $0.progress.stalls.append(stall) } }
                }
                sent += 1
            }
            handleDeliveries(timeoutMs: 0)
            control.withLock {
                $0.progress.sent = sent
                $0.progress.backlog = backlog - batch
                $0.progress.maxBacklog = maxBacklog
                $0.progress.longestWakeDelayMs = Double(longestWakeDelay) / 1e6
                $0.progress.longestProduceMs = Double(longestProduce) / 1e6
            }
            let nextDue = pacer.dueTime(ofEvent: sent)
            var wake = backlog - batch > 0 ? monotonicNanoseconds() + tick : max(nextDue, now + tick)
            if let outcomeDue = outcomes.firstDue { wake = min(wake, max(outcomeDue, now + tick)) }
            let target = end.map { min($0, wake) } ?? wake
            sleepUntil(monotonicNanoseconds: target)
            let woke = monotonicNanoseconds()
            if woke > target {
                longestWakeDelay = max(longestWakeDelay, woke - target)
                if woke - target >= 10_000_000 {
                    let stall = ReplayProgress.Stall(
                        secondsFromStart: Double(target - start) / 1e9, milliseconds: Double(woke - target) / 1e6)
                    control.withLock { if $0.progress.stalls.count < 1000 { $0.progress.stalls.append(stall) } }
                }
            }
        }
        let sendingSeconds = Double(monotonicNanoseconds() - start) / 1e9

        // The outcomes still due are sent on their schedule (all at once after a stop request).
        while let outcomeDue = outcomes.firstDue {
            if !control.withLock({ $0.stopRequested }) { sleepUntil(monotonicNanoseconds: min(outcomeDue, monotonicNanoseconds() + 100_000_000)) }
            let now = control.withLock { $0.stopRequested } ? UInt64.max : monotonicNanoseconds()
            sendDueOutcomes(&outcomes, at: now)
            handleDeliveries(timeoutMs: 0)
        }

        // Wait for what is still in the producer's queue, at most 30 s.
        let flushDeadline = monotonicNanoseconds() + 30_000_000_000
        while producer.outstandingCount > 0, monotonicNanoseconds() < flushDeadline {
            handleDeliveries(timeoutMs: 100)
        }
        handleDeliveries(timeoutMs: 0)
        let undelivered = producer.outstandingCount
        let waiters = control.withLock { control in
            control.progress.sent = sent
            control.progress.backlog = 0
            control.progress.finished = true
            control.progress.finishReason = reason
            control.progress.undelivered = undelivered
            control.progress.elapsedSeconds = sendingSeconds
            defer { control.waiters = [] }
            return control.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func handleDeliveries(timeoutMs: Int) {
        var outcomeFailures = 0
        for report in producer.pollDeliveries(max: 10_000, timeoutMs: timeoutMs) {
            guard let error = report.error else { continue }
            if report.opaque == Self.outcomeOpaque {
                outcomeFailures += 1
            } else {
                ledger.recordDeliveryFailure(sequence: Int(report.opaque), error: "\(error)")
            }
        }
        if outcomeFailures > 0 { control.withLock { $0.progress.outcomes.failed += outcomeFailures } }
    }

    /// The delivery-report tag of outcome messages (events carry their sequence number).
    private static let outcomeOpaque = UInt64.max

    /// Sends every queued outcome due at `now`: `{"id":"<key>","installed":<bool>,"ts":<ms>}`.
    private func sendDueOutcomes(_ queue: inout OutcomeQueue, at now: UInt64) {
        guard let outcomeSettings = settings.outcomes, let first = queue.firstDue, first <= now else { return }
        var value: [UInt8] = []
        var sentCount = 0, installedCount = 0, failedCount = 0
        while let due = queue.firstDue, due <= now {
            let outcome = queue.removeFirst()
            value.removeAll(keepingCapacity: true)
            let timestamp = wallClockMilliseconds()
            value.append(contentsOf: #"{"id":""#.utf8)
            // The key is the event's id as it appears inside its JSON string, so it is already escaped.
            value.append(contentsOf: outcome.key)
            value.append(contentsOf: (outcome.installed ? #"","installed":true,"ts":"# : #"","installed":false,"ts":"#).utf8)
            value.append(contentsOf: String(timestamp).utf8)
            value.append(UInt8(ascii: "}"))
            do {
                try producer.produce(
                    topic: outcomeSettings.topic, key: outcome.key, value: value, timestampMs: timestamp,
                    opaque: Self.outcomeOpaque)
                sentCount += 1
                if outcome.installed { installedCount += 1 }
            } catch {
                failedCount += 1
            }
        }
        control.withLock {
            $0.progress.outcomes.sent += sentCount
            $0.progress.outcomes.installed += installedCount
            $0.progress.outcomes.failed += failedCount
        }
    }
}

/// How far a replay has got.
public struct ReplayProgress: Sendable, Hashable {
    /// Why the send loop ended.
    public enum FinishReason: String, Sendable, Hashable, Codable {
        case stopped, durationReached = "duration", countReached = "count", eventsExhausted = "events_exhausted"
    }

    /// The rate currently aimed at (events/s).
    public var targetRate = 0.0
    /// Events handed to the producer so far.
    public var sent = 0
    /// Events due by the schedule but not sent yet (0 when keeping up).
    public var backlog = 0
    /// The largest backlog seen.
    public var maxBacklog = 0
    /// Whether the send loop has ended (and waited for deliveries).
    public var finished = false
    public var finishReason: FinishReason?
    /// Messages still undelivered when the replay gave up waiting for them.
    public var undelivered = 0
    /// A moment the send thread woke up at least 10 ms late, or spent at least 10 ms in one produce call.
    public struct Stall: Sendable, Hashable, Codable {
        /// When it should have woken up, in seconds since the first send.
        public var secondsFromStart: Double
        /// How late it woke up.
        public var milliseconds: Double
    }

    /// The first 1,000 times the send thread woke up at least 10 ms late or was held 10 ms in a produce
    /// call: seconds around them may miss the rate through no fault of the schedule.
    public var stalls: [Stall] = []
    /// The longest time the send thread woke up later than asked (ms): the machine was busy.
    public var longestWakeDelayMs = 0.0
    /// The longest single produce call (ms): long calls mean the producer's local queue was full.
    public var longestProduceMs = 0.0
    /// Seconds from the first send to the end of the send loop, not counting the wait for the last
    /// deliveries (set when finished).
    public var elapsedSeconds = 0.0
    /// Outcomes sent so far (with `ReplaySettings.outcomes`).
    public var outcomes = OutcomeCounts()
}

/// The outcomes a replay sent.
public struct OutcomeCounts: Sendable, Hashable, Codable {
    /// Outcomes handed to the producer.
    public var sent = 0
    /// Of them, installs.
    public var installed = 0
    /// Outcomes the producer refused or could not deliver.
    public var failed = 0

    public init() {}
}

/// Outcomes waiting for their send time, oldest first (one delay for all, so in due order).
struct OutcomeQueue {
    private var entries: [(due: UInt64, key: [UInt8], installed: Bool)] = []
    private var head = 0

    var firstDue: UInt64? { head < entries.count ? entries[head].due : nil }

    mutating func append(due: UInt64, key: [UInt8], installed: Bool) {
        entries.append((due, key, installed))
    }

    mutating func removeFirst() -> (due: UInt64, key: [UInt8], installed: Bool) {
        let entry = entries[head]
        head += 1
        if head >= 4096, head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return entry
    }
}
