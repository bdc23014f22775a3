import Foundation
@testable import Monitor

/// A seeded generator, so every run tests the same data.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A labelled prediction as the tests generate it.
struct Sample {
    var id: String
    var p: Double
    var installed: Bool
    var model: String
    var variant: String
}

/// `count` samples whose labels follow their p (a calibrated model) scaled by `bias` for the
/// canary: its p is `bias` times the true probability.
func makeSamples(_ count: Int, seed: UInt64) -> [Sample] {
    var random = SplitMix64(state: seed)
    return (0..<count).map { index in
        let truth = exp(Double.random(in: -6 ... -1, using: &random))
        let installed = Double.random(in: 0..<1, using: &random) < truth
        let canary = index % 4 == 0
        let p = canary ? min(0.999, truth * 8) : truth
        return Sample(id: "imp\(index)", p: p, installed: installed,
                      model: canary ? "biased@00ff00ff" : "install-v1@3f2a9c1e", variant: canary ? "canary" : "primary")
    }
}

func predictionJSON(_ sample: Sample, scoredAt: Int64) -> [UInt8] {
    Array(#"{"id":"\#(sample.id)","p":\#(Float(sample.p)),"model":"\#(sample.model)","variant":"\#(sample.variant)","scored_at":\#(scoredAt),"event_ts":\#(scoredAt)}"#.utf8)
}

func outcomeJSON(id: String, installed: Bool, ts: Int64) -> [UInt8] {
    Array(#"{"id":"\#(id)","installed":\#(installed),"ts":\#(ts)}"#.utf8)
}

extension OutcomeMonitor {
    func prediction(_ sample: Sample, partition: Int = 0, atMs: Int64) {
        let value = predictionJSON(sample, scoredAt: atMs)
        let key = Array(sample.id.utf8)
        key.withUnsafeBytes { key in
            value.withUnsafeBytes { value in prediction(partition: partition, key: key, value: value, timestampMs: atMs) }
        }
    }

    func outcome(id: String, installed: Bool, partition: Int = 0, atMs: Int64) {
        let value = outcomeJSON(id: id, installed: installed, ts: atMs)
        let key = Array(id.utf8)
        key.withUnsafeBytes { key in
            value.withUnsafeBytes { value in outcome(partition: partition, key: key, value: value, timestampMs: atMs) }
        }
    }
}

/// The metrics computed offline, the plain way, from the joined set.
struct OfflineMetrics {
    var count: Int
    var positives: Int
    var meanP: Double
    var rate: Double
    var logLoss: Double
    var brier: Double
    var auc: Double

    init(_ pairs: [(p: Double, installed: Bool)]) {
        count = pairs.count
        positives = pairs.filter(\.installed).count
        meanP = pairs.map(\.p).reduce(0, +) / Double(count)
        rate = Double(positives) / Double(count)
        logLoss = pairs.map { pair in
            let p = min(max(pair.p, 1e-15), 1 - 1e-15)
            return pair.installed ? -log(p) : -log(1 - p)
        }.reduce(0, +) / Double(count)
        brier = pairs.map { ($0.p - ($0.installed ? 1 : 0)) * ($0.p - ($0.installed ? 1 : 0)) }.reduce(0, +) / Double(count)
        // Exact AUC: the Mann-Whitney statistic with tied p counting a half.
        let sorted = pairs.sorted { $0.p < $1.p }
        var rankSum = 0.0
        var index = 0
        while index < sorted.count {
            var end = index
            while end + 1 < sorted.count, sorted[end + 1].p == sorted[index].p { end += 1 }
            let rank = Double(index + end) / 2 + 1
            for position in index...end where sorted[position].installed { rankSum += rank }
            index = end + 1
        }
        let negatives = Double(count - positives)
        auc = (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * negatives)
    }
}

/// The p a prediction message carries for `p` (Float32 printed shortest, read back as a Double).
func publishedP(_ p: Double) -> Double { Double("\(Float(p))")! }
