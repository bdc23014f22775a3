/// The predictions and outcomes of one partition number still waiting for their other half.
///
/// Keyed by impression id. Each id is held from its first message until `window` later (by the
/// partition's stream time): a prediction still without an outcome then counts as a negative; an
/// outcome still without a prediction is counted as unmatched. A joined id stays (as resolved)
/// until then too, so a duplicated prediction or outcome within the window is recognised and
/// counted once. At most `capacity` ids are held: beyond it the oldest is evicted (and counted).
struct JoinBuffer {
    enum Entry {
        case prediction(p: Double, model: Int)
        case outcome(installed: Bool)
        case resolved
    }

    /// What happened to an id's prediction: it is labelled (joined, or expired as a negative).
    struct Labelled {
        var p: Double
        var model: Int
        var installed: Bool
        var atMs: Int64
    }

    let windowMs: Int64
    let capacity: Int
    /// Outcomes that arrived before this time and expire unmatched are not counted: after a
    /// rebuild their prediction may be older than the rebuild start (see `OutcomeMonitor.unmatchedFromMs`).
    let unmatchedFromMs: Int64
    private var entries: [String: Entry] = [:]
    /// Ids in arrival order with their arrival time (each id once: an id leaves `entries` only here).
    private var order: [(id: String, arrivedMs: Int64)] = []
    private var head = 0
    /// The newest message time seen in this partition (either topic), or the idle clock.
    private(set) var streamTimeMs: Int64 = .min

    init(windowMs: Int64, capacity: Int, unmatchedFromMs: Int64 = .min) {
        self.windowMs = windowMs
        self.capacity = capacity
        self.unmatchedFromMs = unmatchedFromMs
    }

    var pendingCount: Int { entries.count }

    /// A prediction arrived at `atMs` (its message time): the stream time moves on (`emit` gets the
    /// predictions that expire), then `emit` gets this one's label if its outcome was already here.
    mutating func prediction(
        id: String, p: Double, model: Int, atMs: Int64, counters: inout JoinCounters, emit: (Labelled) -> Void
    ) {
        advance(to: atMs, counters: &counters, expired: emit)
        switch entries[id] {
        case .none:
            insert(id, .prediction(p: p, model: model), atMs: atMs, counters: &counters)
        case .outcome(let installed):
            entries[id] = .resolved
            counters.joined += 1
            emit(Labelled(p: p, model: model, installed: installed, atMs: streamTimeMs))
        case .prediction, .resolved:
            counters.duplicatePredictions += 1
        }
    }

    /// An outcome arrived at `atMs`: like ``prediction(id:p:model:atMs:counters:emit:)``, `emit`
    /// gets the expired predictions, then the label this outcome completes, if its prediction is here.
    mutating func outcome(id: String, installed: Bool, atMs: Int64, counters: inout JoinCounters, emit: (Labelled) -> Void) {
        advance(to: atMs, counters: &counters, expired: emit)
        switch entries[id] {
        case .none:
            insert(id, .outcome(installed: installed), atMs: atMs, counters: &counters)
        case .prediction(let p, let model):
            entries[id] = .resolved
            counters.joined += 1
            emit(Labelled(p: p, model: model, installed: installed, atMs: streamTimeMs))
        case .outcome, .resolved:
            counters.duplicateOutcomes += 1
        }
    }

    /// Moves the stream time forward (never back) and expires what the window has passed; calls
    /// `expired` with each prediction that expired as a negative.
    mutating func advance(to timeMs: Int64, counters: inout JoinCounters, expired: (Labelled) -> Void) {
        guard timeMs > streamTimeMs else { return }
        streamTimeMs = timeMs
        while head < order.count, order[head].arrivedMs <= timeMs - windowMs {
            let (id, arrived) = order[head]
            removeHead()
            switch entries.removeValue(forKey: id) {
            case .prediction(let p, let model):
                counters.expiredNegatives += 1
                expired(Labelled(p: p, model: model, installed: false, atMs: arrived + windowMs))
            case .outcome:
                if arrived >= unmatchedFromMs { counters.unmatchedOutcomes += 1 }
            case .resolved, .none:
                break
            }
        }
    }

    private mutating func insert(_ id: String, _ entry: Entry, atMs: Int64, counters: inout JoinCounters) {
        while entries.count >= capacity, head < order.count {
            let oldest = order[head].id
            removeHead()
            switch entries.removeValue(forKey: oldest) {
            case .prediction: counters.evictedPredictions += 1
            case .outcome: counters.evictedOutcomes += 1
            case .resolved, .none: counters.evictedResolved += 1
            }
        }
        entries[id] = entry
        order.append((id, atMs))
    }

    private mutating func removeHead() {
        head += 1
        if head >= 4096, head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

/// What the joins of one monitor have seen, over its lifetime.
public struct JoinCounters: Sendable, Hashable, Codable {
    /// Predictions joined with their outcome.
    public var joined = 0
    /// Predictions whose window expired without an outcome: counted as negatives.
    public var expiredNegatives = 0
    /// A prediction for an id already seen within the window (at-least-once redelivery): ignored.
    public var duplicatePredictions = 0
    /// A second outcome for an id within the window: ignored (the first one counts).
    public var duplicateOutcomes = 0
    /// Outcomes whose window expired with no prediction (late after the window, or never predicted).
    public var unmatchedOutcomes = 0
    /// Ids dropped because the buffer was full (the memory cap): predictions never labelled,
    /// outcomes never matched, and joined ids whose duplicates can no longer be recognised.
    public var evictedPredictions = 0
    public var evictedOutcomes = 0
    public var evictedResolved = 0
    /// Messages that are not a prediction or outcome this monitor understands.
    public var malformedPredictions = 0
    public var malformedOutcomes = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case joined, expiredNegatives = "expired_negatives", duplicatePredictions = "duplicate_predictions",
            duplicateOutcomes = "duplicate_outcomes", unmatchedOutcomes = "unmatched_outcomes",
            evictedPredictions = "evicted_predictions", evictedOutcomes = "evicted_outcomes",
            evictedResolved = "evicted_resolved", malformedPredictions = "malformed_predictions",
            malformedOutcomes = "malformed_outcomes"
    }

    mutating func add(_ other: JoinCounters) {
        joined += other.joined
        expiredNegatives += other.expiredNegatives
        duplicatePredictions += other.duplicatePredictions
        duplicateOutcomes += other.duplicateOutcomes
        unmatchedOutcomes += other.unmatchedOutcomes
        evictedPredictions += other.evictedPredictions
        evictedOutcomes += other.evictedOutcomes
        evictedResolved += other.evictedResolved
        malformedPredictions += other.malformedPredictions
        malformedOutcomes += other.malformedOutcomes
    }
}
