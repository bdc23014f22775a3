import Histogram

/// End-to-end latencies in an HDR histogram: microsecond units, 3 significant digits, up to one hour
/// (longer values are recorded as one hour).
struct LatencyRecorder: Sendable {
    static let highestMicroseconds: UInt64 = 3_600_000_000
    private(set) var histogram = Histogram<UInt64>(
        lowestDiscernibleValue: 1, highestTrackableValue: LatencyRecorder.highestMicroseconds,
        numberOfSignificantValueDigits: .three)

    var count: UInt64 { histogram.totalCount }

    mutating func record(nanoseconds: UInt64) {
        _ = histogram.record(min(max(nanoseconds / 1000, 1), Self.highestMicroseconds))
    }

    mutating func add(_ other: LatencyRecorder) { histogram.add(other.histogram) }

    mutating func reset() { histogram.reset() }

    func summary() -> LatencySummary {
        guard histogram.totalCount > 0 else { return LatencySummary() }
        func ms(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        return LatencySummary(
            count: Int(histogram.totalCount),
            p50Ms: ms(histogram.valueAtPercentile(50)),
            p90Ms: ms(histogram.valueAtPercentile(90)),
            p99Ms: ms(histogram.valueAtPercentile(99)),
            p999Ms: ms(histogram.valueAtPercentile(99.9)),
            maxMs: ms(histogram.max),
            meanMs: histogram.mean / 1000)
    }
}

/// Percentiles of end-to-end latency (send to prediction received), in milliseconds.
public struct LatencySummary: Sendable, Hashable, Codable {
    /// Number of latencies the percentiles are computed over (0: all fields are 0).
    public var count = 0
    public var p50Ms = 0.0
    public var p90Ms = 0.0
    public var p99Ms = 0.0
    public var p999Ms = 0.0
    public var maxMs = 0.0
    public var meanMs = 0.0

    public init() {}

    public init(count: Int, p50Ms: Double, p90Ms: Double, p99Ms: Double, p999Ms: Double, maxMs: Double, meanMs: Double) {
        self.count = count
        self.p50Ms = p50Ms
        self.p90Ms = p90Ms
        self.p99Ms = p99Ms
        self.p999Ms = p999Ms
        self.maxMs = maxMs
        self.meanMs = meanMs
    }

    enum CodingKeys: String, CodingKey {
        case count, p50Ms = "p50_ms", p90Ms = "p90_ms", p99Ms = "p99_ms", p999Ms = "p99_9_ms", maxMs = "max_ms",
            meanMs = "mean_ms"
    }
}
