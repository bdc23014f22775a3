import Kafka
import Synchronization

/// What was produced for an input record: a prediction or a dead letter.
enum OutputKind: UInt8, Sendable {
    case prediction
    case deadLetter
}

/// Tracks every input record from the moment its output is produced until the broker
/// acknowledges that output, and says which input offsets are safe to commit.
///
/// The at-least-once rule: the commit position of a partition only moves past an input offset
/// once the output of that record *and of every record consumed before it from the same
/// partition* has been acknowledged. Records are tracked per partition in consumption order; an
/// acknowledgement marks its entry, and the contiguous acknowledged prefix is retired, moving the
/// commit position to `offset + 1` of the last retired entry.
///
/// Each tracked record gets a `UInt64` token to pass as the producer's opaque value: the upper
/// 24 bits name the partition's *ledger* (a fresh one for every assignment, so late
/// acknowledgements from a previous assignment are recognised and ignored), the lower 40 bits its
/// sequence number within the ledger.
///
/// Thread safety: all state sits behind one mutex; `track` is called by the consuming thread and
/// `acknowledge` by the delivery thread. Every operation is O(1) amortised except the per-partition
/// listings, which are O(partitions).
final class OffsetTracker: Sendable {
    /// The result of acknowledging one token.
    struct Acknowledged: Sendable {
        var partition: TopicPartition
        var offset: Int64
        /// The input message's timestamp (ms since epoch), for end-to-end latency.
        var eventTimestampMs: Int64
        var kind: OutputKind
    }

    /// A delivery that failed for good: the ledger stops committing at this record.
    struct Failure: Sendable, Equatable {
        var partition: TopicPartition
        var offset: Int64
        var reason: String
    }

    private struct Entry {
        var offset: Int64
        var timestampMs: Int64
        var kind: OutputKind
        var acknowledged: Bool
    }

    private struct Ledger {
        let id: UInt32
        let partition: TopicPartition
        /// Live window: `entries[head...]`, in consumption order.
        var entries: [Entry] = []
        var head = 0
        /// Sequence number of `entries[head]`.
        var headSequence: UInt64 = 0
        /// Next offset to commit (last retired offset + 1); nil until something is retired.
        var commitPosition: Int64?
        /// The position last handed out for committing.
        var committedPosition: Int64?
        /// Set when a delivery failed; nothing at or after it is retired.
        var failed = false

        var inFlight: Int { entries.count - head }

        enum AcknowledgeOutcome {
            case acknowledged(TopicPartition, Entry)
            case failed(TopicPartition, Entry)
            case ignored
        }

        /// Appends an entry and returns its token.
        mutating func append(_ entry: Entry) -> UInt64 {
            let sequence = headSequence + UInt64(entries.count - head)
            entries.append(entry)
            return UInt64(id) << OffsetTracker.sequenceBits | (sequence & OffsetTracker.sequenceMask)
        }

        mutating func acknowledge(sequence: UInt64, failed failedDelivery: Bool) -> AcknowledgeOutcome {
            guard sequence >= headSequence else { return .ignored }
            let index = head + Int(sequence - headSequence)
            guard index < entries.count, !entries[index].acknowledged else { return .ignored }
            if failedDelivery {
                // Only the first failure of a ledger is reported; the ledger stops retiring.
                if failed { return .ignored }
                failed = true
                return .failed(partition, entries[index])
            }
            entries[index].acknowledged = true
            let entry = entries[index]
            retirePrefix()
            return .acknowledged(partition, entry)
        }

        mutating func retirePrefix() {
            guard !failed else { return }
            var retired: Int64?
            while head < entries.count, entries[head].acknowledged {
                retired = entries[head].offset
                head += 1
                headSequence += 1
            }
            if let retired {
                let next = retired + 1
                if commitPosition.map({ next > $0 }) ?? true { commitPosition = next }
            }
            // Reclaim the retired prefix once it dominates the buffer (amortised O(1)).
            if head >= 4096 && head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
        }
    }

    /// The open ledgers by id, in a table indexed by the id's low bits: `track` and the
    /// acknowledgements reach a ledger without hashing, which shows in a drain's profile
    /// (BENCHMARKS.md, "Service vs Python baseline"). Ids are chosen so that no two open
    /// ledgers share a slot; the table doubles when every slot in reach is taken.
    private struct LedgerTable {
        private(set) var slots: [Ledger?] = Array(repeating: nil, count: 64)

        private func slot(_ id: UInt32) -> Int { Int(id) & (slots.count - 1) }

        subscript(id: UInt32) -> Ledger? {
            let ledger = slots[slot(id)]
            return ledger?.id == id ? ledger : nil
        }

        /// Runs `body` on the ledger `id` in place; nil when no such ledger is open.
        mutating func update<R>(_ id: UInt32, _ body: (inout Ledger) -> R) -> R? {
            let index = slot(id)
            guard slots[index]?.id == id else { return nil }
            return body(&slots[index]!)
        }

        func isFree(_ id: UInt32) -> Bool { slots[slot(id)] == nil }

        mutating func insert(_ ledger: Ledger) {
            precondition(isFree(ledger.id), "ledger slot taken")
            slots[slot(ledger.id)] = ledger
        }

        mutating func remove(_ id: UInt32) -> Ledger? {
            guard let ledger = self[id] else { return nil }
            slots[slot(id)] = nil
            return ledger
        }

        /// Doubles the table. Ids that differ in their low bits still differ in more of them, so
        /// open ledgers never collide after growing.
        mutating func grow() {
            let old = slots
            slots = Array(repeating: nil, count: old.count * 2)
            for case let ledger? in old { slots[slot(ledger.id)] = ledger }
        }

        var ids: [UInt32] { slots.compactMap { $0?.id } }
    }

    private struct State {
        var ledgers = LedgerTable()
        var ledgerOfPartition: [TopicPartition: UInt32] = [:]
        var nextLedgerID: UInt32 = 1
        var inFlight = 0
        var failures: [Failure] = []
    }

    static let sequenceBits: UInt64 = 40
    static let sequenceMask: UInt64 = (1 << sequenceBits) - 1
    static let ledgerIDLimit: UInt32 = 1 << 24

    private let state = Mutex(State())

    init() {}

    // MARK: - Assignment

    /// Starts tracking `partitions` with fresh ledgers (called when they are assigned).
    ///
    /// A partition that is already tracked keeps its ledger.
    func assign(_ partitions: some Sequence<TopicPartition>) {
        state.withLock { state in
            for partition in partitions where state.ledgerOfPartition[partition] == nil {
                Self.openLedger(for: partition, in: &state)
            }
        }
    }

    /// Stops tracking `partitions` (called once their revocation has been handled).
    ///
    /// Acknowledgements still arriving for them are ignored afterwards.
    func remove(_ partitions: some Sequence<TopicPartition>) {
        state.withLock { state in
            for partition in partitions {
                guard let id = state.ledgerOfPartition.removeValue(forKey: partition),
                      let ledger = state.ledgers.remove(id) else { continue }
                state.inFlight -= ledger.inFlight
            }
        }
    }

    /// Whether `partition` is currently tracked (assigned to this consumer).
    func isTracked(_ partition: TopicPartition) -> Bool {
        state.withLock { $0.ledgerOfPartition[partition] != nil }
    }

    /// The partitions currently tracked, sorted.
    var trackedPartitions: [TopicPartition] {
        state.withLock { $0.ledgerOfPartition.keys.sorted() }
    }

    // MARK: - Tracking and acknowledging

    /// Records that the output for input `offset` of `partition` is about to be produced and
    /// returns the token to give the producer as the message's opaque value.
    ///
    /// - Important: Call in consumption order per partition and *before* producing, so the
    ///   acknowledgement cannot overtake the entry. An untracked partition gets a ledger.
    func track(_ partition: TopicPartition, offset: Int64, timestampMs: Int64, kind: OutputKind) -> UInt64 {
        state.withLock { state in
            let id = state.ledgerOfPartition[partition] ?? Self.openLedger(for: partition, in: &state)
            state.inFlight += 1
            return state.ledgers.update(id) { $0.append(Entry(offset: offset, timestampMs: timestampMs, kind: kind, acknowledged: false)) }!
        }
    }

    /// The ledger of `partition` (opened if the partition is not tracked yet), for ``track(ledger:offset:timestampMs:kind:)``.
    func ledger(for partition: TopicPartition) -> UInt32 {
        state.withLock { state in
            state.ledgerOfPartition[partition] ?? Self.openLedger(for: partition, in: &state)
        }
    }

    /// Like ``track(_:offset:timestampMs:kind:)`` for a ledger looked up once per run of messages
    /// of one partition (no hashing of the topic name per event).
    ///
    /// - Important: only valid while the partition stays tracked (between rebalances); a token of
    ///   a removed ledger is ignored when acknowledged.
    func track(ledger id: UInt32, offset: Int64, timestampMs: Int64, kind: OutputKind) -> UInt64 {
        state.withLock { state in
            let entry = Entry(offset: offset, timestampMs: timestampMs, kind: kind, acknowledged: false)
            guard let token = state.ledgers.update(id, { $0.append(entry) }) else {
                return UInt64(id) << Self.sequenceBits | Self.sequenceMask  // never acknowledged
            }
            state.inFlight += 1
            return token
        }
    }

    /// Marks the output behind `token` as acknowledged by the broker (or failed, with `failure`).
    ///
    /// - Returns: what was acknowledged, or nil for a token of a ledger that no longer exists
    ///   (its partition was revoked meanwhile) or that was already acknowledged.
    func acknowledge(_ token: UInt64, failure: String? = nil) -> Acknowledged? {
        let id = UInt32(truncatingIfNeeded: token >> Self.sequenceBits)
        let sequence = token & Self.sequenceMask
        return state.withLock { state -> Acknowledged? in
            // Mutated in place through the dictionary (no copy of the entries buffer).
            guard let outcome = state.ledgers.update(id, { $0.acknowledge(sequence: sequence, failed: failure != nil) }) else { return nil }
            switch outcome {
            case .acknowledged(let partition, let entry):
                state.inFlight -= 1
                return Acknowledged(partition: partition, offset: entry.offset, eventTimestampMs: entry.timestampMs, kind: entry.kind)
            case .failed(let partition, let entry):
                state.failures.append(Failure(partition: partition, offset: entry.offset, reason: failure ?? ""))
                return nil
            case .ignored:
                return nil
            }
        }
    }

    /// Marks the output behind `token` as failed for good: its ledger stops committing there.
    ///
    /// - Returns: false for a token of a ledger that no longer exists (its partition was revoked,
    ///   or rewound after an exactly-once abort) or that was already acknowledged.
    func fail(_ token: UInt64, reason: String) -> Bool {
        let id = UInt32(truncatingIfNeeded: token >> Self.sequenceBits)
        let sequence = token & Self.sequenceMask
        return state.withLock { state -> Bool in
            guard let outcome = state.ledgers.update(id, { $0.acknowledge(sequence: sequence, failed: true) }) else { return false }
            guard case .failed(let partition, let entry) = outcome else { return false }
            state.failures.append(Failure(partition: partition, offset: entry.offset, reason: reason))
            return true
        }
    }

    /// Marks the outputs behind `tokens` as acknowledged by the broker, under one lock (the
    /// delivery thread takes thousands of reports per poll; a lock round trip per report contended
    /// with the producing thread's `track`). Calls `body` with the kind and input timestamp of
    /// each output acknowledged now, while holding the tracker's lock: keep it short and never
    /// call the tracker from it. Tokens of removed ledgers or already acknowledged are skipped.
    func acknowledgeDelivered(_ tokens: [UInt64], _ body: (_ kind: OutputKind, _ eventTimestampMs: Int64) -> Void) {
        guard !tokens.isEmpty else { return }
        state.withLock { state in
            var acknowledged = 0
            for token in tokens {
                let id = UInt32(truncatingIfNeeded: token >> Self.sequenceBits)
                guard case .acknowledged(_, let entry)? = state.ledgers.update(id, { $0.acknowledge(sequence: token & Self.sequenceMask, failed: false) })
                else { continue }
                acknowledged += 1
                body(entry.kind, entry.timestampMs)
            }
            state.inFlight -= acknowledged
        }
    }

    /// Records that the output behind `token` is now of `kind` (an oversized prediction replaced
    /// by a dead letter), so its acknowledgement is counted as what was published.
    func reclassify(_ token: UInt64, as kind: OutputKind) {
        let id = UInt32(truncatingIfNeeded: token >> Self.sequenceBits)
        let sequence = token & Self.sequenceMask
        state.withLock { state in
            _ = state.ledgers.update(id) { ledger in
                guard sequence >= ledger.headSequence else { return }
                let index = ledger.head + Int(sequence - ledger.headSequence)
                if index < ledger.entries.count { ledger.entries[index].kind = kind }
            }
        }
    }

    // MARK: - Committing

    /// Commit positions that moved since the last call, and marks them as handed out.
    ///
    /// Each position is the next offset to read: every input before it has its output acknowledged.
    func takeCommitPositions() -> [(TopicPartition, Int64)] {
        state.withLock { state in
            var positions: [(TopicPartition, Int64)] = []
            for id in state.ledgers.ids {
                guard let ledger = state.ledgers[id], let position = ledger.commitPosition,
                      position != ledger.committedPosition else { continue }
                positions.append((ledger.partition, position))
                _ = state.ledgers.update(id) { $0.committedPosition = position }
            }
            return positions
        }
    }

    /// Makes ``takeCommitPositions()`` hand out every current position again, moved or not (after
    /// commits that the coordinator refused).
    func offerAllPositionsAgain() {
        state.withLock { state in
            for id in state.ledgers.ids { _ = state.ledgers.update(id) { $0.committedPosition = nil } }
        }
    }

    /// The current commit position of each of `partitions` that has one, whether or not it was
    /// handed out before (for the synchronous commit on revocation and shutdown).
    func commitPositions(of partitions: [TopicPartition]) -> [(TopicPartition, Int64)] {
        state.withLock { state in
            partitions.compactMap { partition in
                guard let id = state.ledgerOfPartition[partition],
                      let position = state.ledgers[id]?.commitPosition else { return nil }
                _ = state.ledgers.update(id) { $0.committedPosition = position }
                return (partition, position)
            }
        }
    }

    // MARK: - Inspection

    /// Outputs produced and not yet acknowledged, over all partitions.
    var inFlight: Int { state.withLock { $0.inFlight } }

    /// Outputs produced and not yet acknowledged for `partitions`.
    func inFlight(in partitions: [TopicPartition]) -> Int {
        state.withLock { state in
            partitions.reduce(0) { sum, partition in
                guard let id = state.ledgerOfPartition[partition], let ledger = state.ledgers[id] else { return sum }
                return sum + (ledger.failed ? 0 : ledger.inFlight)
            }
        }
    }

    /// Failed deliveries so far (each ledger reports its first failure only).
    var failures: [Failure] { state.withLock { $0.failures } }

    // MARK: - Internals

    @discardableResult
    private static func openLedger(for partition: TopicPartition, in state: inout State) -> UInt32 {
        func following(_ id: UInt32) -> UInt32 { id + 1 < ledgerIDLimit ? id + 1 : 1 }
        // The next id whose slot is free: ids stay unique among recent ledgers (a late
        // acknowledgement of a removed ledger never matches a newer one), just not consecutive.
        var id = state.nextLedgerID
        var tried = 0
        while !state.ledgers.isFree(id) {
            id = following(id)
            tried += 1
            if tried >= state.ledgers.slots.count {
                state.ledgers.grow()
                tried = 0
            }
        }
        state.nextLedgerID = following(id)
        state.ledgers.insert(Ledger(id: id, partition: partition))
        state.ledgerOfPartition[partition] = id
        return id
    }
}
