/// Reads the members of one flat JSON object (predictions, outcomes) without building it.
///
/// Values that are objects or arrays are skipped. String values are returned as their raw bytes
/// between the quotes (escapes kept): the monitor only compares them (model labels, variants) and
/// joins on message keys, so it never needs them decoded.
enum FlatJSON {
    /// One member: the key's raw bytes and the value's range in the buffer.
    struct Member {
        var key: Range<Int>
        var value: Range<Int>
        var isString: Bool
    }

    /// Calls `body` with every member of the object in `bytes`; returns false when the bytes are
    /// not a JSON object as far as this scanner checks (it does not validate numbers or literals).
    static func forEachMember(_ bytes: UnsafeRawBufferPointer, _ body: (Member) -> Void) -> Bool {
        var index = 0
        let count = bytes.count
        @inline(__always) func skipSpace() {
            while index < count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
                index += 1
            }
        }
        /// Moves past a string starting at `index` (on its opening quote); returns its content range.
        func string() -> Range<Int>? {
            guard index < count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            index = start
            while index < count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") { index += 2; continue }
                if byte == UInt8(ascii: "\"") { index += 1; return start..<(index - 1) }
                index += 1
            }
            return nil
        }
        /// Moves past any value; returns its range (content range for strings).
        func value() -> (Range<Int>, Bool)? {
            guard index < count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                return string().map { ($0, true) }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let start = index
                var depth = 0
                while index < count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        guard string() != nil else { return nil }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { index += 1; return (start..<index, false) }
                    default: break
                    }
                    index += 1
                }
                return nil
            default:
                let start = index
                while index < count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == 0x20 || byte == 0x0A
                        || byte == 0x0D || byte == 0x09 { break }
                    index += 1
                }
                return index > start ? (start..<index, false) : nil
            }
        }

        skipSpace()
        guard index < count, bytes[index] == UInt8(ascii: "{") else { return false }
        index += 1
        skipSpace()
        if index < count, bytes[index] == UInt8(ascii: "}") { return true }
        while true {
            skipSpace()
            guard let key = string() else { return false }
            skipSpace()
            guard index < count, bytes[index] == UInt8(ascii: ":") else { return false }
            index += 1
            skipSpace()
            guard let (range, isString) = value() else { return false }
            body(Member(key: key, value: range, isString: isString))
            skipSpace()
            guard index < count else { return false }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            return bytes[index] == UInt8(ascii: "}")
        }
    }

    /// Whether the bytes in `range` equal `literal`.
    @inline(__always)
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let pointer = literal.utf8Start
        for offset in 0..<range.count where bytes[range.lowerBound + offset] != pointer[offset] { return false }
        return true
    }

    /// The number in `range`, or nil when it is not one.
    static func number(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Double? {
        guard range.count <= 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: range.count + 1) { buffer -> Double? in
            for offset in 0..<range.count { buffer[offset] = CChar(bitPattern: bytes[range.lowerBound + offset]) }
            buffer[range.count] = 0
            // Swift's Double(String) parser over the C string: no heap allocation for short text.
            return Double(String(cString: buffer.baseAddress!))
        }
    }
}
