import CoreMetrics
import Foundation
import Histogram
import Kafka
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
///   code or `non_finite_prediction`); `outputs_truncated_total{cause}` (outputs too large for a
///   Kafka message, published as cut-down dead letters); `rebalances_total`;
///   `offset_resets_total` (positions moved by `auto.offset.reset` after an error such as "Offset
///   out of range": input events were skipped, never scored);
///   `model_reloads_total{role,result}`; `model_refusals_total{role,reason}` (bundles refused at
///   reload, by ``ModelBundles/BundleError`` code);
/// - histograms `batch_size`, `scoring_seconds` (featurize + score of one batch),
///   `e2e_latency_seconds` (input message timestamp to output acknowledged), and per serving
///   model `variant_p{variant,model}` with `variant_scoring_seconds_total{variant,model}`
///   (see ``VariantStats``);
/// - gauges `consumer_lag{topic,partition}` (from librdkafka statistics),
///   `model_info{role,model}` (1 for each model serving, `model` = name@hash),
///   `model_loaded_timestamp_seconds{role}`, `producer_queue_depth`, `in_flight`,
///   `assigned_partitions`, `ready`, `unassigned_seconds` (how long this group member has held no
///   partitions; 0 while it holds some);
/// - per model with a drift reference in its card, over the last 5 minutes scored:
///   `feature_psi{model,feature}`, `feature_missing_share{model,feature}`, `feature_drift_rows{model}`
///   (see ``FeatureDriftWindows``).
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
    private let offsetResets: Counter
    private let batchSize: Recorder
    private let scoringTime: Timer
    private let endToEndLatency: Timer
    private let transactionCommitTime: Timer
    private let producerQueueDepth: Gauge
    private let inFlightGauge: Gauge
    private let readyGauge: Gauge
    private let assignedGauge: Gauge
    private let unassignedSeconds: Gauge
    private let variants = VariantStats()
    /// Feature drift per model over a sliding window (`scorer_feature_psi`, ...; see ``FeatureDriftWindows``).
    let drift = FeatureDriftWindows()

    private struct Labelled: ~Copyable {
        var lag: [TopicPartition: Gauge] = [:]
        var modelInfo: [String: (label: String, gauge: Gauge)] = [:]
        var loadedAt: [String: Gauge] = [:]
        /// Counters with dimensions, by label and dimensions.
        var counters: [String: Counter] = [:]
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
            "scorer_transaction_commit_seconds": latencyBuckets,
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
        offsetResets = Counter(label: "scorer_offset_resets_total", factory: factory)
        batchSize = Recorder(label: "scorer_batch_size", aggregate: true, factory: factory)
        scoringTime = Timer(label: "scorer_scoring_seconds", factory: factory)
        endToEndLatency = Timer(label: "scorer_e2e_latency_seconds", factory: factory)
        transactionCommitTime = Timer(label: "scorer_transaction_commit_seconds", factory: factory)
        producerQueueDepth = Gauge(label: "scorer_producer_queue_depth", factory: factory)
        inFlightGauge = Gauge(label: "scorer_in_flight", factory: factory)
        readyGauge = Gauge(label: "scorer_ready", factory: factory)
        assignedGauge = Gauge(label: "scorer_assigned_partitions", factory: factory)
        unassignedSeconds = Gauge(label: "scorer_unassigned_seconds", factory: factory)
    }

    // MARK: - Recording

    /// Prometheus text of every series: the registry's and the per-variant histograms.
    public func render(into buffer: inout [UInt8]) {
        registry.emit(into: &buffer)
        variants.render(into: &buffer)
        drift.render(into: &buffer)
    }

    /// The same as text.
    public func render() -> String {
        var buffer: [UInt8] = []
        render(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    func recordBatch(size: Int, scoringNanoseconds: Int64, variants batch: VariantBatchStats? = nil) {
        if let batch { variants.record(batch) }
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
        counter("scorer_dead_letters_total", [("reason", reason)]).increment(by: count)
    }

    /// Counts an output published as a cut-down dead letter because it did not fit in a Kafka
    /// message (`cause`: `producer_limit` or `broker_refused`).
    func recordCutDownOutput(cause: String) {
        counter("scorer_outputs_truncated_total", [("cause", cause)]).increment()
    }

    /// Counts a transaction of exactly-once mode by outcome (`committed` / `aborted`), with how
    /// long its commit took (sending the offsets and committing).
    func recordTransaction(committed: Bool, seconds: Double?) {
        counter("scorer_transactions_total", [("outcome", committed ? "committed" : "aborted")]).increment()
        if let seconds {
            transactionCommitTime.recordNanoseconds(Int64(seconds * 1e9))
        }
    }

    func recordOffsetReset(_ reset: OffsetReset) {
        offsetResets.increment()
        counts.offsetResets.add(1, ordering: .relaxed)
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

    /// Records that `model` now serves as `role` (`model_info{role,model}` 1, the previous
    /// model of that role 0).
    func recordModel(_ model: ScoringModel, role: ModelRole, loadedAtSeconds: Double = Date().timeIntervalSince1970) {
        let label = model.label
        let loadedAt = labelled.withLock { labelled -> Gauge in
            if let previous = labelled.modelInfo[role.rawValue], previous.label != label { previous.gauge.record(0) }
            let gauge = labelled.modelInfo[role.rawValue].flatMap { $0.label == label ? $0.gauge : nil }
                ?? Gauge(label: "scorer_model_info", dimensions: [("role", role.rawValue), ("model", label)], factory: factory)
            gauge.record(1)
            labelled.modelInfo[role.rawValue] = (label, gauge)
            if let existing = labelled.loadedAt[role.rawValue] { return existing }
            let loaded = Gauge(label: "scorer_model_loaded_timestamp_seconds", dimensions: [("role", role.rawValue)], factory: factory)
            labelled.loadedAt[role.rawValue] = loaded
            return loaded
        }
        loadedAt.record(loadedAtSeconds)
        if role == .primary { counts.modelName.withLock { $0 = label } }
    }

    func recordReload(role: ModelRole, accepted: Bool) {
        let result = accepted ? "accepted" : "rejected"
        counter("scorer_model_reloads_total", [("role", role.rawValue), ("result", result)]).increment()
        if accepted { counts.reloadsAccepted.add(1, ordering: .relaxed) } else { counts.reloadsRejected.add(1, ordering: .relaxed) }
    }

    /// Counts a bundle refused for `role`, by reason (a `BundleError` code).
    func recordRefusal(role: ModelRole, reason: String) {
        counter("scorer_model_refusals_total", [("role", role.rawValue), ("reason", reason)]).increment()
    }

    /// The number of partitions assigned to this member.
    func recordAssignment(count: Int) {
        assignedGauge.record(count)
        counts.assigned.store(count, ordering: .relaxed)
    }

    /// The counter of `label` with these dimensions (made on first use).
    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = ([label] + dimensions.map { "\($0)=\($1)" }).joined(separator: "|")
        return labelled.withLock { labelled in
            if let counter = labelled.counters[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            labelled.counters[key] = counter
            return counter
        }
    }

    /// Forgets the lag of partitions no longer assigned.
    func forgetLag(of partitions: [TopicPartition]) {
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
    func recordLag(_ lag: [TopicPartition: Int64], dropOthers: Bool) {
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
        let variantTotals = variants.snapshot.sorted { $0.key < $1.key }.map { key, totals in
            VariantSummary(variant: key.variant, model: key.model, events: totals.count, meanP: totals.count > 0 ? totals.sum / Double(totals.count) : 0)
        }
        return ScoringStats(
            eventsIn: counts.eventsIn.load(ordering: .relaxed),
            predictionsOut: counts.predictionsOut.load(ordering: .relaxed),
            deadLetters: counts.deadLetters.load(ordering: .relaxed),
            batches: counts.batches.load(ordering: .relaxed),
            inFlight: counts.inFlight.load(ordering: .relaxed),
            rebalances: counts.rebalances.load(ordering: .relaxed),
            offsetResets: counts.offsetResets.load(ordering: .relaxed),
            reloadsAccepted: counts.reloadsAccepted.load(ordering: .relaxed),
            reloadsRejected: counts.reloadsRejected.load(ordering: .relaxed),
            lagByPartition: lag,
            model: counts.modelName.withLock { $0 },
            isReady: counts.ready.load(ordering: .relaxed),
            assignedPartitions: counts.assigned.load(ordering: .relaxed),
            variants: variantTotals,
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
    let offsetResets = Atomic<Int>(0)
    let reloadsAccepted = Atomic<Int>(0)
    let reloadsRejected = Atomic<Int>(0)
    let ready = Atomic<Bool>(false)
    let assigned = Atomic<Int>(0)
    let lag = Mutex<[TopicPartition: Int64]>([:])
    let modelName = Mutex<String>("")
}

/// End-to-end latency since start and since the last window reset, in microseconds.
private struct LatencyWindows {
    var total = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
    var window = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .two)
}
