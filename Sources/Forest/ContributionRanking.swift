/// Picks the features that moved a prediction most: the largest TreeSHAP contributions by
/// absolute value, for "reasons" in explanations.
public enum ContributionRanking {
    /// Writes into `indices` the features of the `k` largest `|values[i]|`, largest first.
    ///
    /// - Parameters:
    ///   - k: how many to keep at most.
    ///   - values: one output's contributions, one per feature (the bias excluded).
    ///   - indices: replaced by the chosen feature indices (capacity reused).
    ///
    /// Contributions of exactly zero (features the row's trees did not split on) are not reasons
    /// and are skipped, so fewer than `k` may come back. Ties keep the lower feature index first.
    /// Allocates nothing once `indices` has room for `k`.
    public static func top(_ k: Int, of values: UnsafeBufferPointer<Float>, into indices: inout [Int32]) {
        indices.removeAll(keepingCapacity: true)
        guard k > 0 else { return }
        for (feature, value) in values.enumerated() where value != 0 && !value.isNaN {
            let magnitude = abs(value)
            // Insertion into the kept list, which stays sorted by |value| descending (k is small).
            var position = indices.count
            while position > 0, abs(values[Int(indices[position - 1])]) < magnitude { position -= 1 }
            if position >= k { continue }
            if indices.count == k { indices.removeLast() }
            indices.insert(Int32(feature), at: position)
        }
    }
}
