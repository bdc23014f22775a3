public import Histogram

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
    /// Model reloads that were accepted / rejected.
    public var reloadsAccepted: Int
    public var reloadsRejected: Int
    /// Consumer lag per assigned partition, from the latest librdkafka statistics.
    public var lagByPartition: [SourcePartition: Int64]
    /// Name of the model scoring right now.
    public var model: String
    /// Whether the service is consuming (assigned, model loaded, not shutting down).
    public var isReady: Bool
    /// End-to-end latency since start, in microseconds.
    public var latencyMicros: Histogram<UInt64>
    /// End-to-end latency since the previous snapshot taken with `resettingWindow: true`.
    public var windowLatencyMicros: Histogram<UInt64>

    /// Total consumer lag over all assigned partitions.
    public var totalLag: Int64 { lagByPartition.values.reduce(0) { $0 + max($1, 0) } }

    /// Outputs acknowledged (predictions and dead letters).
    public var eventsOut: Int { predictionsOut + deadLetters }
}
