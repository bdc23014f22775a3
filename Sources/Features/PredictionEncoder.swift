/// Writes prediction messages in the DESIGN.md contract, into one reusable byte buffer:
///
/// `{"id":"…","p":0.0123,"model":"install-v1","scored_at":1700000000000,"event_ts":1700000000000}`
/// plus `"p_shadow"` when a shadow model scored the event and `"variant"` for a canary split.
///
/// `p` is printed as the shortest decimal that reads back as the same Float32 (Swift's
/// `Float.description`, which fits in a small inline string: no heap allocation); a non-finite
/// probability, which a valid model cannot produce, is written as `null`. The id is copied from the
/// event's own JSON string (already valid, escapes kept), so encoding allocates nothing once the
/// buffer has grown. The service and `scorer score --events` both use this encoder, so offline
/// scoring prints exactly what the service publishes (up to `scored_at`).
public struct PredictionEncoder: Sendable {
    /// The model name written in every prediction (e.g. "install-v1").
    public let modelName: String
    /// The last encoded message.
    public private(set) var bytes: [UInt8] = []
    private let modelField: [UInt8]

    public init(modelName: String) {
        self.modelName = modelName
        var field: [UInt8] = []
        appendJSONString(modelName.utf8, to: &field)
        modelField = Array(",\"model\":".utf8) + field + Array(",\"scored_at\":".utf8)
        bytes.reserveCapacity(256)
    }

    /// Encodes a prediction whose id is taken from the event bytes (`info` from the featurizer).
    ///
    /// - Parameters:
    ///   - event: the event's bytes, as featurized.
    ///   - info: what the featurizer returned for it.
    ///   - p: the probability.
    ///   - scoredAt: milliseconds since the epoch when the event was scored.
    ///   - eventTimestamp: the input message's timestamp in ms (`null` when nil).
    ///   - shadow: the shadow model's probability, if one is configured.
    ///   - variant: the canary variant name, if a split is configured.
    /// - Returns: the message bytes (valid until the next call).
    @discardableResult
    public mutating func encode(
        event: UnsafeRawBufferPointer, info: EventInfo, p: Float, scoredAt: Int64, eventTimestamp: Int64?,
        shadow: Float? = nil, variant: String? = nil
    ) -> [UInt8] {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: "{\"id\":\"".utf8)
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: event[info.idStart..<info.idEnd]))
        bytes.append(0x22)
        finish(p: p, scoredAt: scoredAt, eventTimestamp: eventTimestamp, shadow: shadow, variant: variant)
        return bytes
    }

    /// Encodes a prediction for an id given as a string (escaped as JSON).
    @discardableResult
    public mutating func encode(
        id: String, p: Float, scoredAt: Int64, eventTimestamp: Int64?, shadow: Float? = nil, variant: String? = nil
    ) -> [UInt8] {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: "{\"id\":".utf8)
        appendJSONString(id.utf8, to: &bytes)
        finish(p: p, scoredAt: scoredAt, eventTimestamp: eventTimestamp, shadow: shadow, variant: variant)
        return bytes
    }

    private mutating func finish(p: Float, scoredAt: Int64, eventTimestamp: Int64?, shadow: Float?, variant: String?) {
        bytes.append(contentsOf: ",\"p\":".utf8)
        appendProbability(p)
        bytes.append(contentsOf: modelField)
        appendInteger(scoredAt)
        bytes.append(contentsOf: ",\"event_ts\":".utf8)
        if let eventTimestamp { appendInteger(eventTimestamp) } else { bytes.append(contentsOf: "null".utf8) }
        if let shadow {
            bytes.append(contentsOf: ",\"p_shadow\":".utf8)
            appendProbability(shadow)
        }
        if let variant {
            bytes.append(contentsOf: ",\"variant\":".utf8)
            appendJSONString(variant.utf8, to: &bytes)
        }
        bytes.append(0x7D)
    }

    private mutating func appendProbability(_ p: Float) {
        guard p.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        var text = p.description  // shortest round-trip digits, e.g. "0.0123" or "1e-05"
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    private mutating func appendInteger(_ value: Int64) {
        if value < 0 { bytes.append(0x2D) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // up to 20 digits, least significant first
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[count] = UInt8(magnitude % 10) + 0x30
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for k in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[k]) }
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
