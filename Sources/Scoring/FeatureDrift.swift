import Dispatch
import Foundation
import ModelBundles
import Synchronization

// MARK: - Binning one micro-batch

/// Counts one model's featurized rows into the cells of its card's drift reference
/// (``ModelBundles/DriftReference``): per tracked feature its bins (or categories), then missing.
///
/// Built once per model and runtime; `count` runs on the scoring thread over the rows the model
/// scored, into a flat counts array reused by every batch (no allocation per batch or event).
struct DriftBatchCounts {
    let label: String
    let reference: DriftReference
    /// Cells of all tracked features, back to back.
    private(set) var counts: [UInt32]
    /// Rows counted since the last reset (see `rowsPerBatch`).
    private(set) var rows = 0

    // The compiled plan, one entry per tracked feature.
    private let columns: [Int]
    private let offsets: [Int]
    /// Numeric: index of the first edge in `edges`, and the edge count; categorical: where its
    /// table starts in `cellOfCode` and how many codes it maps (0 for numeric).
    private let edgeStarts: [Int]
    private let edgeCounts: [Int]
    private let categories: [Int]
    private let edges: [Float]
    /// Per categorical feature, per code: its cell (the shared one for unlisted codes).
    private let cellOfCode: [Int32]
    private let cellCounts: [Int]

    /// At most this many rows of one batch are counted (see `count`).
    let rowsPerBatch: Int

    init(label: String, reference: DriftReference, rowsPerBatch: Int = 256) {
        self.label = label
        self.reference = reference
        self.rowsPerBatch = max(1, rowsPerBatch)
        var columns: [Int] = [], offsets: [Int] = [], edgeStarts: [Int] = [], edgeCounts: [Int] = []
        var categories: [Int] = [], edges: [Float] = [], cellOfCode: [Int32] = []
        var offset = 0
        for feature in reference.features {
            columns.append(feature.column)
            offsets.append(offset)
            offset += feature.cellCount
            switch feature.kind {
            case .numeric(let featureEdges):
                edgeStarts.append(edges.count)
                edgeCounts.append(featureEdges.count)
                categories.append(0)
                edges.append(contentsOf: featureEdges)
            case .categorical(let codes, let codeCount):
                edgeStarts.append(cellOfCode.count)
                edgeCounts.append(0)
                categories.append(codeCount)
                var table = [Int32](repeating: Int32(codes.count), count: codeCount)
                for (cell, code) in codes.enumerated() { table[code] = Int32(cell) }
                cellOfCode.append(contentsOf: table)
            }
        }
        self.columns = columns
        self.offsets = offsets
        self.edgeStarts = edgeStarts
        self.edgeCounts = edgeCounts
        self.categories = categories
        self.edges = edges
        self.cellOfCode = cellOfCode
        cellCounts = reference.features.map(\.cellCount)
        counts = [UInt32](repeating: 0, count: offset)
    }

    /// Forgets the previous batch.
    mutating func reset() {
        guard rows > 0 else { return }
        rows = 0
        counts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }

    /// Adds `rowCount` rows of `width` Float32 values each (row-major, NaN = missing): every row
    /// of a batch of up to `rowsPerBatch` rows, otherwise evenly spaced rows (every k-th, k the
    /// smallest stride that keeps to the limit). Small batches, the latency path, are counted in
    /// full; under a backlog the histograms are a systematic sample, which keeps drift tracking
    /// out of the drain rate (BENCHMARKS.md, "Feature drift").
    mutating func count(rows input: UnsafeBufferPointer<Float>, rowCount: Int, width: Int) {
        guard rowCount > 0, let base = input.baseAddress else { return }
        let stride = (rowCount + rowsPerBatch - 1) / rowsPerBatch
        let sampled = (rowCount + stride - 1) / stride
        let step = stride * width
        rows += sampled
        let features = columns.count
        columns.withUnsafeBufferPointer { columns in
        offsets.withUnsafeBufferPointer { offsets in
        edgeStarts.withUnsafeBufferPointer { edgeStarts in
        edgeCounts.withUnsafeBufferPointer { edgeCounts in
        categories.withUnsafeBufferPointer { categories in
        edges.withUnsafeBufferPointer { edges in
        cellOfCode.withUnsafeBufferPointer { cellOfCode in
        counts.withUnsafeMutableBufferPointer { counts in
            for feature in 0..<features {
                let column = columns[feature]
                let cells = counts.baseAddress! + offsets[feature]
                let categoryCount = categories[feature]
                if categoryCount > 0 {
                    let table = cellOfCode.baseAddress! + edgeStarts[feature]
                    let limit = Float(categoryCount)
                    // Codes not listed (and out of range) share the cell after the listed ones.
                    let pooled = cellCounts[feature] - 2
                    let missing = pooled + 1
                    for row in 0..<sampled {
                        let value = base[row * step + column]
                        let cell: Int
                        if value.isNaN {
                            cell = missing
                        } else if value >= 0 && value < limit && value == value.rounded(.towardZero) {
                            cell = Int(table[Int(value)])
                        } else {
                            cell = pooled
                        }
                        cells[cell] &+= 1
                    }
                } else {
                    let first = edges.baseAddress! + edgeStarts[feature]
                    let edgeCount = edgeCounts[feature]
                    let missing = edgeCount + 1
                    for row in 0..<sampled {
                        let value = base[row * step + column]
                        // Bin = edges <= value (NaN compares false with every edge: bin 0, fixed below).
                        var bin = 0
                        for edge in 0..<edgeCount { bin &+= value >= first[edge] ? 1 : 0 }
                        cells[value.isNaN ? missing : bin] &+= 1
                    }
                }
            }
        }}}}}}}}
    }
}

// MARK: - PSI

/// The population stability index of observed cell counts against expected shares:
/// `sum((a - e) * ln(a / e))` over the cells, each share floored at `floor` so an empty cell stays
/// finite.
func populationStabilityIndex(expected: [Double], counts: some Collection<Int>, total: Int, floor: Double) -> Double {
    guard total > 0 else { return 0 }
    var psi = 0.0
    for (e, count) in zip(expected, counts) {
        let a = max(Double(count) / Double(total), floor)
        let e = max(e, floor)
        psi += (a - e) * log(a / e)
    }
    return psi
}

// MARK: - The sliding window

/// Feature drift over a sliding window of what the service scored: per model identity, the
/// histograms of its card's drift reference in a ring of time buckets, the PSI and missing share
/// of each tracked feature against the training set, rendered as Prometheus gauges
/// (`scorer_feature_psi{model,feature}`, `scorer_feature_missing_share{model,feature}`,
/// `scorer_feature_drift_rows{model}`).
///
/// The scoring thread bins each micro-batch (``DriftBatchCounts``); the pipeline's thread adds the
/// batch's cells here once per batch; `/metrics` reads under the same lock.
final class FeatureDriftWindows: Sendable {
    /// PSI above which a feature has drifted (the usual "significant shift" threshold).
    static let psiThreshold = 0.25

    /// Length of one bucket and number of buckets: the window spans `bucketSeconds * bucketCount`.
    let bucketSeconds: Int
    let bucketCount: Int
    /// Fewer rows than this in the window: no PSI (too noisy), only the row count.
    let minimumRows: Int
    /// At most one warning line per this many seconds.
    let warningIntervalSeconds: Int

    struct FeatureFigures: Sendable, Equatable {
        var feature: String
        var psi: Double
        var missingShare: Double
    }

    struct ModelFigures: Sendable {
        var model: String
        var rows: Int
        /// Empty while the window holds fewer than `minimumRows` rows.
        var features: [FeatureFigures]
    }

    fileprivate struct Window {
        let reference: DriftReference
        /// Per slot: the bucket number it holds (seconds / bucketSeconds), its rows and cells.
        var bucketOfSlot: [Int]
        var rowsOfSlot: [Int]
        var cells: [Int]
        let cellCount: Int
    }

    private struct State {
        var windows: [String: Window] = [:]
        var nextCheck = 0
        var lastWarning = Int.min / 2
    }

    private let state = Mutex(State())

    init(bucketSeconds: Int = 10, bucketCount: Int = 30, minimumRows: Int = 1_000, warningIntervalSeconds: Int = 60) {
        self.bucketSeconds = bucketSeconds
        self.bucketCount = bucketCount
        self.minimumRows = minimumRows
        self.warningIntervalSeconds = warningIntervalSeconds
    }

    /// Seconds on the monotonic clock the window runs on.
    static var nowSeconds: Int { Int(DispatchTime.now().uptimeNanoseconds / 1_000_000_000) }

    /// Adds one batch's cells.
    func record(_ batch: DriftBatchCounts, nowSeconds now: Int = FeatureDriftWindows.nowSeconds) {
        guard batch.rows > 0 else { return }
        let bucket = now / bucketSeconds
        let slot = bucket % bucketCount
        state.withLock { state in
            if state.windows[batch.label] == nil {
                let cellCount = batch.counts.count
                state.windows[batch.label] = Window(
                    reference: batch.reference, bucketOfSlot: [Int](repeating: -1, count: bucketCount),
                    rowsOfSlot: [Int](repeating: 0, count: bucketCount), cells: [Int](repeating: 0, count: cellCount * bucketCount),
                    cellCount: cellCount)
            }
            state.windows[batch.label]!.add(batch, slot: slot, bucket: bucket)
        }
    }

    /// PSI and missing share per model and tracked feature over the window ending `now`.
    func figures(nowSeconds now: Int = FeatureDriftWindows.nowSeconds) -> [ModelFigures] {
        let bucket = now / bucketSeconds
        return state.withLock { state in
            state.windows.sorted { $0.key < $1.key }.compactMap { label, window in
                window.figures(model: label, bucket: bucket, bucketCount: bucketCount, minimumRows: minimumRows)
            }
        }
    }

    /// A one-line warning naming the features whose PSI exceeds ``psiThreshold``, when one is due:
    /// checked once per bucket (from the first time a window holds `minimumRows`), said at most
    /// once per `warningIntervalSeconds`.
    func warning(nowSeconds now: Int = FeatureDriftWindows.nowSeconds) -> String? {
        let due = state.withLock { state in now >= state.nextCheck && now - state.lastWarning >= warningIntervalSeconds }
        guard due else { return nil }
        let models = figures(nowSeconds: now)
        // Until a window holds enough rows for a PSI, look again at the next batch.
        guard models.contains(where: { !$0.features.isEmpty }) else { return nil }
        state.withLock { $0.nextCheck = now + bucketSeconds }
        var parts: [String] = []
        for model in models {
            let drifted = model.features.filter { $0.psi > Self.psiThreshold }
            guard !drifted.isEmpty else { continue }
            let list = drifted.map { "\($0.feature) \(formatted($0.psi))" }.joined(separator: ", ")
            parts.append("\(model.model): \(list)")
        }
        guard !parts.isEmpty else { return nil }
        state.withLock { $0.lastWarning = now }
        return "feature drift (PSI > \(Self.psiThreshold) over the last \(bucketSeconds * bucketCount) s against the training set): "
            + parts.joined(separator: "; ")
    }

    /// Prometheus text exposition of the window's figures.
    func render(into buffer: inout [UInt8]) {
        let models = figures()
        guard !models.isEmpty else { return }
        let window = bucketSeconds * bucketCount
        var text = "# HELP scorer_feature_drift_rows Rows scored in the drift window (\(window) s), per model.\n"
        text += "# TYPE scorer_feature_drift_rows gauge\n"
        for model in models { text += "scorer_feature_drift_rows{model=\"\(VariantStats.escape(model.model))\"} \(model.rows)\n" }
        text += "# HELP scorer_feature_psi PSI of each feature over the drift window (\(window) s) against the card's training histograms.\n"
        text += "# TYPE scorer_feature_psi gauge\n"
        for model in models {
            for feature in model.features {
                text += "scorer_feature_psi{model=\"\(VariantStats.escape(model.model))\",feature=\"\(VariantStats.escape(feature.feature))\"} \(feature.psi)\n"
            }
        }
        text += "# HELP scorer_feature_missing_share Share of missing values of each feature over the drift window (\(window) s).\n"
        text += "# TYPE scorer_feature_missing_share gauge\n"
        for model in models {
            for feature in model.features {
                text += "scorer_feature_missing_share{model=\"\(VariantStats.escape(model.model))\",feature=\"\(VariantStats.escape(feature.feature))\"} \(feature.missingShare)\n"
            }
        }
        buffer.append(contentsOf: Array(text.utf8))
    }

    private func formatted(_ value: Double) -> String {
        let hundredths = (value * 100).rounded()
        return "\(hundredths / 100)"
    }
}

extension FeatureDriftWindows.Window {
    fileprivate mutating func add(_ batch: DriftBatchCounts, slot: Int, bucket: Int) {
        let start = slot * cellCount
        if bucketOfSlot[slot] != bucket {
            bucketOfSlot[slot] = bucket
            rowsOfSlot[slot] = 0
            for index in start..<start + cellCount { cells[index] = 0 }
        }
        rowsOfSlot[slot] += batch.rows
        batch.counts.withUnsafeBufferPointer { counts in
            cells.withUnsafeMutableBufferPointer { cells in
                for index in 0..<cellCount { cells[start + index] += Int(counts[index]) }
            }
        }
    }

    fileprivate func figures(model: String, bucket: Int, bucketCount: Int, minimumRows: Int) -> FeatureDriftWindows.ModelFigures? {
        var rows = 0
        var sums = [Int](repeating: 0, count: cellCount)
        for slot in 0..<bucketCount where bucketOfSlot[slot] > bucket - bucketCount && bucketOfSlot[slot] <= bucket {
            rows += rowsOfSlot[slot]
            let start = slot * cellCount
            for index in 0..<cellCount { sums[index] += cells[start + index] }
        }
        guard rows > 0 else { return nil }
        var figures = FeatureDriftWindows.ModelFigures(model: model, rows: rows, features: [])
        guard rows >= minimumRows else { return figures }
        var offset = 0
        for feature in reference.features {
            let cells = sums[offset..<offset + feature.cellCount]
            offset += feature.cellCount
            figures.features.append(FeatureDriftWindows.FeatureFigures(
                feature: feature.name,
                psi: populationStabilityIndex(expected: feature.expected, counts: cells, total: rows, floor: reference.psiFloor),
                missingShare: Double(cells.last!) / Double(rows)))
        }
        return figures
    }
}
