/// Which events a canary answers: a sticky split by a hash of the event id.
///
/// An id goes to the canary when `FNV-1a-64(id bytes) mod 10,000 < percent × 100`, where the id
/// bytes are the id as it stands in the event's JSON (its UTF-8 text unless it holds escapes). The
/// rule depends on nothing but the id and the percentage, so every instance and restart sends the
/// same id to the same model (and any language can reproduce it), and raising the percentage only
/// moves ids from primary to canary.
public struct CanarySplit: Sendable, Hashable {
    /// The canary's share in basis points (0...10,000; 10 % = 1,000).
    public let basisPoints: Int

    /// A split giving the canary `percent` % of the ids (0...100, fractions of a basis point rounded).
    public init(percent: Double) {
        basisPoints = Int((min(max(percent, 0), 100) * 100).rounded())
    }

    /// Whether the event with these id bytes goes to the canary.
    @inline(__always)
    public func isCanary(id: UnsafeRawBufferPointer) -> Bool {
        Int(Self.fnv1a64(id) % 10_000) < basisPoints
    }

    /// Whether the event with this id (its UTF-8 text) goes to the canary.
    public func isCanary(id: String) -> Bool {
        var id = id
        return id.withUTF8 { isCanary(id: UnsafeRawBufferPointer($0)) }
    }

    /// The 64-bit FNV-1a hash of a string's UTF-8 bytes (what the split buckets by).
    public static func fnv1a64(of text: String) -> UInt64 {
        var text = text
        return text.withUTF8 { fnv1a64(UnsafeRawBufferPointer($0)) }
    }

    /// 64-bit FNV-1a: simple, fast on short ids, and easy to reproduce in any language.
    @inline(__always)
    static func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
