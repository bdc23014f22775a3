import Testing

@testable import Features

/// The table behind field-name and vocabulary look-ups: its hash reads short keys in overlapping
/// words, so these check every length around the word sizes and near misses in every byte.
@Suite struct ByteStringTableTests {
    /// Keys of every length 0...40 sharing long prefixes and suffixes.
    static let keys: [[UInt8]] = (0...40).flatMap { length -> [[UInt8]] in
        let base = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        var twin = base
        if length > 0 { twin[length / 2] = UInt8(ascii: "Z") }
        return length > 0 ? [base, twin] : [base]
    }

    @Test func everyKeyIsFoundWithItsValue() {
        let table = ByteStringTable(keys: Self.keys)
        #expect(table.count == Self.keys.count)
        for (index, key) in Self.keys.enumerated() {
            #expect(key.withUnsafeBufferPointer { table.lookup($0.baseAddress, $0.count) } == index, "\(String(decoding: key, as: UTF8.self))")
        }
    }

    @Test func nearMissesAreNotFound() {
        let table = ByteStringTable(keys: Self.keys)
        let known = Set(Self.keys)
        for key in Self.keys where !key.isEmpty {
            for position in key.indices {
                var changed = key
                changed[position] = UInt8(ascii: "#")
                #expect(changed.withUnsafeBufferPointer { table.lookup($0.baseAddress, $0.count) } == nil)
            }
            // One byte longer (present in memory after the key, as in an event) must not match.
            let longer = key + [UInt8(ascii: "!")]
            if !known.contains(longer) {
                #expect(longer.withUnsafeBufferPointer { table.lookup($0.baseAddress, $0.count) } == nil)
            }
            // A prefix read from the same memory is a different key unless it is one.
            let prefix = Array(key.dropLast())
            let found = key.withUnsafeBufferPointer { table.lookup($0.baseAddress, $0.count - 1) }
            #expect(found == Self.keys.firstIndex(of: prefix).flatMap { known.contains(prefix) ? $0 : nil })
        }
    }
}
