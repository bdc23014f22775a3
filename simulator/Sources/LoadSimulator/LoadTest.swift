import Foundation
public import Kafka

/// A capacity search: the rate steps up until the scorer stops keeping up.
public struct RampSettings: Sendable, Hashable {
    public var startRate: Double
    public var stepRate: Double
    public var maxRate: Double
    /// Seconds each rate is held.
    public var stepSeconds: Int
    /// Latency objective: a step whose p99 exceeds it is not sustainable.
    public var sloP99Ms: Double

    public init(startRate: Double, stepRate: Double, maxRate: Double, stepSeconds: Int = 10, sloP99Ms: Double = 100) {
        self.startRate = startRate
        self.stepRate = stepRate
        self.maxRate = maxRate
        self.stepSeconds = stepSeconds
        self.sloP99Ms = sloP99Ms
    }

    /// Parses `START:STEP:MAX` (events/s), e.g. `1000:1000:20000`.
    public init(parsing text: String, stepSeconds: Int, sloP99Ms: Double) throws(LoadSimulatorError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard parts.count == 3, let start = parts[0], let step = parts[1], let max = parts[2] else {
            throw .badSetting("a ramp is START:STEP:MAX in events/s, e.g. 1000:1000:20000; got \"\(text)\"")
        }
        self.init(startRate: start, stepRate: step, maxRate: max, stepSeconds: stepSeconds, sloP99Ms: sloP99Ms)
        try validate()
    }

    /// The rates of the steps, in order.
    public var rates: [Double] {
        var rates: [Double] = []
        var rate = startRate
        while rate <= maxRate * (1 + 1e-9), rates.count < 10_000 {
            rates.append(rate)
            rate += stepRate
        }
        return rates
    }

    public func validate() throws(LoadSimulatorError) {
        guard startRate > 0, stepRate > 0, maxRate >= startRate, [startRate, stepRate, maxRate].allSatisfy(\.isFinite) else {
            throw .badSetting("a ramp needs 0 < START <= MAX and STEP > 0 (events/s)")
        }
        guard stepSeconds >= 2 else { throw .badSetting("each ramp step must last at least 2 s") }
        guard sloP99Ms > 0, sloP99Ms.isFinite else { throw .badSetting("the latency objective must be positive") }
    }
}

/// Everything a load test does.
public struct LoadTestSettings: Sendable, Hashable {
    public var replay: ReplaySettings
    /// Where to read predictions from; `nil` to only send.
    public var measure: MeasureSettings?
    /// A capacity search instead of a fixed rate (needs `measure`); `replay.rate` is ignored.
    public var ramp: RampSettings?
    /// After the last send, wait for the remaining answers until none arrived for this long.
    public var drainQuietSeconds: Double
    /// How many missing ids the summary lists.
    public var missingIDsListed: Int

    public init(replay: ReplaySettings, measure: MeasureSettings? = nil, ramp: RampSettings? = nil,
                drainQuietSeconds: Double = 10, missingIDsListed: Int = 20) {
        self.replay = replay
        self.measure = measure
        self.ramp = ramp
        self.drainQuietSeconds = drainQuietSeconds
        self.missingIDsListed = missingIDsListed
    }
}

/// One second of a load test, as shown live and charted in the report.
public struct SecondSample: Sendable, Hashable, Codable {
    /// Seconds since the first send (this sample covers `[second, second + 1)`).
    public var second: Int
    public var targetRate: Double
    public var sent: Int
    public var predicted: Int
    public var deadLettered: Int
    /// Latency of predictions received in this second.
    public var latency: LatencySummary
    /// Totals at the end of this second.
    public var total: LoadCounts
    /// Events due by the schedule but not yet sent when the second ended.
    public var backlog: Int
    /// Whether the simulator sent within 1% of the target this second (false while it cannot keep up).
    public var keptUp: Bool
    /// Whether the sample is from the drain phase (no more sends).
    public var draining: Bool

    enum CodingKeys: String, CodingKey {
        case second, targetRate = "target_rate", sent, predicted, deadLettered = "dead_lettered", latency = "latency_ms",
            total, backlog, keptUp = "kept_up", draining
    }
}

/// One step of a capacity search.
public struct RampStep: Sendable, Hashable, Codable {
    public var targetRate: Double
    public var achievedRate: Double
    public var latency: LatencySummary
    /// Growth of the events awaiting an answer over the step (a steadily growing backlog: lag).
    public var pendingGrowth: Int
    public var sustainable: Bool
    /// Why not, when not sustainable.
    public var verdict: String

    enum CodingKeys: String, CodingKey {
        case targetRate = "target_rate", achievedRate = "achieved_rate", latency = "latency_ms",
            pendingGrowth = "pending_growth", sustainable, verdict
    }
}

/// The outcome of a load test.
public struct LoadTestSummary: Sendable, Hashable, Codable {
    public var topic: String
    public var targetRate: Double
    /// Seconds from the first to the last send.
    public var sendSeconds: Double
    public var achievedRate: Double
    /// Largest deviation of one full second's send count from its target, as a fraction.
    public var worstSecondDeviation: Double
    /// Whether every full second was within 1% of the target.
    public var keptUp: Bool
    public var maxBacklog: Int
    /// The longest the send thread woke up late (ms) and the longest produce call (ms): which of the
    /// machine or the producer held the simulator back when it fell behind.
    public var longestWakeDelayMs: Double
    public var longestProduceMs: Double
    public var finishReason: ReplayProgress.FinishReason?
    public var measured: Bool
    public var counts: LoadCounts
    /// Tracked, delivered events that got neither a prediction nor a dead letter.
    public var missing: Int
    /// The first of them.
    public var missingIDs: [String]
    public var latency: LatencySummary
    public var firstDeliveryError: String?
    public var rampSteps: [RampStep]?
    /// The highest sustainable rate found by a ramp (nil: none was sustainable, or no ramp).
    public var capacityRate: Double?
    /// Why the ramp stopped.
    public var rampOutcome: String?
    /// Remarks about the measurement (e.g. no dead-letter topic to read).
    public var notes: [String]
    /// The outcomes sent (with `--outcomes`).
    public var outcomes: OutcomeCounts?

    enum CodingKeys: String, CodingKey {
        case topic, targetRate = "target_rate", sendSeconds = "send_seconds", achievedRate = "achieved_rate",
            worstSecondDeviation = "worst_second_deviation", keptUp = "kept_up", maxBacklog = "max_backlog",
            longestWakeDelayMs = "longest_wake_delay_ms", longestProduceMs = "longest_produce_ms",
            finishReason = "finish_reason", measured, counts, missing, missingIDs = "missing_ids", latency = "latency_ms",
            firstDeliveryError = "first_delivery_error", rampSteps = "ramp_steps", capacityRate = "capacity_rate",
            rampOutcome = "ramp_outcome", notes, outcomes
    }
}

/// Runs a load test: replays events, measures the answers, samples every second, ramps if asked.
///
/// This is what `simulator` runs; `scorer demo` can embed ``Replayer`` and ``PredictionMeasurer``
/// directly instead.
public final class LoadTest: Sendable {
    public let settings: LoadTestSettings
    public let ledger: LoadLedger
    private let kafka: KafkaConfig
    private let stopRequested = Locked(false)

    /// - Throws: `LoadSimulatorError.badSetting` for inconsistent settings.
    public init(catalog: EventCatalog, kafka: KafkaConfig, settings: LoadTestSettings) throws(LoadSimulatorError) {
        try settings.replay.validate()
        if let ramp = settings.ramp {
            try ramp.validate()
            guard settings.measure != nil else { throw .badSetting("a ramp needs measuring (latency decides each step)") }
        }
        if case .count(let count) = settings.replay.limit, count > catalog.count, !settings.replay.loop {
            throw .badSetting("the data holds \(catalog.count) events, fewer than the \(count) asked for: add --loop to replay them again")
        }
        self.settings = settings
        self.kafka = kafka
        self.ledger = LoadLedger(catalog: catalog)
    }

    /// Ends the test early (as if its limit were reached): sending stops, answers are drained.
    public func stop() { stopRequested.withLock { $0 = true } }

    /// Runs the test to its end.
    ///
    /// - Parameter onSample: called once per second (and for the drain phase) with that second's figures.
    /// - Throws: `LoadSimulatorError` when Kafka clients cannot be created or the predictions topic is
    ///   not there.
    public func run(onSample: (SecondSample) -> Void = { _ in }) async throws(LoadSimulatorError) -> LoadTestSummary {
        var measurer: PredictionMeasurer?
        if let measure = settings.measure {
            let created = try PredictionMeasurer(ledger: ledger, kafka: kafka, settings: measure)
            try await created.start()
            measurer = created
        }
        var replay = settings.replay
        let rampRates = settings.ramp?.rates ?? []
        if let first = rampRates.first {
            replay.rate = first
            replay.limit = .unlimited
        }
        let replayer: Replayer
        do throws(LoadSimulatorError) {
            replayer = try Replayer(ledger: ledger, kafka: kafka, settings: replay)
        } catch {
            await measurer?.stop()
            throw error
        }
        replayer.start()

        var samples: [SecondSample] = []
        var rampSteps: [RampStep] = []
        var rampOutcome: String?
        var capacity: Double?
        var stepIndex = 0
        var stepStartPending = 0
        var stepLatency = LatencyRecorder()
        var stepSentPerSecond: [Int] = []
        var stepSeconds = 0
        var sendingEnded = false
        var drainStarted: UInt64?
        var lastAnswerCount = 0
        var lastAnswerTime = monotonicNanoseconds()
        let rampStepSeconds = settings.ramp?.stepSeconds ?? 0

        // Wait for the first send to anchor the seconds.
        while ledger.origin == nil, !replayer.progress.finished {
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        let origin = ledger.origin ?? monotonicNanoseconds()
        var second = 0
        var previousTarget = replay.rate
        while true {
            // Sample each second 50 ms after it ends, so its sends and answers are all recorded.
            let sampleAt = origin + UInt64(second + 1) * 1_000_000_000 + 50_000_000
            let now = monotonicNanoseconds()
            if sampleAt > now { try? await Task.sleep(nanoseconds: sampleAt - now) }

            let progress = replayer.progress
            let snapshot = ledger.snapshot()
            let series = ledger.perSecondCounts()
            let interval = ledger.takeIntervalLatency()
            func count(_ values: [Int]) -> Int { second < values.count ? values[second] : 0 }
            let sent = count(series.sent)
            let target = progress.targetRate
            let sample = SecondSample(
                second: second, targetRate: target, sent: sent, predicted: count(series.predicted),
                deadLettered: count(series.deadLettered), latency: interval.summary(), total: snapshot.counts,
                backlog: progress.backlog,
                // The second the send loop ended in is partial: it cannot be judged.
                keptUp: progress.finished || target != previousTarget || abs(Double(sent) - target) <= target * 0.01,
                draining: progress.finished && sent == 0)
            previousTarget = target
            samples.append(sample)
            onSample(sample)
            let answered = snapshot.counts.predicted + snapshot.counts.deadLettered + snapshot.counts.duplicates
            if answered != lastAnswerCount {
                lastAnswerCount = answered
                lastAnswerTime = monotonicNanoseconds()
            }
            second += 1

            if !sendingEnded {
                if stopRequested.withLock({ $0 }) { replayer.stop() }
                if !rampRates.isEmpty, let ramp = settings.ramp {
                    stepLatency.add(interval)
                    stepSentPerSecond.append(sent)
                    stepSeconds += 1
                    if stepSeconds == rampStepSeconds {
                        let rate = rampRates[stepIndex]
                        // The rate changed a few ms into a later step's first second: judge the rest.
                        let judged = stepIndex > 0 ? stepSentPerSecond.dropFirst() : stepSentPerSecond[...]
                        let achieved = Double(judged.reduce(0, +)) / Double(judged.count)
                        let growth = snapshot.counts.pending - stepStartPending
                        let latency = stepLatency.summary()
                        var verdict = "sustainable"
                        if achieved < rate * 0.99 {
                            verdict = "the simulator could not send this fast (\(number(achieved))/s)"
                        } else if latency.count == 0 || latency.p99Ms > ramp.sloP99Ms {
                            verdict = latency.count == 0
                                ? "no predictions arrived"
                                : "latency p99 \(formatMs(latency.p99Ms)) ms is over the \(formatMs(ramp.sloP99Ms)) ms objective"
                        } else if Double(growth) > 0.05 * rate * Double(stepSeconds) {
                            verdict = "lag grew by \(growth) events"
                        }
                        let sustainable = verdict == "sustainable"
                        rampSteps.append(RampStep(
                            targetRate: rate, achievedRate: achieved, latency: latency, pendingGrowth: growth,
                            sustainable: sustainable, verdict: verdict))
                        if sustainable { capacity = rate }
                        stepIndex += 1
                        if !sustainable {
                            rampOutcome = "stopped at \(number(rate))/s: \(verdict)"
                            replayer.stop()
                        } else if stepIndex == rampRates.count {
                            rampOutcome = "every step up to the maximum \(number(rate))/s was sustainable"
                            replayer.stop()
                        } else {
                            replayer.setRate(rampRates[stepIndex])
                            stepLatency.reset()
                            stepSentPerSecond = []
                            stepSeconds = 0
                            stepStartPending = snapshot.counts.pending
                        }
                    }
                }
                if progress.finished {
                    sendingEnded = true
                    drainStarted = monotonicNanoseconds()
                    lastAnswerTime = max(lastAnswerTime, drainStarted!)
                }
            }
            if sendingEnded {
                guard measurer != nil else { break }
                if snapshot.counts.pending == 0 { break }
                if monotonicNanoseconds() >= lastAnswerTime + UInt64(settings.drainQuietSeconds * 1e9) { break }
                if stopRequested.withLock({ $0 }), let drainStarted,
                    monotonicNanoseconds() >= drainStarted + 2_000_000_000
                {
                    break
                }
            }
        }
        await replayer.wait()
        await measurer?.stop()

        let progress = replayer.progress
        let final = ledger.snapshot()
        // Full seconds at one rate: not the last (partial) second, not a second the rate changed in.
        let sending = samples.filter { !$0.draining }.dropLast()
        let steady = sending.enumerated().filter { index, sample in
            index == 0 || sending[sending.startIndex + index - 1].targetRate == sample.targetRate
        }.map(\.element)
        let worst = steady.reduce(0.0) { worst, sample in
            max(worst, abs(Double(sample.sent) - sample.targetRate) / sample.targetRate)
        }
        return LoadTestSummary(
            topic: settings.replay.topic,
            targetRate: rampRates.isEmpty ? settings.replay.rate : (rampSteps.last?.targetRate ?? replay.rate),
            sendSeconds: progress.elapsedSeconds,
            achievedRate: progress.elapsedSeconds > 0 ? Double(progress.sent) / progress.elapsedSeconds : 0,
            worstSecondDeviation: worst,
            keptUp: worst <= 0.01,
            maxBacklog: progress.maxBacklog,
            longestWakeDelayMs: progress.longestWakeDelayMs,
            longestProduceMs: progress.longestProduceMs,
            finishReason: progress.finishReason,
            measured: measurer != nil,
            counts: final.counts,
            missing: measurer != nil ? final.counts.pending : 0,
            missingIDs: measurer != nil ? ledger.missingIDs(limit: settings.missingIDsListed) : [],
            latency: final.latency,
            firstDeliveryError: ledger.firstDeliveryError,
            rampSteps: rampRates.isEmpty ? nil : rampSteps,
            capacityRate: capacity,
            rampOutcome: rampOutcome,
            notes: measurer?.notes ?? [],
            outcomes: settings.replay.outcomes != nil ? progress.outcomes : nil)
    }
}

func formatMs(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : String(format: "%.1f", value)
}
