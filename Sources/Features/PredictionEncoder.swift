/// Writes prediction messages in the DESIGN.md contract:
///
/// `{"id":"…","p":0.0123,"model":"install-v1","scored_at":1700000000000,"event_ts":1700000000000}`
/// plus `"p_shadow"` when a shadow model scored the event and `"variant"` for a canary split.
///
/// `p` is printed as the shortest decimal that reads back as the same Float32 (Swift's
/// `Float.description`, which fits in a small inline string: no heap allocation); a non-finite
/// probability, which a valid model cannot produce, is written as `null`. The id is copied from the
/// event's own JSON string (already valid, escapes kept), so ``write(event:info:p:scoredAt:eventTimestamp:to:)``
/// allocates nothing: the service writes a whole batch's predictions into one buffer. The service
/// and `scorer score --events` both use this encoder, so offline scoring prints exactly what the
/// service publishes (up to `scored_at`).
public struct PredictionEncoder: Sendable {
    /// The model name written in every prediction (e.g. "install-v1").
    public let modelName: String
    private let modelField: [UInt8]

    private static let idPrefix = Array("{\"id\":".utf8)
    private static let pField = Array(",\"p\":".utf8)
    private static let eventTimestampField = Array(",\"event_ts\":".utf8)
    private static let shadowField = Array(",\"p_shadow\":".utf8)
    private static let variantField = Array(",\"variant\":".utf8)
    private static let null = Array("null".utf8)

    public init(modelName: String) {
        self.modelName = modelName
        var field: [UInt8] = []
        appendJSONString(modelName.utf8, to: &field)
        modelField = Array(",\"model\":".utf8) + field + Array(",\"scored_at\":".utf8)
    }

    /// The most bytes ``write(event:info:p:scoredAt:eventTimestamp:to:)`` can write for an event
    /// whose id (as it stands in the event) is `idLength` bytes long.
    public func maxCount(idLength: Int) -> Int {
        Self.idPrefix.count + idLength + 2 + tailBound(shadow: nil, variant: nil)
    }

    /// Writes the prediction of an event whose id is taken from the event bytes (`info` from the
    /// featurizer) at `destination`, which has room for ``maxCount(idLength:)`` bytes; returns
    /// how many it wrote. The form for hot loops: plain stores through one pointer, no
    /// allocation (appending to an array byte by byte, with its uniqueness and capacity checks,
    /// was about a tenth of the scoring thread's time in `benchmarks/service_vs_python.sh`'s drain).
    ///
    /// - Parameters:
    ///   - event: the event's bytes, as featurized.
    ///   - info: what the featurizer returned for it.
    ///   - p: the probability.
    ///   - scoredAt: milliseconds since the epoch when the event was scored.
    ///   - eventTimestamp: the input message's timestamp in ms (`null` when nil).
    public func write(
        event: UnsafeRawBufferPointer, info: EventInfo, p: Float, scoredAt: Int64, eventTimestamp: Int64?,
        to destination: UnsafeMutablePointer<UInt8>
    ) -> Int {
        var out = Writer(destination)
        writeHead(&out, event: event, info: info)
        writeTail(&out, p: p, scoredAt: scoredAt, eventTimestamp: eventTimestamp, shadow: nil, variant: nil)
        return out.count
    }

    /// Encodes a prediction whose id is taken from the event bytes (`info` from the featurizer):
    /// ``write(event:info:p:scoredAt:eventTimestamp:to:)`` into a new array, plus the optional
    /// shadow probability and canary variant.
    public func encode(
        event: UnsafeRawBufferPointer, info: EventInfo, p: Float, scoredAt: Int64, eventTimestamp: Int64?,
        shadow: Float? = nil, variant: String? = nil
    ) -> [UInt8] {
        let escapedVariant: [UInt8]? = variant.map { var out: [UInt8] = []; appendJSONString($0.utf8, to: &out); return out }
        let bound = Self.idPrefix.count + (info.idEnd - info.idStart) + 2 + tailBound(shadow: shadow, variant: escapedVariant)
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var out = Writer(buffer.baseAddress!)
            writeHead(&out, event: event, info: info)
            writeTail(&out, p: p, scoredAt: scoredAt, eventTimestamp: eventTimestamp, shadow: shadow, variant: escapedVariant)
            count = out.count
        }
    }

    /// `{"id":"<the id as it stands in the event>"`: already a valid JSON string body.
    private func writeHead(_ out: inout Writer, event: UnsafeRawBufferPointer, info: EventInfo) {
        out.write(Self.idPrefix)
        out.write(0x22)
        out.write(UnsafeRawBufferPointer(rebasing: event[info.idStart..<info.idEnd]))
        out.write(0x22)
    }

    /// Encodes a prediction for an id given as a string (escaped as JSON).
    public func encode(
        id: String, p: Float, scoredAt: Int64, eventTimestamp: Int64?, shadow: Float? = nil, variant: String? = nil
    ) -> [UInt8] {
        var escapedID: [UInt8] = []
        appendJSONString(id.utf8, to: &escapedID)
        let escapedVariant: [UInt8]? = variant.map { var out: [UInt8] = []; appendJSONString($0.utf8, to: &out); return out }
        let bound = Self.idPrefix.count + escapedID.count + tailBound(shadow: shadow, variant: escapedVariant)
        return [UInt8](unsafeUninitializedCapacity: bound) { buffer, count in
            var out = Writer(buffer.baseAddress!)
            out.write(Self.idPrefix)
            out.write(escapedID)
            writeTail(&out, p: p, scoredAt: scoredAt, eventTimestamp: eventTimestamp, shadow: shadow, variant: escapedVariant)
            count = out.count
        }
    }

    /// The most bytes ``writeTail`` can write.
    private func tailBound(shadow: Float?, variant: [UInt8]?) -> Int {
        let number = 24  // a Float32's shortest digits or an Int64 in decimal, with sign and exponent
        var bound = Self.pField.count + number + modelField.count + number + Self.eventTimestampField.count + number + 1
        if shadow != nil { bound += Self.shadowField.count + number }
        if let variant { bound += Self.variantField.count + variant.count }
        return bound
    }

    private func writeTail(_ out: inout Writer, p: Float, scoredAt: Int64, eventTimestamp: Int64?, shadow: Float?, variant: [UInt8]?) {
        out.write(Self.pField)
        out.writeProbability(p)
        out.write(modelField)
        out.writeDecimal(scoredAt)
        out.write(Self.eventTimestampField)
        if let eventTimestamp { out.writeDecimal(eventTimestamp) } else { out.write(Self.null) }
        if let shadow {
            out.write(Self.shadowField)
            out.writeProbability(shadow)
        }
        if let variant {
            out.write(Self.variantField)
            out.write(variant)
        }
        out.write(0x7D)
    }

    /// Stores bytes at a cursor; the caller has made room for everything it writes.
    private struct Writer {
        let start: UnsafeMutablePointer<UInt8>
        var count = 0

        init(_ start: UnsafeMutablePointer<UInt8>) { self.start = start }

        mutating func write(_ byte: UInt8) {
            start[count] = byte
            count += 1
        }

        mutating func write(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            (start + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count)
            count += bytes.count
        }

        mutating func write(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { write($0) }
        }

        /// Shortest digits that read back as the same Float32 (`Float.description`, an inline
        /// string: no allocation); `null` for a non-finite value, which a valid model cannot produce.
        mutating func writeProbability(_ p: Float) {
            guard p.isFinite else { return write(PredictionEncoder.null) }
            var text = p.description  // e.g. "0.0123" or "1e-05"
            text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
        }

        /// `value` in decimal, as `String(value)` spells it.
        mutating func writeDecimal(_ value: Int64) {
            if value < 0 { write(0x2D) }
            var magnitude = value.magnitude
            var digits = 1
            var power: UInt64 = 10
            while digits < 20 && magnitude >= power {
                digits += 1
                power = power &* 10
            }
            var index = count + digits
            count = index
            repeat {
                index -= 1
                start[index] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 0x30
                magnitude /= 10
            } while magnitude > 0
        }
    }
}

/// Appends `text` as a JSON string with the escapes Python's `json.dumps(..., ensure_ascii=False)`
/// uses: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control characters as `\u00xx`.
func appendJSONString(_ text: some Collection<UInt8>, to out: inout [UInt8]) {
    out.append(0x22)
    for b in text {
        switch b {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: out.append(contentsOf: [0x5C, 0x72])
        case 0x09: out.append(contentsOf: [0x5C, 0x74])
        case 0x08: out.append(contentsOf: [0x5C, 0x62])
        case 0x0C: out.append(contentsOf: [0x5C, 0x66])
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
        default: out.append(b)
        }
    }
    out.append(0x22)
}
