extension ForestModel {
    // MARK: - TreeSHAP contributions

    /// Number of values per row that ``contributions(rows:count:into:threads:)`` writes:
    /// for each output, one per feature then the bias, `outputCount × (featureCount + 1)`.
    public var contributionCount: Int { outputCount * (featureCount + 1) }

    /// Why this model cannot explain its predictions (it has no node covers, `sum_hessian`), or nil
    /// when it can.
    public var explanationUnavailableReason: String? {
        if case .failure(let error) = explainer { return error.message }
        return nil
    }

    /// Exact path-dependent TreeSHAP contributions, equal to XGBoost's
    /// `predict(pred_contribs=True)` (its algorithm, Float32 operations in the same order).
    ///
    /// For each row and output: one contribution per feature, then the bias (the trees' expected
    /// values plus the base margin); they sum to the row's margin up to Float32 rounding.
    ///
    /// - Parameters:
    ///   - rows: `count × featureCount` Float32 values, row-major; `NaN` means missing.
    ///   - count: number of rows.
    ///   - output: room for `count × contributionCount` values, row-major (overwritten).
    ///   - threads: worker threads across rows; results do not depend on it.
    /// - Throws: ``ForestError`` `.unsupported` when the model has no node covers
    ///   (``explanationUnavailableReason``), `.badInput` when a buffer is too small.
    public func contributions(
        rows: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>, threads: Int = 1
    ) throws {
        let explainer = try self.explainer.get()
        guard count >= 0 else { throw ForestError.badInput("negative row count \(count)") }
        guard rows.count >= count * featureCount else {
            throw ForestError.badInput("\(count) rows need \(count * featureCount) input values, got \(rows.count)")
        }
        guard output.count >= count * contributionCount else {
            throw ForestError.badInput("\(count) rows need room for \(count * contributionCount) contributions, got \(output.count)")
        }
        guard count > 0, let rowBase = rows.baseAddress, let outBase = output.baseAddress else { return }
        explainer.explain(rows: rowBase, count: count, output: outBase, threads: threads)
    }

    /// Convenience: contributions of `rows.count / featureCount` rows, `contributionCount` per row.
    public func contributions(_ rows: [Float], threads: Int = 1) throws -> [Float] {
        guard featureCount > 0 else { return [] }
        guard rows.count % featureCount == 0 else {
            throw ForestError.badInput("\(rows.count) values is not a whole number of rows of \(featureCount) features")
        }
        let count = rows.count / featureCount
        var output = [Float](repeating: 0, count: count * contributionCount)
        try rows.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try contributions(rows: input, count: count, into: $0, threads: threads) }
        }
        return output
    }
}
