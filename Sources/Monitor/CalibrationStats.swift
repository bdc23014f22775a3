import Foundation

/// Sums over a set of labelled predictions (p, installed), from which every reported metric follows.
///
/// Counts and sums are exact (Double sums of the same terms an offline computation adds); the AUC
/// and the decile table come from histograms of p over 2,000 bins of width 0.01 in log-odds
/// (p from 4.5e-5 to 0.99995; beyond, the end bins), pairs within one bin counting as ties.
public struct CalibrationStats: Sendable {
    public private(set) var count = 0
    public private(set) var positives = 0
    public private(set) var sumP = 0.0
    public private(set) var sumLogLoss = 0.0
    public private(set) var sumBrier = 0.0
    /// Per bin: negatives, positives, and the sum of p (for the decile table's mean p).
    private var negativeBins: [UInt32] = []
    private var positiveBins: [UInt32] = []
    private var binSumP: [Double] = []

    public static let binCount = 2000
    /// Probabilities are clipped to [eps, 1 - eps] for the log loss, as scikit-learn's log_loss did.
    public static let logLossEpsilon = 1e-15

    public init() {}

    /// The histogram bin of probability `p`.
    @inline(__always)
    static func bin(_ p: Double) -> Int {
        let clipped = min(max(p, 1e-12), 1 - 1e-12)
        let logit = log(clipped / (1 - clipped))
        return min(max(Int(((logit + 10) * 100).rounded(.down)), 0), binCount - 1)
    }

    /// Adds one labelled prediction.
    public mutating func add(p: Double, installed: Bool) {
        if negativeBins.isEmpty {
            negativeBins = Array(repeating: 0, count: Self.binCount)
            positiveBins = Array(repeating: 0, count: Self.binCount)
            binSumP = Array(repeating: 0, count: Self.binCount)
        }
        let y = installed ? 1.0 : 0.0
        count += 1
        sumP += p
        let clipped = min(max(p, Self.logLossEpsilon), 1 - Self.logLossEpsilon)
        sumLogLoss -= installed ? log(clipped) : log(1 - clipped)
        sumBrier += (p - y) * (p - y)
        let bin = Self.bin(p)
        binSumP[bin] += p
        if installed {
            positives += 1
            positiveBins[bin] += 1
        } else {
            negativeBins[bin] += 1
        }
    }

    /// Adds everything in `other`.
    public mutating func merge(_ other: CalibrationStats) {
        guard other.count > 0 else { return }
        if negativeBins.isEmpty {
            negativeBins = other.negativeBins
            positiveBins = other.positiveBins
            binSumP = other.binSumP
        } else {
            for bin in 0..<Self.binCount {
                negativeBins[bin] += other.negativeBins[bin]
                positiveBins[bin] += other.positiveBins[bin]
                binSumP[bin] += other.binSumP[bin]
            }
        }
        count += other.count
        positives += other.positives
        sumP += other.sumP
        sumLogLoss += other.sumLogLoss
        sumBrier += other.sumBrier
    }

    // MARK: - Metrics

    /// Mean predicted probability (NaN when empty).
    public var meanP: Double { count > 0 ? sumP / Double(count) : .nan }
    /// Observed install rate (NaN when empty).
    public var observedRate: Double { count > 0 ? Double(positives) / Double(count) : .nan }
    /// Mean p / observed rate: 1 is calibrated, above 1 over-predicts (infinite with no installs).
    public var calibrationRatio: Double { count > 0 ? meanP / observedRate : .nan }
    public var logLoss: Double { count > 0 ? sumLogLoss / Double(count) : .nan }
    public var brier: Double { count > 0 ? sumBrier / Double(count) : .nan }

    /// The area under the ROC curve from the histograms (NaN without both classes).
    public var auc: Double {
        let negatives = count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        var below = 0.0
        var area = 0.0
        for bin in 0..<Self.binCount {
            let pos = Double(positiveBins[bin]), neg = Double(negativeBins[bin])
            area += pos * (below + neg / 2)
            below += neg
        }
        return area / (Double(positives) * Double(negatives))
    }

    /// One row of the reliability table: a tenth of the predictions by p, their mean p and rate.
    public struct Decile: Sendable, Hashable, Codable {
        public var count: Int
        public var meanP: Double
        public var observedRate: Double
        enum CodingKeys: String, CodingKey { case count, meanP = "mean_p", observedRate = "rate" }
    }

    /// The reliability table: predictions sorted by p, cut into ten groups of (nearly) equal size at
    /// histogram bin edges (a bin is never split).
    public var deciles: [Decile] {
        guard count > 0 else { return [] }
        var rows = Array(repeating: (count: 0, sumP: 0.0, positives: 0), count: 10)
        var before = 0
        for bin in 0..<Self.binCount {
            let inBin = Int(positiveBins[bin] + negativeBins[bin])
            guard inBin > 0 else { continue }
            let decile = min(9, (before + inBin / 2) * 10 / count)
            rows[decile].count += inBin
            rows[decile].sumP += binSumP[bin]
            rows[decile].positives += Int(positiveBins[bin])
            before += inBin
        }
        return rows.map { row in
            Decile(count: row.count, meanP: row.count > 0 ? row.sumP / Double(row.count) : .nan,
                   observedRate: row.count > 0 ? Double(row.positives) / Double(row.count) : .nan)
        }
    }
}
