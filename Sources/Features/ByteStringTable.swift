/// An immutable hash table from byte strings (UTF-8) to small integers, for allocation-free lookups
/// of JSON keys and category values straight from the event bytes.
///
/// Open addressing with linear probing over a power-of-two table at most half full; keys live in
/// one contiguous byte pool. `Dictionary<String, Int>` would need a `String` per lookup (an
/// allocation for anything over 15 bytes, such as a 24-character campaign id).
struct ByteStringTable: Sendable {
    private struct Slot: Sendable {
        var hash: UInt64 = 0
        var start: Int32 = 0
        var length: Int32 = -1  // -1 = empty slot
        var value: Int32 = 0
    }

    private let slots: [Slot]
    private let pool: [UInt8]
    private let mask: Int
    /// Number of keys.
    let count: Int

    /// Builds the table; the value of `keys[i]` is `i`. Keys must be distinct.
    init(keys: [[UInt8]]) {
        var capacity = 8
        while capacity < keys.count * 2 { capacity <<= 1 }
        var slots = [Slot](repeating: Slot(), count: capacity)
        var pool: [UInt8] = []
        for (index, key) in keys.enumerated() {
            let hash = key.withUnsafeBufferPointer { Self.hash($0.baseAddress, $0.count) }
            var i = Int(truncatingIfNeeded: hash) & (capacity - 1)
            while slots[i].length >= 0 { i = (i + 1) & (capacity - 1) }
            slots[i] = Slot(hash: hash, start: Int32(pool.count), length: Int32(key.count), value: Int32(index))
            pool.append(contentsOf: key)
        }
        self.slots = slots
        self.pool = pool
        self.mask = capacity - 1
        self.count = keys.count
    }

    /// The value of the key `bytes[0..<length]`, or nil if it is not in the table.
    @inline(__always)
    func lookup(_ bytes: UnsafePointer<UInt8>?, _ length: Int) -> Int? {
        let hash = Self.hash(bytes, length)
        return slots.withUnsafeBufferPointer { slots -> Int? in
            pool.withUnsafeBufferPointer { pool -> Int? in
                var i = Int(truncatingIfNeeded: hash) & mask
                while true {
                    let slot = slots[i]
                    if slot.length < 0 { return nil }
                    if slot.hash == hash, Int(slot.length) == length,
                        length == 0 || memcmpBytes(pool.baseAddress! + Int(slot.start), bytes!, length)
                    {
                        return Int(slot.value)
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    /// FNV-1a-style mixing of 8-byte words with a final avalanche. The tail is read as one
    /// overlapping word (or two 4-byte halves, or three bytes) instead of byte by byte: keys are
    /// mostly short (JSON field names, category values), and the byte loop was most of the hash.
    /// The length seeds the hash, so overlapping reads cannot make two lengths collide by design.
    @inline(__always)
    static func hash(_ bytes: UnsafePointer<UInt8>?, _ length: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(truncatingIfNeeded: length)
        guard let bytes, length > 0 else { return h &* 0x100_0000_01b3 }
        @inline(__always) func mix(_ word: UInt64) {
            h = (h ^ word) &* 0x100_0000_01b3
            h ^= h >> 29
        }
        let raw = UnsafeRawPointer(bytes)
        if length >= 8 {
            var i = 0
            while i + 8 < length {
                mix(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            mix(raw.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self))
        } else if length >= 4 {
            let low = UInt64(raw.loadUnaligned(as: UInt32.self))
            let high = UInt64(raw.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self))
            mix(low | high << 32)
        } else {
            mix(UInt64(bytes[0]) | UInt64(bytes[length >> 1]) << 8 | UInt64(bytes[length - 1]) << 16)
        }
        h ^= h >> 32
        h = h &* 0xd6e8_feb8_6659_fd93
        h ^= h >> 32
        return h
    }
}

@inline(__always)
func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    let a = UnsafeRawPointer(a), b = UnsafeRawPointer(b)
    if count >= 8 {
        var i = 0
        while i + 8 < count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        // The last 8 bytes, overlapping what was compared already.
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }
    var i = 0
    while i < count {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i += 1
    }
    return true
}
