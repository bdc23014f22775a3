#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns raw impression events (JSON bytes) into rows of Float32 features, exactly as the training
/// pipeline (`models/train/featurize.py`) does, without allocating per event.
///
/// A featurizer owns scratch buffers, so it is not `Sendable`: give each thread or task its own
/// (``FeatureSpec`` is `Sendable`: make as many as needed). Rows use NaN for
/// missing values: an absent or null field, a zero divisor, an unparseable timestamp or version, or a
/// value that overflows Float32. Malformed events throw a ``FeatureError`` with a one-line reason.
///
/// ```swift
/// let featurizer = Featurizer(spec: bundle.spec)
/// var batch = FeatureBatch(featureCount: featurizer.featureCount)
/// for message in messages {
///     switch message.value.withUnsafeBytes({ batch.append($0, using: featurizer) }) {
///     case .success: break
///     case .failure(let error): deadLetter(message, reason: error.description)
///     }
/// }
/// let probabilities = try model.predict(batch.rows)
/// ```
public final class Featurizer {
    /// The spec this featurizer computes.
    public var spec: FeatureSpec { plan.spec }
    /// The number of Float32 values per row.
    public var featureCount: Int { plan.operations.count }

    let plan: FeaturePlan
    /// Where each field's value was seen in the current event (last occurrence wins, as in Python).
    private let slots: UnsafeMutablePointer<FieldSlot>
    /// Per-field number values and timestamps of the current event (NaN / `Int64.min` = missing).
    private let numbers: UnsafeMutablePointer<Double>
    private let timestamps: UnsafeMutablePointer<Int64>
    /// Unescaped string bytes, and NUL-terminated number text for `strtod` (max event size + 1).
    private let text: UnsafeMutablePointer<UInt8>
    private let textCapacity: Int
    private let stack: UnsafeMutablePointer<UInt8>

    /// Containers may nest this deep (the event object is level 1); deeper input is "not JSON".
    public static let maxDepth = 512

    /// Makes a featurizer for `spec` (compiles its lookup tables; reuse featurizers, do not make one
    /// per event).
    public convenience init(spec: FeatureSpec) {
        self.init(plan: FeaturePlan(spec: spec))
    }

    package init(plan: FeaturePlan) {
        self.plan = plan
        slots = .allocate(capacity: plan.fieldCount + 1)
        numbers = .allocate(capacity: plan.fieldCount)
        numbers.initialize(repeating: .nan, count: plan.fieldCount)
        timestamps = .allocate(capacity: plan.fieldCount)
        timestamps.initialize(repeating: .min, count: plan.fieldCount)
        textCapacity = plan.spec.maxEventBytes + 1
        text = .allocate(capacity: textCapacity)
        stack = .allocate(capacity: Self.maxDepth)
    }

    deinit {
        slots.deallocate()
        numbers.deallocate()
        timestamps.deallocate()
        text.deallocate()
        stack.deallocate()
    }

    // MARK: - One event

    /// Featurizes one event into `row` (``featureCount`` values).
    ///
    /// - Returns: where the event's id is and its timestamp.
    /// - Throws: ``FeatureError`` with code `tooLarge`, `notJSON`, `notObject`, `missingID` or
    ///   `wrongType` (checked in that order); `row` is then unspecified.
    public func featurize(_ event: UnsafeRawBufferPointer, into row: UnsafeMutablePointer<Float>) throws(FeatureError) -> EventInfo {
        let n = event.count
        guard n <= plan.spec.maxEventBytes else { throw .tooLarge(n, limit: plan.spec.maxEventBytes) }
        guard n > 0, let base = event.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw .notJSON("empty input", at: 0)
        }
        try scan(base, n)
        try checkTypes(base)
        return compute(base, into: row)
    }

    /// Featurizes one event into a new array (convenient, but allocates: use the pointer API or
    /// ``FeatureBatch`` in loops).
    public func featurize(_ event: some Collection<UInt8>) throws(FeatureError) -> (row: [Float], info: EventInfo) {
        var row = [Float](repeating: .nan, count: featureCount)
        let bytes = Array(event)
        let result = bytes.withUnsafeBytes { raw in
            row.withUnsafeMutableBufferPointer { out in
                Result { () throws(FeatureError) in try featurize(raw, into: out.baseAddress!) }
            }
        }
        return (row, try result.get())
    }

    // MARK: - Scanning

    /// Validates the whole event and records where each known field's (last) value is.
    @inline(__always)
    private func scan(_ base: UnsafePointer<UInt8>, _ n: Int) throws(FeatureError) {
        for k in 0...plan.fieldCount { slots[k] = FieldSlot() }
        var c = JSONCursor(p: base, n: n, i: 0, stack: stack, maxDepth: Self.maxDepth)
        let kind = try c.peekKind()
        guard kind == .object else {
            try c.skipValue(depth: 0)
            c.skipWhitespace()
            guard c.i == n else { throw c.fail("unexpected data after the value") }
            throw .notObject(kind.name)
        }
        c.i += 1
        c.skipWhitespace()
        if c.i < n, base[c.i] == JSONCursor.closeBrace {
            c.i += 1
        } else {
            while true {
                c.skipWhitespace()
                guard c.i < n, base[c.i] == JSONCursor.quote else { throw c.fail("expected a string key") }
                let key = try c.scanString()
                try c.expect(JSONCursor.colon, "':'")
                let field = lookupField(base, key)
                let valueKind = try c.peekKind()
                let start = c.i
                var slot = FieldSlot(kind: valueKind, start: Int32(start), end: 0, escaped: false)
                switch valueKind {
                case .string:
                    let s = try c.scanString()
                    slot.start = Int32(s.start)
                    slot.end = Int32(s.end)
                    slot.escaped = s.escaped
                case .number: _ = try c.scanNumber()
                case .boolean, .null: _ = try c.scanLiteral()
                default: try c.skipValue(depth: 1)
                }
                if valueKind != .string { slot.end = Int32(c.i) }
                if field >= 0 { slots[field] = slot }
                c.skipWhitespace()
                guard c.i < n else { throw c.fail("unterminated object") }
                if base[c.i] == JSONCursor.comma {
                    c.i += 1
                } else if base[c.i] == JSONCursor.closeBrace {
                    c.i += 1
                    break
                } else {
                    throw c.fail("expected ',' or '}'")
                }
            }
        }
        c.skipWhitespace()
        guard c.i == n else { throw c.fail("unexpected data after the object") }
    }

    @inline(__always)
    private func lookupField(_ base: UnsafePointer<UInt8>, _ key: (start: Int, end: Int, escaped: Bool)) -> Int {
        if key.escaped {
            let length = unescape(base + key.start, key.end - key.start, into: text)
            return plan.fieldTable.lookup(text, length) ?? -1
        }
        return plan.fieldTable.lookup(base + key.start, key.end - key.start) ?? -1
    }

    /// The id rule, then each field's JSON type, in the spec's field order.
    @inline(__always)
    private func checkTypes(_ base: UnsafePointer<UInt8>) throws(FeatureError) {
        let id = slots[plan.idSlot]
        switch id.kind {
        case .absent: throw .missingID(plan.spec.idField, "absent")
        case .null: throw .missingID(plan.spec.idField, "null")
        case .string where id.start == id.end: throw .missingID(plan.spec.idField, "empty")
        case .string: break
        default: throw .wrongType(plan.spec.idField, expected: "a string", found: id.kind.name)
        }
        for f in 0..<plan.fieldCount {
            let kind = slots[f].kind
            if kind != .absent, kind != .null, kind != plan.fieldTypes[f] {
                throw .wrongType(plan.spec.fields[f].name, expected: plan.fieldTypes[f].name, found: kind.name)
            }
        }
    }

    // MARK: - Computing the row

    @inline(__always)
    private func compute(_ base: UnsafePointer<UInt8>, into row: UnsafeMutablePointer<Float>) -> EventInfo {
        for f in plan.numberFields {
            let slot = slots[f]
            numbers[f] = slot.kind == .number ? parseNumber(base + Int(slot.start), Int(slot.end - slot.start)) : .nan
        }
        for f in plan.timestampFields {
            timestamps[f] = withString(base, slots[f]) { parseTimestampMillis($0, $1) } ?? .min
        }
        // Through buffer pointers: reading a vocabulary out of the array by value retained and
        // released its storage for every category feature of every event.
        plan.operations.withUnsafeBufferPointer { operations in
            plan.stringVocabularies.withUnsafeBufferPointer { stringVocabularies in
                plan.numberVocabularies.withUnsafeBufferPointer { numberVocabularies in
                    computeColumns(base, into: row, operations, stringVocabularies, numberVocabularies)
                }
            }
        }
        let id = slots[plan.idSlot]
        let t = timestamps[0]
        return EventInfo(idStart: Int(id.start), idEnd: Int(id.end), idEscaped: id.escaped, timestampMillis: t == .min ? nil : t)
    }

    /// One value per column of the spec, from the parsed fields.
    @inline(__always)
    private func computeColumns(
        _ base: UnsafePointer<UInt8>, into row: UnsafeMutablePointer<Float>, _ operations: UnsafeBufferPointer<FeaturePlan.Operation>,
        _ stringVocabularies: UnsafeBufferPointer<ByteStringTable>, _ numberVocabularies: UnsafeBufferPointer<ByteStringTable>
    ) {
        for k in operations.indices {
            var x = Double.nan
            switch operations[k] {
            case .number(let f):
                x = numbers[f]
            case .ratio(let a, let b):
                if numbers[b] != 0 { x = numbers[a] / numbers[b] }  // NaN (missing) propagates
            case .daysBetween(let a, let b):
                let from = timestamps[a], to = timestamps[b]
                if from != .min, to != .min { x = Double(to - from) / Double(millisPerDay) }
            case .hourOfDay(let f):
                let t = timestamps[f]
                if t != .min { x = Double(floorMod(t, millisPerDay) / millisPerHour) }
            case .dayOfWeek(let f):
                let t = timestamps[f]
                if t != .min { x = Double(floorMod(floorDiv(t, millisPerDay) + 3, 7)) }
            case .versionMajor(let f):
                x = withString(base, slots[f]) { versionMajor($0, $1) } ?? .nan
            case .stringCategory(let f, let table):
                let vocabulary = stringVocabularies.baseAddress! + table
                x = withString(base, slots[f]) { Double(vocabulary.pointee.lookup($0, $1) ?? vocabulary.pointee.count) } ?? .nan
            case .numberCategory(let f, let table):
                let value = numbers[f]
                if !value.isNaN {
                    var bits = (value == 0 ? 0.0 : value).bitPattern.littleEndian
                    let vocabulary = numberVocabularies.baseAddress! + table
                    x = withUnsafeBytes(of: &bits) { key in
                        Double(vocabulary.pointee.lookup(key.baseAddress!.assumingMemoryBound(to: UInt8.self), 8) ?? vocabulary.pointee.count)
                    }
                }
            }
            let value = Float(x)
            row[k] = value.isInfinite ? .nan : value
        }
    }

    /// Calls `body` with the decoded bytes of a string slot (unescaped into scratch if needed), or
    /// returns nil for a missing value.
    @inline(__always)
    private func withString<R>(_ base: UnsafePointer<UInt8>, _ slot: FieldSlot, _ body: (UnsafePointer<UInt8>, Int) -> R?) -> R? {
        guard slot.kind == .string else { return nil }
        let start = base + Int(slot.start), length = Int(slot.end - slot.start)
        if slot.escaped {
            return body(text, unescape(start, length, into: text))
        }
        return body(start, length)
    }

    /// Parses a validated JSON number like Python: integers exactly then rounded once to Double
    /// (so `-0` is +0.0), decimals correctly rounded (Clinger's fast path, else `strtod`).
    @inline(__always)
    private func parseNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double {
        if let fast = parseNumberFast(p, n) { return fast }
        // Rare: more than 19 significant digits or a large exponent. strtod is correctly rounded.
        memcpy(text, p, n)
        text[n] = 0
        // (An integer lexeme this long is never zero, so Python's "-0 is +0.0" rule cannot apply.)
        return text.withMemoryRebound(to: CChar.self, capacity: n + 1) { strtod($0, nil) }
    }
}

/// Where a field's value is in the event bytes.
struct FieldSlot {
    var kind: ValueKind = .absent
    var start: Int32 = 0
    var end: Int32 = 0
    var escaped = false
}

/// What the featurizer learned about an event besides its features.
public struct EventInfo: Sendable, Equatable {
    /// Byte offsets of the id's JSON string content (between the quotes, still escaped).
    public let idStart: Int, idEnd: Int
    /// Whether the id's content contains JSON escapes (then it differs from the decoded id).
    public let idEscaped: Bool
    /// The event's timestamp field in milliseconds since the epoch, if present and valid.
    public let timestampMillis: Int64?

    /// The decoded id (allocates a String; for logs and tests).
    public func id(in event: UnsafeRawBufferPointer) -> String {
        let base = event.baseAddress!.assumingMemoryBound(to: UInt8.self) + idStart
        let length = idEnd - idStart
        if !idEscaped { return String(decoding: UnsafeBufferPointer(start: base, count: length), as: UTF8.self) }
        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: max(length, 1))
        defer { scratch.deallocate() }
        let decoded = unescape(base, length, into: scratch)
        return String(decoding: UnsafeBufferPointer(start: scratch, count: decoded), as: UTF8.self)
    }
}
