import Features
public import Forest

/// Writes the `"reasons"` array of a prediction: a row's K largest TreeSHAP contributions by
/// absolute value, largest first, as
/// `[{"feature":"country","value":3,"contribution":-0.41},...]`.
///
/// The same array `scorer score --features-csv --top K` prints for the row: feature names from the
/// model (`fN` when it has none), numbers as the shortest digits that read back as the same Float32,
/// `null` for a missing (NaN) or non-finite value; features whose contribution is exactly zero are
/// no reasons, so an array may hold fewer than K. Explains the first output only: the service
/// refuses explanations for multi-output models.
public struct ReasonsEncoder: Sendable {
    /// How many reasons at most per prediction.
    public let top: Int
    /// Each feature's name as a JSON string with `{"feature":` before and `,"value":` after it.
    private let nameFields: [[UInt8]]
    private let longestNameField: Int

    private static let contributionField = Array(",\"contribution\":".utf8)
    private static let null = Array("null".utf8)

    /// An encoder of `top` reasons for the features of `model`.
    public init(model: ForestModel, top: Int) {
        self.top = top
        nameFields = (0..<model.featureCount).map { index in
            var field = Array("{\"feature\":".utf8)
            appendJSONString((index < model.featureNames.count ? model.featureNames[index] : "f\(index)").utf8, to: &field)
            field += Array(",\"value\":".utf8)
            return field
        }
        longestNameField = nameFields.map(\.count).max() ?? 0
    }

    /// The most bytes ``write(row:contributions:indices:to:)`` writes.
    public var maxCount: Int {
        let number = 24  // a Float32's shortest digits with sign and exponent, or null
        return 2 + top * (longestNameField + number + Self.contributionField.count + number + 2)
    }

    /// Writes the reasons of one row at `destination` (room for ``maxCount`` bytes); returns how
    /// many bytes it wrote.
    ///
    /// - Parameters:
    ///   - row: the row's feature values, as scored.
    ///   - contributions: the row's contributions, one per feature (the bias excluded).
    ///   - indices: scratch for the ranking (capacity reused: no allocation once it holds `top`).
    public func write(
        row: UnsafeBufferPointer<Float>, contributions: UnsafeBufferPointer<Float>, indices: inout [Int32],
        to destination: UnsafeMutablePointer<UInt8>
    ) -> Int {
        ContributionRanking.top(top, of: contributions, into: &indices)
        var count = 0
        func put(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { (destination + count).update(from: $0.baseAddress!, count: $0.count) }
            count += bytes.count
        }
        func put(_ value: Float) {
            guard value.isFinite else { return put(Self.null) }
            var text = value.description
            text.withUTF8 { (destination + count).update(from: $0.baseAddress!, count: $0.count); count += $0.count }
        }
        destination[count] = 0x5B  // [
        count += 1
        for (rank, feature) in indices.enumerated() {
            if rank > 0 {
                destination[count] = 0x2C  // ,
                count += 1
            }
            let index = Int(feature)
            put(nameFields[index])
            put(row[index])
            put(Self.contributionField)
            put(contributions[index])
            destination[count] = 0x7D  // }
            count += 1
        }
        destination[count] = 0x5D  // ]
        count += 1
        return count
    }
}
