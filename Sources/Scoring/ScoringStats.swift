public import Histogram
public import Kafka

/// A snapshot of a running service's counters, cheap enough to take several times a second (for a
/// live status line).
///
/// Counts are totals since the service started. `predictionsOut` and `deadLetters` count outputs
/// the broker has acknowledged. Latencies are end to end: from the input message's timestamp to the
/// acknowledgement of its output, in microseconds.
public struct ScoringStats: Sendable {
    /// Input events taken into a batch.
    public var eventsIn: Int
    /// Predictions acknowledged by the broker.
    public var predictionsOut: Int
    /// Dead letters acknowledged by the broker.
    public var deadLetters: Int
    /// Micro-batches scored.
    public var batches: Int
    /// Outputs produced and not yet acknowledged.
    public var inFlight: Int
    /// Group rebalances seen (assignments and revocations).
    public var rebalances: Int
    /// Times an error moved a partition's position by `auto.offset.reset` (input events skipped).
    public var offsetResets: Int
    /// Model reloads that were accepted / rejected.
    public var reloadsAccepted: Int
    public var reloadsRejected: Int
    /// Consumer lag per assigned partition, from the latest librdkafka statistics.
    public var lagByPartition: [TopicPartition: Int64]
    /// The primary model serving right now (`name@hash`).
    public var model: String
    /// Whether the service is consuming (models loaded, in its group, not shutting down); a
    /// member may be ready with no partitions assigned (see `assignedPartitions`).
    public var isReady: Bool
    /// Partitions assigned to this member right now.
    public var assignedPartitions: Int
    /// Per serving model: events answered (or shadowed) and their mean probability, since start.
    public var variants: [VariantSummary]
    /// End-to-end latency since start, in microseconds.
    public var latencyMicros: Histogram<UInt64>
    /// End-to-end latency since the previous snapshot taken with `resettingWindow: true`.
    public var windowLatencyMicros: Histogram<UInt64>

    /// Total consumer lag over all assigned partitions.
    public var totalLag: Int64 { lagByPartition.values.reduce(0) { $0 + max($1, 0) } }

    /// Outputs acknowledged (predictions and dead letters).
    public var eventsOut: Int { predictionsOut + deadLetters }
}

/// One serving model's totals: what `scorer demo` shows per variant.
public struct VariantSummary: Sendable, Equatable {
    /// `primary`, `canary` or `shadow`.
    public var variant: String
    /// The model's identity (`name@hash`).
    public var model: String
    /// Events it answered (shadow: scored).
    public var events: Int
    /// Mean probability over those events.
    public var meanP: Double
}
