import CoreMetrics
import Histogram
import Metrics
public import Prometheus
import Synchronization

// swift-prometheus has its own Counter/Gauge types; the service records through swift-metrics.
private typealias Counter = CoreMetrics.Counter
private typealias Gauge = CoreMetrics.Gauge
private typealias Recorder = CoreMetrics.Recorder
private typealias Timer = CoreMetrics.Timer

/// The service's metrics: Prometheus series (through swift-metrics, into a registry of the
/// service's own, so several services can live in one process) and the cheap in-process counters
/// behind ``ScoringService/stats(resettingWindow:)``.
///
/// Series (all prefixed `scorer_`):
/// - `events_in_total`; `events_out_total{kind="prediction"|"dead_letter"}` (acknowledged by the
///   broker); `dead_letters_total{reason}` (routed to the dead-letter topic, by featurizer error
///   code); `outputs_truncated_total{cause}` (outputs too large for a Kafka message, published as
///   cut-down dead letters); `rebalances_total`; `model_reloads_total{result}`;
/// - histograms `batch_size`, `scoring_seconds` (featurize + score of one batch),
///   `e2e_latency_seconds` (input message timestamp to output acknowledged);
/// - gauges `consumer_lag{topic,partition}` (from librdkafka statistics), `model_info{model}`,
///   `model_loaded_timestamp_seconds`, `producer_queue_depth`, `in_flight`, `ready`,
///   `unassigned_seconds` (how long this group member has held no partitions; 0 while it holds some).
///
/// Recording is thread-safe; counters are incremented once per batch, not per event.
public final class ScoringMetrics: Sendable {
    /// The registry the `/metrics` endpoint renders.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    private let eventsIn: Counter
    private let predictionsOut: Counter
    private let deadLettersOut: Counter
    private let rebalances: Counter
    private let batchSize: Recorder
    private let scoringTime: Timer
    private let endToEndLatency: Timer
    private let producerQueueDepth: Gauge
    private let inFlightGauge: Gauge
    private let readyGauge: Gauge
    private let modelLoadedAt: Gauge
    private let unassignedSeconds: Gauge

    private struct Labelled: ~Copyable {
        var deadLetters: [String: Counter] = [:]
        var lag: [SourcePartition: Gauge] = [:]
        var modelInfo: (name: String, gauge: Gauge)?
        var reloads: [String: Counter] = [:]
        var cutDown: [String: Counter] = [:]
    }
    private let labelled = Mutex(Labelled())
    private let counts = Counts()
    private let latency = Mutex(LatencyWindows())

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(3),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets = [
            "scorer_e2e_latency_seconds": latencyBuckets,
            "scorer_scoring_seconds": [
                .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100),
            ],
        ]
        factory.valueHistogramBuckets = ["scorer_batch_size": [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]]
        self.factory = factory
        eventsIn = Counter(label: "scorer_events_in_total", factory: factory)
        predictionsOut = Counter(label: "scorer_events_out_total", dimensions: [("kind", "prediction")], factory: factory)
        deadLettersOut = Counter(label: "scorer_events_out_total", dimensions: [("kind", "dead_letter")], factory: factory)
        rebalances = Counter(label: "scorer_rebalances_total", factory: factory)
        batchSize = Recorder(label: "scorer_batch_size", aggregate: true, factory: factory)
        scoringTime = Timer(label: "scorer_scoring_seconds", factory: factory)
        endToEndLatency = Timer(label: "scorer_e2e_latency_seconds", factory: factory)
        producerQueueDepth = Gauge(label: "scorer_producer_queue_depth", factory: factory)
        inFlightGauge = Gauge(label: "scorer_in_flight", factory: factory)
        readyGauge = Gauge(label: "scorer_ready", factory: factory)
        modelLoadedAt = Gauge(label: "scorer_model_loaded_timestamp_seconds", factory: factory)
        unassignedSeconds = Gauge(label: "scorer_unassigned_seconds", factory: factory)
    }

    // MARK: - Recording

    func recordBatch(size: Int, scoringNanoseconds: Int64) {
        eventsIn.increment(by: size)
        counts.eventsIn.add(size, ordering: .relaxed)
        counts.batches.add(1, ordering: .relaxed)
        batchSize.record(size)
        scoringTime.recordNanoseconds(scoringNanoseconds)
    }

    /// Records a group of acknowledgements: predictions, dead letters and the end-to-end latency
    /// of each prediction (microseconds).
    func recordAcknowledged(predictions: Int, deadLetters: Int, latenciesMicros: [UInt64]) {
        if predictions > 0 {
            predictionsOut.increment(by: predictions)
            counts.predictionsOut.add(predictions, ordering: .relaxed)
        }
        if deadLetters > 0 {
            deadLettersOut.increment(by: deadLetters)
            counts.deadLetters.add(deadLetters, ordering: .relaxed)
        }
        guard !latenciesMicros.isEmpty else { return }
        for micros in latenciesMicros { endToEndLatency.recordMicroseconds(micros) }
        latency.withLock { windows in
            for micros in latenciesMicros {
                windows.total.record(micros)
                windows.window.record(micros)
            }
        }
    }

    /// How long this group member has held no partitions (0 while it holds some).
    func recordUnassigned(seconds: Double) {
        unassignedSeconds.record(seconds)
    }

    /// Counts events routed to the dead-letter topic, by reason (the featurizer's error code).
    func recordDeadLettered(reason: String, count: Int) {
        deadLetterCounter(reason).increment(by: count)
    }

    /// Counts an output published as a cut-down dead letter because it did not fit in a Kafka
    /// message (`cause`: `producer_limit` or `broker_refused`).
    func recordCutDownOutput(cause: String) {
        let counter = labelled.withLock { labelled in
            if let counter = labelled.cutDown[cause] { return counter }
            let counter = Counter(label: "scorer_outputs_truncated_total", dimensions: [("cause", cause)], factory: factory)
            labelled.cutDown[cause] = counter
            return counter
        }
        counter.increment()
    }

    func recordRebalance() {
        rebalances.increment()
        counts.rebalances.add(1, ordering: .relaxed)
    }

    func recordProducerQueue(depth: Int, inFlight: Int) {
        producerQueueDepth.record(depth)
        inFlightGauge.record(inFlight)
        counts.inFlight.store(inFlight, ordering: .relaxed)
    }

    func recordReady(_ ready: Bool) {
        readyGauge.record(ready ? 1 : 0)
        counts.ready.store(ready, ordering: .relaxed)
    }

    func recordModel(name: String, loadedAtSeconds: Double) {
        labelled.withLock { labelled in
            if let previous = labelled.modelInfo, previous.name != name { previous.gauge.record(0) }
            let gauge = labelled.modelInfo?.name == name
                ? labelled.modelInfo!.gauge
                : Gauge(label: "scorer_model_info", dimensions: [("model", name)], factory: factory)
            gauge.record(1)
            labelled.modelInfo = (name, gauge)
        }
        modelLoadedAt.record(loadedAtSeconds)
        counts.modelName.withLock { $0 = name }
    }

    func recordReload(accepted: Bool) {
        let result = accepted ? "accepted" : "rejected"
        let counter = labelled.withLock { labelled in
            if let counter = labelled.reloads[result] { return counter }
            let counter = Counter(label: "scorer_model_reloads_total", dimensions: [("result", result)], factory: factory)
            labelled.reloads[result] = counter
            return counter
        }
        counter.increment()
        if accepted { counts.reloadsAccepted.add(1, ordering: .relaxed) } else { counts.reloadsRejected.add(1, ordering: .relaxed) }
    }

    /// Forgets the lag of partitions no longer assigned.
    func forgetLag(of partitions: [SourcePartition]) {
        labelled.withLock { labelled in
            for partition in partitions {
                labelled.lag.removeValue(forKey: partition)?.record(0)
            }
        }
        counts.lag.withLock { current in
            for partition in partitions { current.removeValue(forKey: partition) }
        }
    }

    /// Replaces the per-partition consumer lag (partitions not listed keep their last value, except
    /// that `dropOthers` zeroes and forgets them, for partitions no longer assigned).
    func recordLag(_ lag: [SourcePartition: Int64], dropOthers: Bool) {
        labelled.withLock { labelled in
            for (partition, value) in lag {
                let gauge = labelled.lag[partition] ?? Gauge(
                    label: "scorer_consumer_lag",
                    dimensions: [("topic", partition.topic), ("partition", String(partition.partition))],
                    factory: factory
                )
                gauge.record(value)
                labelled.lag[partition] = gauge
            }
            if dropOthers {
                for (partition, gauge) in labelled.lag where lag[partition] == nil {
                    gauge.record(0)
                    labelled.lag[partition] = nil
                }
            }
        }
        counts.lag.withLock { current in
            if dropOthers { current = lag } else { current.merge(lag) { $1 } }
        }
    }

    private func deadLetterCounter(_ reason: String) -> Counter {
        labelled.withLock { labelled in
            if let counter = labelled.deadLetters[reason] { return counter }
            let counter = Counter(label: "scorer_dead_letters_total", dimensions: [("reason", reason)], factory: factory)
            labelled.deadLetters[reason] = counter
            return counter
        }
    }

    // MARK: - Snapshot

    /// A consistent-enough snapshot of the counters (each value is read atomically).
    ///
    /// - Parameter resettingWindow: start a new latency window after reading this one.
    func snapshot(resettingWindow: Bool) -> ScoringStats {
        let (total, window) = latency.withLock { windows in
            let result = (windows.total, windows.window)
            if resettingWindow { windows.window.reset() }
            return result
        }
        let lag = counts.lag.withLock { $0 }
        return ScoringStats(
            eventsIn: counts.eventsIn.load(ordering: .relaxed),
            predictionsOut: counts.predictionsOut.load(ordering: .relaxed),
            deadLetters: counts.deadLetters.load(ordering: .relaxed),
            batches: counts.batches.load(ordering: .relaxed),
            inFlight: counts.inFlight.load(ordering: .relaxed),
            rebalances: counts.rebalances.load(ordering: .relaxed),
            reloadsAccepted: counts.reloadsAccepted.load(ordering: .relaxed),
            reloadsRejected: counts.reloadsRejected.load(ordering: .relaxed),
            lagByPartition: lag,
            model: counts.modelName.withLock { $0 },
            isReady: counts.ready.load(ordering: .relaxed),
            latencyMicros: total,
            windowLatencyMicros: window
        )
    }
}

/// Plain counters for the stats snapshot.
private final class Counts: Sendable {
    let eventsIn = Atomic<Int>(0)
    let predictionsOut = Atomic<Int>(0)
    let deadLetters = Atomic<Int>(0)
    let batches = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let rebalances = Atomic<Int>(0)
    let reloadsAccepted = Atomic<Int>(0)
    let reloadsRejected = Atomic<Int>(0)
    let ready = Atomic<Bool>(false)
    let lag = Mutex<[SourcePartition: Int64]>([:])
    let modelName = Mutex<String>("")
}

/// End-to-end latency since start and since the last window reset, in microseconds.
private struct LatencyWindows {
    var total = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
    var window = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
}
