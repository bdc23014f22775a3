public import Features

/// Which model answered an event under a canary split (`"variant"` in the prediction).
public enum Variant: String, Sendable, Hashable, CaseIterable {
    /// The primary model (all events when there is no canary).
    case primary
    /// The canary model, for the share of event ids the split sends it.
    case canary
}

/// Writes prediction messages in the DESIGN.md contract:
///
/// `{"id":"…","p":0.0123,"model":"install-v1@3f2a9c1e","scored_at":1700000000000,"event_ts":1700000000000}`,
/// plus `"variant"` (`"primary"` / `"canary"`) when a canary is configured, `"p_shadow"` with
/// `"shadow_model"` when a shadow model scored the event, and `"reasons"` when the caller passes an
/// explanation (``ReasonsEncoder``). The fields come in the order
/// id, p, model, variant, p_shadow, shadow_model, reasons, scored_at, event_ts.
///
/// `p` is printed as the shortest decimal that reads back as the same Float32 (Swift's
/// `Float.description`, which fits in a small inline string: no heap allocation); a non-finite
/// probability, which the service never publishes (it dead-letters such an event), is written as
/// `null`. The id is copied from the event's own JSON string (already valid, escapes kept), so
/// ``write(event:info:p:variant:shadow:reasons:scoredAt:eventTimestamp:to:)`` allocates nothing: the
/// service writes a whole batch's predictions into one buffer. The service and `scorer score
/// --events` both use this encoder, so offline scoring prints exactly what the service publishes
/// (up to `scored_at`).
public struct PredictionEncoder: Sendable {
    /// The primary model's label (its identity, e.g. `install-v1@3f2a9c1e`).
    public let model: String
    /// The canary's label, when a canary split is configured (then every prediction has `variant`).
    public let canaryModel: String?
    /// The shadow's label, when a shadow model scores every event too.
    public let shadowModel: String?

    /// `,"model":"<primary>"` (and `,"variant":"primary"` with a canary).
    private let primaryFields: [UInt8]
    /// `,"model":"<canary>","variant":"canary"`.
    private let canaryFields: [UInt8]
    /// `,"shadow_model":"<shadow>"`.
    private let shadowModelField: [UInt8]

    private static let idPrefix = Array("{\"id\":".utf8)
    private static let pField = Array(",\"p\":".utf8)
    private static let scoredAtField = Array(",\"scored_at\":".utf8)
    private static let eventTimestampField = Array(",\"event_ts\":".utf8)
    private static let shadowField = Array(",\"p_shadow\":".utf8)
    private static let null = Array("null".utf8)
    private static let reasonsField = Array(",\"reasons\":".utf8)

    /// An encoder for predictions labelled `model`, optionally with a canary and a shadow.
    public init(model: String, canaryModel: String? = nil, shadowModel: String? = nil) {
        self.model = model
        self.canaryModel = canaryModel
        self.shadowModel = shadowModel
        func field(_ name: String, _ value: String) -> [UInt8] {
            var bytes = Array(",\"\(name)\":".utf8)
            appendJSONString(value.utf8, to: &bytes)
            return bytes
        }
        primaryFields = field("model", model) + (canaryModel == nil ? [] : field("variant", Variant.primary.rawValue))
        canaryFields = canaryModel.map { field("model", $0) + field("variant", Variant.canary.rawValue) } ?? []
        shadowModelField = shadowModel.map { field("shadow_model", $0) } ?? []
    }

    /// The most bytes ``write(event:info:p:variant:shadow:reasons:scoredAt:eventTimestamp:to:)`` can
    /// write for an event whose id (as it stands in the event) is `idLength` bytes long, with a
    /// reasons array of at most `reasonsCount` bytes.
    public func maxCount(idLength: Int, reasonsCount: Int = 0) -> Int {
        Self.idPrefix.count + idLength + 2 + tailBound + (reasonsCount > 0 ? Self.reasonsField.count + reasonsCount : 0)
    }

    /// Writes the prediction of an event whose id is taken from the event bytes (`info` from the
    /// featurizer) at `destination`, which has room for ``maxCount(idLength:)`` bytes; returns how
    /// many it wrote. The form for hot loops: plain stores through one pointer, no allocation.
    ///
    /// - Parameters:
    ///   - event: the event's bytes, as featurized.
    ///   - info: what the featurizer returned for it.
    ///   - p: the published probability (the canary's for a canary event).
    ///   - variant: which model gave `p` (written only when a canary is configured).
    ///   - shadow: the shadow model's probability, if it scored the event (written only when a
    ///     shadow is configured and the value is finite).
    ///   - reasons: the event's `"reasons"` array as JSON (``ReasonsEncoder``), or nil for none.
    ///   - scoredAt: milliseconds since the epoch when the event was scored.
    ///   - eventTimestamp: the input message's timestamp in ms (`null` when nil).
    public func write(
        event: UnsafeRawBufferPointer, info: EventInfo, p: Float, variant: Variant = .primary, shadow: Float? = nil,
        reasons: UnsafeRawBufferPointer? = nil, scoredAt: Int64, eventTimestamp: Int64?, to destination: UnsafeMutablePointer<UInt8>
    ) -> Int {
        var out = Writer(destination)
        writeHead(&out, event: event, info: info)
        writeTail(&out, p: p, variant: variant, shadow: shadow, reasons: reasons, scoredAt: scoredAt, eventTimestamp: eventTimestamp)
        return out.count
    }

    /// Encodes a prediction whose id is taken from the event bytes (`info` from the featurizer)
    /// into a new array (see ``write(event:info:p:variant:shadow:reasons:scoredAt:eventTimestamp:to:)``).
    public func encode(
        event: UnsafeRawBufferPointer, info: EventInfo, p: Float, variant: Variant = .primary, shadow: Float? = nil,
        scoredAt: Int64, eventTimestamp: Int64?
    ) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maxCount(idLength: info.idEnd - info.idStart)) { buffer, count in
            count = write(
                event: event, info: info, p: p, variant: variant, shadow: shadow, scoredAt: scoredAt,
                eventTimestamp: eventTimestamp, to: buffer.baseAddress!)
        }
    }

    /// Encodes a prediction for an id given as a string (escaped as JSON).
    public func encode(
        id: String, p: Float, variant: Variant = .primary, shadow: Float? = nil, scoredAt: Int64, eventTimestamp: Int64?
    ) -> [UInt8] {
        var escapedID: [UInt8] = []
        appendJSONString(id.utf8, to: &escapedID)
        return [UInt8](unsafeUninitializedCapacity: Self.idPrefix.count + escapedID.count + tailBound) { buffer, count in
            var out = Writer(buffer.baseAddress!)
            out.write(Self.idPrefix)
            out.write(escapedID)
            writeTail(&out, p: p, variant: variant, shadow: shadow, scoredAt: scoredAt, eventTimestamp: eventTimestamp)
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

    /// The most bytes ``writeTail`` can write.
    private var tailBound: Int {
        let number = 24  // a Float32's shortest digits or an Int64 in decimal, with sign and exponent
        return Self.pField.count + number + max(primaryFields.count, canaryFields.count)
            + Self.shadowField.count + number + shadowModelField.count
            + Self.scoredAtField.count + number + Self.eventTimestampField.count + number + 1
    }

    private func writeTail(
        _ out: inout Writer, p: Float, variant: Variant, shadow: Float?, reasons: UnsafeRawBufferPointer? = nil, scoredAt: Int64,
        eventTimestamp: Int64?
    ) {
        out.write(Self.pField)
        out.writeProbability(p)
        out.write(variant == .canary && canaryModel != nil ? canaryFields : primaryFields)
        if shadowModel != nil, let shadow, shadow.isFinite {
            out.write(Self.shadowField)
            out.writeProbability(shadow)
            out.write(shadowModelField)
        }
        if let reasons {
            out.write(Self.reasonsField)
            out.write(reasons)
        }
        out.write(Self.scoredAtField)
        out.writeDecimal(scoredAt)
        out.write(Self.eventTimestampField)
        if let eventTimestamp { out.writeDecimal(eventTimestamp) } else { out.write(Self.null) }
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
