import Foundation
import ModelBundles
import Testing
@testable import Scoring

/// Drift tracking's arithmetic against a straightforward recomputation: binning of featurized rows
/// (edges, NaN, categories out of range), the PSI sum, and the sliding window.
@Suite struct FeatureDriftTests {
    /// Two columns tracked out of three: a numeric one (column 2) and a categorical one (column 0).
    static let reference = DriftReference(features: [
        .init(name: "n", column: 2, kind: .numeric(edges: [1, 2.5, 10]), expected: [0.2, 0.3, 0.2, 0.2, 0.1]),
        // Codes 0 ... 4 of which 0, 1 and 3 have cells; 2, 4 and anything else share one.
        .init(name: "c", column: 0, kind: .categorical(codes: [0, 1, 3], codeCount: 5), expected: [0.4, 0.3, 0.2, 0.05, 0.05]),
    ])

    /// The cells of one value, written the obvious way.
    static func naiveCell(_ feature: DriftReference.Feature, _ value: Float) -> Int {
        if value.isNaN { return feature.cellCount - 1 }
        switch feature.kind {
        case .numeric(let edges): return edges.filter { $0 <= value }.count
        case .categorical(let codes, _):
            if let code = Int(exactly: value), let cell = codes.firstIndex(of: code) { return cell }
            return codes.count
        }
    }

    static func naivePSI(_ expected: [Double], _ counts: [Int], floor: Double = 1e-4) -> Double {
        let total = Double(counts.reduce(0, +))
        var psi = 0.0
        for (e, c) in zip(expected, counts) {
            let a = Swift.max(Double(c) / total, floor), e = Swift.max(e, floor)
            psi += (a - e) * log(a / e)
        }
        return psi
    }

    static func rows(_ count: Int, seed: UInt64) -> [Float] {
        var rng = Generator(state: seed)
        let numeric: [Float] = [-1, 0, 1, 1.5, 2.5, 2.4999998, 9.99, 10, 1e9, .infinity, -.infinity, .nan]
        let categories: [Float] = [0, 1, 2, 3, 4, 7, -1, 0.5, 1e10, .nan, 2, 1]
        var rows: [Float] = []
        for _ in 0..<count {
            rows.append(categories[Int(rng.next() % UInt64(categories.count))])
            rows.append(Float(rng.next() % 100))  // untracked column
            rows.append(rng.next() % 3 == 0 ? Float(rng.next() % 2000) / 100 - 5 : numeric[Int(rng.next() % UInt64(numeric.count))])
        }
        return rows
    }

    /// Up to 256 rows per batch every row is counted; beyond, every k-th (the 1000-row batch: rows
    /// 0, 4, 8, ...; the 1001-row one: 0, 4, ..., 1000).
    @Test(arguments: [(1, 1), (7, 1), (256, 1), (257, 2), (1000, 4), (1001, 4)])
    func binsMatchTheStraightforwardCount(rowCount: Int, stride: Int) {
        let rows = Self.rows(rowCount, seed: UInt64(rowCount))
        var batch = DriftBatchCounts(label: "m@1", reference: Self.reference)
        rows.withUnsafeBufferPointer { batch.count(rows: $0, rowCount: rowCount, width: 3) }
        var expected: [UInt32] = []
        let sampled = Array(Swift.stride(from: 0, to: rowCount, by: stride))
        for feature in Self.reference.features {
            var cells = [UInt32](repeating: 0, count: feature.cellCount)
            for row in sampled { cells[Self.naiveCell(feature, rows[row * 3 + feature.column])] += 1 }
            expected += cells
        }
        #expect(batch.counts == expected)
        #expect(batch.rows == sampled.count)
        batch.reset()
        #expect(batch.rows == 0 && batch.counts.allSatisfy { $0 == 0 })
    }

    @Test func psiMatchesTheTextbookSum() {
        let expected = [0.2, 0.3, 0.2, 0.2, 0.1]
        for counts in [[20, 30, 20, 20, 10], [10, 10, 40, 30, 10], [0, 0, 0, 0, 100], [1, 2, 3, 4, 0]] {
            let psi = populationStabilityIndex(expected: expected, counts: counts, total: counts.reduce(0, +), floor: 1e-4)
            #expect(abs(psi - Self.naivePSI(expected, counts)) < 1e-12)
        }
        #expect(populationStabilityIndex(expected: expected, counts: [20, 30, 20, 20, 10], total: 100, floor: 1e-4) == 0)
        // Everything in the missing cell: far above the 0.25 threshold.
        #expect(populationStabilityIndex(expected: expected, counts: [0, 0, 0, 0, 100], total: 100, floor: 1e-4) > 1)
    }

    @Test func theWindowSumsItsBucketsAndForgetsOldOnes() {
        let windows = FeatureDriftWindows(bucketSeconds: 10, bucketCount: 3, minimumRows: 10, warningIntervalSeconds: 60)
        // Batch A: the numeric column all in bin 0, categories all code 1; batch B: all missing.
        func batch(_ value: Float, rows: Int) -> DriftBatchCounts {
            var counts = DriftBatchCounts(label: "m@1", reference: Self.reference)
            let data = [Float](repeating: 0, count: rows * 3).enumerated().map { $0.offset % 3 == 1 ? 0 : value }
            data.withUnsafeBufferPointer { counts.count(rows: $0, rowCount: rows, width: 3) }
            return counts
        }
        windows.record(batch(0, rows: 30), nowSeconds: 1000)
        windows.record(batch(.nan, rows: 10), nowSeconds: 1015)
        var figures = windows.figures(nowSeconds: 1015)
        #expect(figures.count == 1 && figures[0].rows == 40)
        let n = figures[0].features[0]
        #expect(n.feature == "n" && abs(n.missingShare - 0.25) < 1e-12)
        #expect(abs(n.psi - Self.naivePSI([0.2, 0.3, 0.2, 0.2, 0.1], [30, 0, 0, 0, 10])) < 1e-12)
        let c = figures[0].features[1]
        #expect(abs(c.psi - Self.naivePSI([0.4, 0.3, 0.2, 0.05, 0.05], [30, 0, 0, 0, 10])) < 1e-12)

        // 30 s later the first bucket has left the window: only the missing batch remains, too few rows for a PSI.
        figures = windows.figures(nowSeconds: 1030)
        #expect(figures[0].rows == 10 && figures[0].features.count == 2)
        figures = windows.figures(nowSeconds: 1039)
        #expect(figures[0].rows == 10)
        #expect(windows.figures(nowSeconds: 1040).isEmpty)
        // A later batch reuses the slot of bucket 100 (1000 s): the old cells are gone.
        windows.record(batch(.nan, rows: 5), nowSeconds: 1030)
        #expect(windows.figures(nowSeconds: 1030)[0].rows == 15)
        #expect(windows.figures(nowSeconds: 1030)[0].features.allSatisfy { $0.missingShare == 1 })
    }

    @Test func warnsOnceAMinuteAboutDriftedFeaturesAndRendersGauges() {
        let windows = FeatureDriftWindows(bucketSeconds: 10, bucketCount: 3, minimumRows: 10, warningIntervalSeconds: 60)
        var counts = DriftBatchCounts(label: "m@1", reference: Self.reference)
        let rows = [Float](repeating: .nan, count: 100 * 3)
        rows.withUnsafeBufferPointer { counts.count(rows: $0, rowCount: 100, width: 3) }
        windows.record(counts, nowSeconds: 500)
        let warning = windows.warning(nowSeconds: 500)
        #expect(warning?.contains("m@1: n ") == true && warning?.contains(", c ") == true)
        #expect(windows.warning(nowSeconds: 530) == nil)
        #expect(windows.warning(nowSeconds: 561) == nil)  // the window has emptied by then
        var text: [UInt8] = []
        windows.render(into: &text)
        #expect(String(decoding: text, as: UTF8.self).isEmpty)
        windows.record(counts, nowSeconds: 600)
        #expect(windows.warning(nowSeconds: 600) != nil)
        // Figures as the window holds them (render reads the monotonic clock, so record at it).
        windows.record(counts, nowSeconds: FeatureDriftWindows.nowSeconds)
        windows.render(into: &text)
        let rendered = String(decoding: text, as: UTF8.self)
        #expect(rendered.contains("scorer_feature_missing_share{model=\"m@1\",feature=\"n\"} 1.0"))
        #expect(rendered.contains("scorer_feature_psi{model=\"m@1\",feature=\"c\"} "))
        #expect(rendered.contains("scorer_feature_drift_rows{model=\"m@1\"} "))
    }

    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
