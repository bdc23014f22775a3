import Foundation

/// A model as the predictions name it: its identity (`name@hash`) and the variant it served as.
public struct ModelKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var model: String
    public var variant: String

    public init(model: String, variant: String) {
        self.model = model
        self.variant = variant
    }

    public var description: String { "\(model) (\(variant))" }

    public static func < (lhs: ModelKey, rhs: ModelKey) -> Bool {
        (lhs.model, lhs.variant) < (rhs.model, rhs.variant)
    }
}

/// How the monitor joins and over which windows it reports.
public struct MonitorSettings: Sendable, Hashable {
    /// How long an id waits for its other half (by stream time) before a prediction counts as a
    /// negative and an outcome as unmatched.
    public var joinWindowMs: Int64
    /// The most ids held per partition number; beyond it the oldest are evicted (and counted).
    public var maxPendingPerPartition: Int
    /// The sliding windows metrics are reported over (each kept in 60 buckets).
    public var windowsMs: [Int64]

    /// How far back a rebuilt monitor reads: a label inside the longest window can come from a
    /// prediction up to one join window older than the window.
    public var rebuildSpanMs: Int64 { joinWindowMs + (windowsMs.max() ?? 0) }

    public init(joinWindowMs: Int64 = 3_600_000, maxPendingPerPartition: Int = 2_000_000,
                windowsMs: [Int64] = [300_000, 3_600_000]) {
        self.joinWindowMs = joinWindowMs
        self.maxPendingPerPartition = maxPendingPerPartition
        self.windowsMs = windowsMs
    }
}

/// Joins predictions with outcomes and keeps calibration metrics per model and variant.
///
/// One instance serves the partitions its consumer holds; partition number N of `predictions`
/// joins partition N of the outcomes topic (both are keyed by impression id with the same
/// partitioner). Everything here is derived from the two topics: a restarted monitor that reads
/// them again within the join window rebuilds the same state.
///
/// - Important: not thread-safe: one thread (the consumer's) feeds it and takes snapshots.
public final class OutcomeMonitor {
    public let settings: MonitorSettings
    private var buffers: [Int: JoinBuffer] = [:]
    public private(set) var counters = JoinCounters()
    private var models: [ModelKey] = []
    /// Per model: one sliding window per `settings.windowsMs`.
    private var windows: [[SlidingWindow]] = []
    /// Per model: every label since start (not windowed).
    private var lifetime: [Totals] = []
    /// Recently seen raw (model, variant) bytes and their model index: predictions repeat a few labels.
    private var modelCache: [(model: [UInt8], variant: [UInt8], index: Int)] = []

    /// Exact lifetime sums per model: what two monitors sharing the partitions add up to.
    public struct Totals: Sendable, Hashable {
        public var count = 0
        public var positives = 0
        public var sumP = 0.0
    }

    /// Outcomes that arrived before this time and find no prediction are not counted as unmatched.
    ///
    /// A monitor rebuilt from the topics starting at time S (``MonitorRunner``) reads outcomes
    /// whose predictions came before S; those arrive before S + the join window. They are not
    /// counted (an uninterrupted monitor joined them) rather than inflating the unmatched count at
    /// every restart.
    public let unmatchedFromMs: Int64

    public init(settings: MonitorSettings = MonitorSettings(), unmatchedFromMs: Int64 = .min) {
        self.settings = settings
        self.unmatchedFromMs = unmatchedFromMs
    }

    /// Ids held in the join buffers.
    public var pendingCount: Int { buffers.values.reduce(0) { $0 + $1.pendingCount } }

    // MARK: - Input

    /// Reads one prediction message: `{"id","p","model","variant"?,...}`, joined by its key (the
    /// impression id; the `id` field when the key is empty) at its timestamp (`scored_at` without one).
    public func prediction(partition: Int, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestampMs: Int64?) {
        var idRange: Range<Int>?, p: Double?, modelRange: Range<Int>?, variantRange: Range<Int>?, scoredAt: Double?
        let ok = FlatJSON.forEachMember(value) { member in
            if FlatJSON.equals(value, member.key, "p") {
                if !member.isString { p = FlatJSON.number(value, member.value) }
            } else if FlatJSON.equals(value, member.key, "id") {
                if member.isString { idRange = member.value }
            } else if FlatJSON.equals(value, member.key, "model") {
                if member.isString { modelRange = member.value }
            } else if FlatJSON.equals(value, member.key, "variant") {
                if member.isString { variantRange = member.value }
            } else if FlatJSON.equals(value, member.key, "scored_at") {
                if !member.isString { scoredAt = FlatJSON.number(value, member.value) }
            }
        }
        guard ok, let p, p >= 0, p <= 1, let modelRange, !modelRange.isEmpty,
            let time = timestampMs ?? scoredAt.map({ Int64($0) })
        else {
            counters.malformedPredictions += 1
            return
        }
        guard let id = Self.id(key: key, value: value, idRange: idRange) else {
            counters.malformedPredictions += 1
            return
        }
        let model = modelIndex(value, modelRange, variantRange)
        withBuffer(partition) { buffer, counters in
            buffer.prediction(id: id, p: p, model: model, atMs: time, counters: &counters, emit: record)
        }
    }

    /// Reads one outcome message: `{"id","installed":true|false,"ts"}`, joined by its key.
    public func outcome(partition: Int, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestampMs: Int64?) {
        var idRange: Range<Int>?, installed: Bool?, ts: Double?
        let ok = FlatJSON.forEachMember(value) { member in
            if FlatJSON.equals(value, member.key, "installed") {
                if FlatJSON.equals(value, member.value, "true") { installed = true }
                if FlatJSON.equals(value, member.value, "false") { installed = false }
            } else if FlatJSON.equals(value, member.key, "id") {
                if member.isString { idRange = member.value }
            } else if FlatJSON.equals(value, member.key, "ts") {
                if !member.isString { ts = FlatJSON.number(value, member.value) }
            }
        }
        guard ok, let installed, let time = timestampMs ?? ts.map({ Int64($0) }),
            let id = Self.id(key: key, value: value, idRange: idRange)
        else {
            counters.malformedOutcomes += 1
            return
        }
        withBuffer(partition) { buffer, counters in
            buffer.outcome(id: id, installed: installed, atMs: time, counters: &counters, emit: record)
        }
    }

    /// Moves every partition's stream time to at least `timeMs` (the wall clock, once the consumer
    /// has caught up), so predictions expire even when no more messages arrive.
    public func advance(toMs timeMs: Int64) {
        for partition in Array(buffers.keys) {
            withBuffer(partition) { buffer, counters in
                buffer.advance(to: timeMs, counters: &counters, expired: record)
            }
        }
    }

    /// Forgets a partition number's join state (its partitions were revoked: another member rebuilds it).
    public func dropPartition(_ partition: Int) {
        buffers[partition] = nil
    }

    private func withBuffer(_ partition: Int, _ body: (inout JoinBuffer, inout JoinCounters) -> Void) {
        var buffer = buffers.removeValue(forKey: partition)
            ?? JoinBuffer(windowMs: settings.joinWindowMs, capacity: settings.maxPendingPerPartition, unmatchedFromMs: unmatchedFromMs)
        body(&buffer, &counters)
        buffers[partition] = buffer
    }

    private func record(_ labelled: JoinBuffer.Labelled) {
        for index in windows[labelled.model].indices {
            windows[labelled.model][index].add(p: labelled.p, installed: labelled.installed, atMs: labelled.atMs)
        }
        lifetime[labelled.model].count += 1
        lifetime[labelled.model].sumP += labelled.p
        if labelled.installed { lifetime[labelled.model].positives += 1 }
    }

    private static func id(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, idRange: Range<Int>?) -> String? {
        if let key, !key.isEmpty { return String(decoding: key, as: UTF8.self) }
        guard let idRange, !idRange.isEmpty else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: value[idRange]), as: UTF8.self)
    }

    private func modelIndex(_ value: UnsafeRawBufferPointer, _ modelRange: Range<Int>, _ variantRange: Range<Int>?) -> Int {
        let variantCount = variantRange?.count ?? 0
        for entry in modelCache where entry.model.count == modelRange.count && entry.variant.count == variantCount {
            let modelMatches = entry.model.withUnsafeBytes { memcmp($0.baseAddress!, value.baseAddress! + modelRange.lowerBound, modelRange.count) == 0 }
            let variantMatches = variantRange.map { range in
                entry.variant.withUnsafeBytes { memcmp($0.baseAddress!, value.baseAddress! + range.lowerBound, range.count) == 0 }
            } ?? true
            if modelMatches && variantMatches { return entry.index }
        }
        let modelBytes = Array(value[modelRange])
        let variantBytes = variantRange.map { Array(value[$0]) } ?? []
        let key = ModelKey(
            model: String(decoding: modelBytes, as: UTF8.self),
            variant: variantBytes.isEmpty ? "primary" : String(decoding: variantBytes, as: UTF8.self))
        let index: Int
        if let known = models.firstIndex(of: key) {
            index = known
        } else {
            index = models.count
            models.append(key)
            windows.append(settings.windowsMs.map { SlidingWindow(lengthMs: $0) })
            lifetime.append(Totals())
        }
        if modelCache.count >= 64 { modelCache.removeFirst() }
        modelCache.append((modelBytes, variantBytes, index))
        return index
    }

    // MARK: - Output

    /// Every model's metrics over each window ending at `nowMs`, its lifetime totals, and the counters.
    public func snapshot(nowMs: Int64) -> MonitorSnapshot {
        let reports = models.indices.map { index in
            ModelReport(
                key: models[index],
                windows: zip(settings.windowsMs, windows[index]).map { length, window in
                    WindowReport(windowMs: length, stats: window.stats(nowMs: nowMs))
                },
                lifetime: lifetime[index])
        }.sorted { $0.key < $1.key }
        return MonitorSnapshot(timeMs: nowMs, counters: counters, pending: pendingCount, models: reports)
    }
}

/// What the monitor knows at one moment.
public struct MonitorSnapshot: Sendable {
    public var timeMs: Int64
    public var counters: JoinCounters
    /// Ids held in the join buffers.
    public var pending: Int
    public var models: [ModelReport]
}

/// One model's metrics.
public struct ModelReport: Sendable {
    public var key: ModelKey
    public var windows: [WindowReport]
    public var lifetime: OutcomeMonitor.Totals
}

/// Metrics over one sliding window.
public struct WindowReport: Sendable {
    public var windowMs: Int64
    public var stats: CalibrationStats

    /// The window's length as a label: `5m`, `1h`, `30s`.
    public var label: String { Self.label(windowMs) }

    public static func label(_ milliseconds: Int64) -> String {
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}
