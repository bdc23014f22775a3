import Synchronization

/// What each serving model did with one micro-batch: events it answered (or shadowed), the sum of
/// their probabilities, a histogram of them, and its evaluation time.
struct VariantBatchStats: Sendable {
    struct Model: Sendable {
        var label: String
        var count = 0
        var sum: Double = 0
        /// Events per bucket of ``VariantStats/bucketBounds`` (`p <= bound`, the last one catching the rest).
        var buckets = [Int](repeating: 0, count: VariantStats.bucketBounds.count)
        var nanoseconds: Int64 = 0

        @inline(__always)
        mutating func record(_ p: Float) {
            count += 1
            sum += Double(p)
            var bucket = 0
            let last = VariantStats.bucketBounds.count - 1
            while bucket < last && p > VariantStats.bucketBounds[bucket] { bucket += 1 }
            buckets[bucket] += 1
        }

        mutating func reset(label: String) {
            self.label = label
            count = 0
            sum = 0
            for index in buckets.indices { buckets[index] = 0 }
            nanoseconds = 0
        }
    }

    var primary = Model(label: "")
    var shadow: Model?
    var canary: Model?

    mutating func reset(primary primaryLabel: String, shadow shadowLabel: String?, canary canaryLabel: String?) {
        primary.reset(label: primaryLabel)
        if let shadowLabel {
            if shadow == nil { shadow = Model(label: shadowLabel) } else { shadow!.reset(label: shadowLabel) }
        } else {
            shadow = nil
        }
        if let canaryLabel {
            if canary == nil { canary = Model(label: canaryLabel) } else { canary!.reset(label: canaryLabel) }
        } else {
            canary = nil
        }
    }
}

/// Per-variant totals since start, rendered as Prometheus text next to the service's registry:
/// a histogram of probabilities (`scorer_variant_p`), events and evaluation time per variant and
/// model. Kept by hand rather than through swift-metrics because a batch adds thousands of
/// observations at once, and a metrics `Recorder` takes one value (and one lock) per call.
final class VariantStats: Sendable {
    /// Upper bounds of the probability histogram's buckets.
    static let bucketBounds: [Float] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]

    struct Key: Hashable, Sendable, Comparable {
        var variant: String
        var model: String
        static func < (a: Key, b: Key) -> Bool { (a.variant, a.model) < (b.variant, b.model) }
    }

    struct Totals: Sendable {
        var count = 0
        var sum: Double = 0
        var buckets = [Int](repeating: 0, count: VariantStats.bucketBounds.count)
        var seconds: Double = 0
    }

    private let totals = Mutex<[Key: Totals]>([:])

    /// Adds one batch's figures.
    func record(_ batch: VariantBatchStats) {
        totals.withLock { totals in
            func add(_ model: VariantBatchStats.Model, as variant: String) {
                guard model.count > 0 || model.nanoseconds > 0 else { return }
                let key = Key(variant: variant, model: model.label)
                var entry = totals[key] ?? Totals()
                entry.count += model.count
                entry.sum += model.sum
                for index in entry.buckets.indices { entry.buckets[index] += model.buckets[index] }
                entry.seconds += Double(model.nanoseconds) / 1e9
                totals[key] = entry
            }
            add(batch.primary, as: "primary")
            if let shadow = batch.shadow { add(shadow, as: "shadow") }
            if let canary = batch.canary { add(canary, as: "canary") }
        }
    }

    /// The totals so far, by variant and model.
    var snapshot: [Key: Totals] { totals.withLock { $0 } }

    /// Prometheus text exposition of the totals.
    func render(into buffer: inout [UInt8]) {
        let snapshot = self.snapshot
        guard !snapshot.isEmpty else { return }
        var text = ""
        text += "# HELP scorer_variant_p Probabilities published (primary, canary) or computed (shadow), per variant and model.\n"
        text += "# TYPE scorer_variant_p histogram\n"
        for (key, entry) in snapshot.sorted(by: { $0.key < $1.key }) {
            let labels = "variant=\"\(key.variant)\",model=\"\(Self.escape(key.model))\""
            var cumulative = 0
            for (index, bound) in Self.bucketBounds.enumerated() {
                cumulative += entry.buckets[index]
                let le = index == Self.bucketBounds.count - 1 ? "+Inf" : "\(bound)"
                text += "scorer_variant_p_bucket{\(labels),le=\"\(le)\"} \(cumulative)\n"
            }
            text += "scorer_variant_p_sum{\(labels)} \(entry.sum)\n"
            text += "scorer_variant_p_count{\(labels)} \(entry.count)\n"
        }
        text += "# HELP scorer_variant_scoring_seconds_total Time spent evaluating each serving model.\n"
        text += "# TYPE scorer_variant_scoring_seconds_total counter\n"
        for (key, entry) in snapshot.sorted(by: { $0.key < $1.key }) {
            text += "scorer_variant_scoring_seconds_total{variant=\"\(key.variant)\",model=\"\(Self.escape(key.model))\"} \(entry.seconds)\n"
        }
        buffer.append(contentsOf: Array(text.utf8))
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
