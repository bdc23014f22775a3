/// Calibration sums over the last `length` of time, kept in 60 buckets of `length / 60` each.
///
/// A labelled prediction goes in the bucket of the time its label became known (its outcome, or the
/// join window's expiry): a prediction cannot be judged before then. The window slides one bucket
/// at a time.
public struct SlidingWindow: Sendable {
    public let lengthMs: Int64
    public let bucketMs: Int64
    private var buckets: [(index: Int64, stats: CalibrationStats)]

    public static let bucketCount = 60

    public init(lengthMs: Int64) {
        precondition(lengthMs >= Int64(Self.bucketCount))
        self.lengthMs = lengthMs
        self.bucketMs = lengthMs / Int64(Self.bucketCount)
        buckets = Array(repeating: (Int64.min, CalibrationStats()), count: Self.bucketCount)
    }

    /// Adds a labelled prediction whose label became known at `timeMs`.
    public mutating func add(p: Double, installed: Bool, atMs timeMs: Int64) {
        let index = timeMs / bucketMs
        let slot = Int(((index % Int64(Self.bucketCount)) + Int64(Self.bucketCount)) % Int64(Self.bucketCount))
        if buckets[slot].index != index {
            // An older bucket's slot is reused; a label older than the slot's bucket is out of the window.
            guard index > buckets[slot].index else { return }
            buckets[slot] = (index, CalibrationStats())
        }
        buckets[slot].stats.add(p: p, installed: installed)
    }

    /// The sums over the window ending at `nowMs` (the buckets of the last `length`).
    public func stats(nowMs: Int64) -> CalibrationStats {
        let newest = nowMs / bucketMs
        let oldest = newest - Int64(Self.bucketCount) + 1
        var total = CalibrationStats()
        for bucket in buckets where bucket.index >= oldest && bucket.index <= newest {
            total.merge(bucket.stats)
        }
        return total
    }
}
