/// The events a load test replays, held in memory and ready to be rendered for any replay pass.
///
/// Pass 0 sends each event exactly as read. Every later pass (`--loop`) gives each event a fresh id
/// (`<id>~<pass>`) and moves every date field forward by `pass × period` whole days, where the period
/// covers the data set's `timestamp` span, so replays never repeat an id and look like later traffic.
///
/// Events are stored in one contiguous byte arena; rendering writes into a caller-owned buffer, so
/// replaying allocates nothing per event.
public final class EventCatalog: Sendable {
    /// Number of events in one pass.
    public let count: Int
    /// Events without a usable `id` (not a JSON object, or no non-empty string `id`). They are sent
    /// as-is (they should be dead-lettered by the scorer) but cannot be matched to predictions.
    public let untrackedCount: Int
    /// Whole days each further pass shifts the dates by.
    public let periodDays: Int

    private let arena: [UInt8]
    /// Per event: where its bytes start in `arena`; `eventStarts[count]` is the arena's end.
    private let eventStarts: [Int]
    /// Per event: the id's content range relative to the event start, or `nil` when untracked.
    private let idRanges: [Range<Int>?]
    /// Per event: the range of `dateSlots` belonging to it.
    private let dateSlotStarts: [Int]
    /// Date fields: offset relative to the event start of the `YYYY-MM-DD` prefix, and its day.
    private let dateSlots: [(offset: Int, day: CivilDay)]
    private let indexByID: [String: Int]
    /// Per event: whether it led to an install (the test data's label), or `nil` when unknown.
    private let labels: [Bool?]
    /// Whether any event has a label (only then can `simulator --outcomes` replay outcomes).
    public let hasLabels: Bool

    /// Builds a catalog from raw events (each one UTF-8 JSON object).
    ///
    /// - Parameter labels: per event, whether it led to an install (`nil` when unknown); empty when
    ///   the source has no labels, otherwise as many as `events`.
    /// - Throws: `LoadSimulatorError.badSource` when there are no events, or when two events share an
    ///   id (predictions could not be told apart); the message names both positions.
    public init(events: [[UInt8]], labels: [Bool?] = []) throws(LoadSimulatorError) {
        guard !events.isEmpty else { throw .badSource("the event source holds no events") }
        guard labels.isEmpty || labels.count == events.count else {
            throw .badSource("\(labels.count) labels for \(events.count) events")
        }
        var arena: [UInt8] = []
        arena.reserveCapacity(events.reduce(0) { $0 + $1.count })
        var eventStarts: [Int] = []
        var idRanges: [Range<Int>?] = []
        var dateSlotStarts: [Int] = []
        var dateSlots: [(offset: Int, day: CivilDay)] = []
        var indexByID: [String: Int] = [:]
        var untracked = 0
        var firstTimestamp: CivilDay?
        var lastTimestamp: CivilDay?
        let idKey = Array("id".utf8)
        let timestampKey = Array("timestamp".utf8)

        for (position, event) in events.enumerated() {
            eventStarts.append(arena.count)
            dateSlotStarts.append(dateSlots.count)
            arena.append(contentsOf: event)
            let members = event.withUnsafeBufferPointer { JSONMemberScanner.members(of: $0) }
            guard let members else {
                idRanges.append(nil)
                untracked += 1
                continue
            }
            var idRange: Range<Int>?
            for member in members where member.valueIsString {
                let isID = event.withUnsafeBufferPointer { bytes in
                    member.key.count == idKey.count && zip(member.key, idKey).allSatisfy { bytes[$0] == $1 }
                }
                if isID {
                    if !member.value.isEmpty { idRange = member.value }
                    continue
                }
                let day = event.withUnsafeBufferPointer {
                    CivilDay(isoPrefixOf: $0, at: member.value.lowerBound, limit: member.value.upperBound)
                }
                guard let day else { continue }
                dateSlots.append((member.value.lowerBound, day))
                let isTimestamp = event.withUnsafeBufferPointer { bytes in
                    member.key.count == timestampKey.count
                        && zip(member.key, timestampKey).allSatisfy { bytes[$0] == $1 }
                }
                if isTimestamp {
                    firstTimestamp = min(firstTimestamp ?? day, day)
                    lastTimestamp = max(lastTimestamp ?? day, day)
                }
            }
            if let idRange {
                let id = String(decoding: event[idRange], as: UTF8.self)
                if let earlier = indexByID[id] {
                    throw .badSource(
                        "events \(earlier + 1) and \(position + 1) share the id \"\(id)\": ids must be unique so predictions can be matched to events"
                    )
                }
                indexByID[id] = position
            } else {
                untracked += 1
            }
            idRanges.append(idRange)
        }
        eventStarts.append(arena.count)
        dateSlotStarts.append(dateSlots.count)

        self.count = events.count
        self.untrackedCount = untracked
        if let firstTimestamp, let lastTimestamp {
            periodDays = lastTimestamp.daysSinceEpoch - firstTimestamp.daysSinceEpoch + 1
        } else {
            periodDays = 1
        }
        self.arena = arena
        self.eventStarts = eventStarts
        self.idRanges = idRanges
        self.dateSlotStarts = dateSlotStarts
        self.dateSlots = dateSlots
        self.indexByID = indexByID
        self.labels = labels.isEmpty ? Array(repeating: nil, count: events.count) : labels
        self.hasLabels = labels.contains { $0 != nil }
    }

    /// Whether event `index` led to an install, or `nil` when its label is unknown.
    public func label(_ index: Int) -> Bool? { labels[index] }

    /// The bytes of event `index` as read (pass 0).
    func event(_ index: Int) -> ArraySlice<UInt8> { arena[eventStarts[index]..<eventStarts[index + 1]] }

    /// Every event's label as given to `init` (empty when none has one).
    var givenLabels: [Bool?] { hasLabels ? labels : [] }

    // MARK: - Rendering

    /// Whether event `index` has an id (and so is tracked by the measurer).
    public func isTracked(_ index: Int) -> Bool { idRanges[index] != nil }

    /// Writes event `index` as sent in replay pass `pass` into `value` and its key (the id) into `key`.
    ///
    /// Both buffers are emptied first and keep their capacity. An untracked event gets an empty key.
    public func render(index: Int, pass: Int, value: inout [UInt8], key: inout [UInt8]) {
        value.removeAll(keepingCapacity: true)
        key.removeAll(keepingCapacity: true)
        let start = eventStarts[index]
        let end = eventStarts[index + 1]
        arena.withUnsafeBufferPointer { arena in
            guard pass > 0 else {
                value.append(contentsOf: arena[start..<end])
                if let id = idRanges[index] {
                    key.append(contentsOf: arena[(start + id.lowerBound)..<(start + id.upperBound)])
                }
                return
            }
            let shift = pass * periodDays
            var cursor = start
            var slot = dateSlotStarts[index]
            let slotEnd = dateSlotStarts[index + 1]
            let idEnd = idRanges[index].map { start + $0.upperBound }
            var idWritten = idEnd == nil
            while true {
                let nextDate = slot < slotEnd ? start + dateSlots[slot].offset : Int.max
                let nextID = idWritten ? Int.max : idEnd!
                if nextDate == Int.max && nextID == Int.max { break }
                if nextID < nextDate {
                    value.append(contentsOf: arena[cursor..<nextID])
                    appendPassSuffix(pass, to: &value)
                    cursor = nextID
                    idWritten = true
                } else {
                    value.append(contentsOf: arena[cursor..<nextDate])
                    CivilDay(daysSinceEpoch: dateSlots[slot].day.daysSinceEpoch + shift).appendISO(to: &value)
                    cursor = nextDate + 10
                    slot += 1
                }
            }
            value.append(contentsOf: arena[cursor..<end])
            if let id = idRanges[index] {
                key.append(contentsOf: arena[(start + id.lowerBound)..<(start + id.upperBound)])
                appendPassSuffix(pass, to: &key)
            }
        }
    }

    private func appendPassSuffix(_ pass: Int, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "~"))
        var digits: [UInt8] = []
        var rest = pass
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        buffer.append(contentsOf: digits.reversed())
    }

    // MARK: - Matching predictions

    /// The (event index, pass) an id seen in a prediction or dead letter belongs to, or `nil` for an id
    /// this catalog never produced.
    public func locate(id bytes: UnsafeBufferPointer<UInt8>) -> (index: Int, pass: Int)? {
        let whole = String(decoding: bytes, as: UTF8.self)
        if let index = indexByID[whole] { return (index, 0) }
        guard let tilde = bytes.lastIndex(of: UInt8(ascii: "~")), tilde + 1 < bytes.count else { return nil }
        var pass = 0
        for byte in bytes[(tilde + 1)...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), pass < Int.max / 10 - 9 else { return nil }
            pass = pass * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard pass > 0,
            let index = indexByID[String(decoding: UnsafeBufferPointer(rebasing: bytes[..<tilde]), as: UTF8.self)]
        else { return nil }
        return (index, pass)
    }
}
