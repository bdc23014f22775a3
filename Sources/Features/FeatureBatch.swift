/// Many events featurized into one row-major Float32 buffer, ready for a batch evaluator.
///
/// Only events that featurize successfully get a row; ``append(_:using:)`` reports each failure so
/// the caller can dead-letter that event. Reuse a batch with ``removeAll()``: once its buffers have
/// grown to the batch size, appending allocates nothing.
public struct FeatureBatch: Sendable {
    /// Values per row.
    public let featureCount: Int
    /// `count * featureCount` values, row after row.
    public private(set) var rows: [Float] = []
    /// Per row: the event's id location and timestamp (offsets refer to that event's bytes).
    public private(set) var events: [EventInfo] = []

    /// The number of rows.
    public var count: Int { events.count }

    /// An empty batch for rows of `featureCount` values, with room for `capacity` rows.
    public init(featureCount: Int, capacity: Int = 0) {
        self.featureCount = featureCount
        rows.reserveCapacity(capacity * featureCount)
        events.reserveCapacity(capacity)
    }

    /// Featurizes `event` and appends its row.
    ///
    /// - Returns: the new row's index, or the reason the event cannot be featurized (nothing is
    ///   appended then).
    /// - Precondition: `featurizer.featureCount == featureCount`.
    @discardableResult
    public mutating func append(_ event: UnsafeRawBufferPointer, using featurizer: Featurizer) -> Result<Int, FeatureError> {
        precondition(featurizer.featureCount == featureCount, "batch and featurizer disagree on the row width")
        let start = rows.count
        rows.append(contentsOf: repeatElement(Float.nan, count: featureCount))
        let result = rows.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(FeatureError) in try featurizer.featurize(event, into: buffer.baseAddress! + start) }
        }
        switch result {
        case .success(let info):
            events.append(info)
            return .success(events.count - 1)
        case .failure(let error):
            rows.removeLast(featureCount)
            return .failure(error)
        }
    }

    /// Appends a copy of row `index` of `other` (same width), e.g. to score it with a second model
    /// of the same spec.
    public mutating func appendRow(_ index: Int, of other: FeatureBatch) {
        precondition(other.featureCount == featureCount, "batches disagree on the row width")
        rows.append(contentsOf: other.rows[index * featureCount..<(index + 1) * featureCount])
        events.append(other.events[index])
    }

    /// The values of row `index`.
    public func row(_ index: Int) -> ArraySlice<Float> {
        rows[index * featureCount..<(index + 1) * featureCount]
    }

    /// Empties the batch, keeping its capacity.
    public mutating func removeAll() {
        rows.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
    }
}
