/// Finds the members of a top-level JSON object without decoding it.
///
/// The simulator rewrites event ids and dates and reads ids out of predictions and dead letters at
/// thousands of messages per second; decoding whole documents for that would cost far more than the
/// scorer's work being measured. This scanner walks the bytes once, skipping nested values, and
/// reports byte ranges. It validates only as much structure as it walks over.
enum JSONMemberScanner {
    /// One member of an object: the raw bytes of its key (between the quotes, still escaped) and of its
    /// value (for a string: between the quotes, still escaped; otherwise the whole literal/container).
    struct Member: Equatable {
        var key: Range<Int>
        var value: Range<Int>
        var valueIsString: Bool
    }

    /// The members of the JSON object in `bytes`, or `nil` if `bytes` is not one JSON object.
    static func members(of bytes: UnsafeBufferPointer<UInt8>) -> [Member]? {
        var result: [Member] = []
        let complete = scan(bytes) { member in
            result.append(member)
            return true
        }
        return complete ? result : nil
    }

    /// The raw (still escaped) bytes of the top-level string member named `key`, or `nil` when the
    /// object has no such string member or `bytes` is not a JSON object.
    static func stringValue(named key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var found: Range<Int>?
        _ = scan(bytes) { member in
            if member.valueIsString, member.key.count == key.count,
                zip(member.key, key).allSatisfy({ bytes[$0] == $1 })
            {
                found = member.value
                return false
            }
            return true
        }
        return found
    }

    // MARK: - Scanning

    /// Walks the object, calling `visit` per member until it returns false. Returns whether the walk
    /// saw a well-formed object to its end (or was stopped by `visit`).
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>, visit: (Member) -> Bool) -> Bool {
        var index = skipSpace(bytes, 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return false }
        index = skipSpace(bytes, index + 1)
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            return skipSpace(bytes, index + 1) == bytes.count
        }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return false }
            guard let keyEnd = endOfString(bytes, from: index + 1) else { return false }
            let key = (index + 1)..<keyEnd
            index = skipSpace(bytes, keyEnd + 1)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
            index = skipSpace(bytes, index + 1)
            guard index < bytes.count else { return false }
            let member: Member
            if bytes[index] == UInt8(ascii: "\"") {
                guard let valueEnd = endOfString(bytes, from: index + 1) else { return false }
                member = Member(key: key, value: (index + 1)..<valueEnd, valueIsString: true)
                index = valueEnd + 1
            } else {
                guard let valueEnd = endOfValue(bytes, from: index) else { return false }
                member = Member(key: key, value: index..<valueEnd, valueIsString: false)
                index = valueEnd
            }
            if !visit(member) { return true }
            index = skipSpace(bytes, index)
            guard index < bytes.count else { return false }
            if bytes[index] == UInt8(ascii: ",") {
                index = skipSpace(bytes, index + 1)
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { return false }
            return skipSpace(bytes, index + 1) == bytes.count
        }
    }

    private static func skipSpace(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return index
            }
        }
        return index
    }

    /// Index of the closing quote of a string whose content starts at `start`.
    private static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index
            case UInt8(ascii: "\\"): index += 2
            case 0..<0x20: return nil
            default: index += 1
            }
        }
        return nil
    }

    /// End (exclusive) of a non-string value starting at `start`: a container, number or literal.
    private static func endOfValue(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let first = bytes[start]
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            var depth = 0
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let end = endOfString(bytes, from: index + 1) else { return nil }
                    index = end
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default:
                    break
                }
                index += 1
            }
            return nil
        }
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                return index > start ? index : nil
            default:
                index += 1
            }
        }
        return index > start ? index : nil
    }
}

extension JSONMemberScanner {
    /// The top-level member named `key` read as an integer (a JSON number without fraction or exponent),
    /// or `nil` when absent or not such a number.
    static func integerValue(named key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let members = members(of: bytes) else { return nil }
        for member in members where !member.valueIsString && member.key.count == key.count {
            guard zip(member.key, key).allSatisfy({ bytes[$0] == $1 }) else { continue }
            var value: Int64 = 0
            var negative = false
            for position in member.value {
                let byte = bytes[position]
                if position == member.value.lowerBound, byte == UInt8(ascii: "-") {
                    negative = true
                    continue
                }
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), value < Int64.max / 10 - 9 else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return negative ? -value : value
        }
        return nil
    }
}
