/// A reader for UBJSON (Universal Binary JSON), XGBoost's default model format since 2.1.
///
/// No Swift library reads UBJSON, and XGBoost's writer uses only a small part of it: objects whose
/// keys are length-prefixed strings, strings, big-endian integers and float32, and "optimised"
/// containers (`[$d#L<count>` followed by raw float32s) for the per-node arrays. Typed numeric
/// arrays become `DocumentValue.floats` / `.integers` directly. Every length is checked against the
/// bytes left, so a truncated or hostile file is an error, never a crash or a huge allocation.
struct UBJSONReader {
    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    static func parse(_ bytes: [UInt8]) throws -> DocumentValue {
        var reader = UBJSONReader(bytes: bytes)
        let value = try reader.parseValue()
        while reader.position < bytes.count, bytes[reader.position] == UInt8(ascii: "N") { reader.position += 1 }
        guard reader.position == bytes.count else { throw ForestError.syntax("unexpected data after the UBJSON document", at: reader.position) }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private var remaining: Int { bytes.count - position }

    private mutating func readByte() throws -> UInt8 {
        guard position < bytes.count else { throw ForestError.syntax("unexpected end of UBJSON", at: position) }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func readBigEndian<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw ForestError.syntax("unexpected end of UBJSON", at: position) }
        var value: T = 0
        for index in 0..<size { value = value << 8 | T(truncatingIfNeeded: bytes[position + index]) }
        position += size
        return value
    }

    private mutating func parseValue() throws -> DocumentValue {
        var marker = try readByte()
        while marker == UInt8(ascii: "N") { marker = try readByte() }
        return try parseValue(marker: marker)
    }

    private mutating func parseValue(marker: UInt8) throws -> DocumentValue {
        switch marker {
        case UInt8(ascii: "Z"): return .null
        case UInt8(ascii: "T"): return .bool(true)
        case UInt8(ascii: "F"): return .bool(false)
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"):
            return .integer(try readInteger(marker: marker))
        case UInt8(ascii: "d"): return .real(Float(bitPattern: try readBigEndian(UInt32.self)))
        case UInt8(ascii: "D"): return .real(Float(Double(bitPattern: try readBigEndian(UInt64.self))))
        case UInt8(ascii: "C"): return .string(String(Character(Unicode.Scalar(try readByte()))))
        case UInt8(ascii: "S"): return .string(try readString())
        case UInt8(ascii: "H"):
            let start = position
            let text = try readString()
            if let integer = Int64(text) { return .integer(integer) }
            guard let real = Float(text) else { throw ForestError.syntax("invalid high-precision number", at: start) }
            return .real(real)
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "{"): return try parseObject()
        default: throw ForestError.syntax("unknown UBJSON marker 0x\(String(marker, radix: 16))", at: position - 1)
        }
    }

    private mutating func readInteger(marker: UInt8) throws -> Int64 {
        switch marker {
        case UInt8(ascii: "i"): return Int64(Int8(bitPattern: try readByte()))
        case UInt8(ascii: "U"): return Int64(try readByte())
        case UInt8(ascii: "I"): return Int64(try readBigEndian(Int16.self))
        case UInt8(ascii: "l"): return Int64(try readBigEndian(Int32.self))
        case UInt8(ascii: "L"): return try readBigEndian(Int64.self)
        default: throw ForestError.syntax("expected an integer marker, found 0x\(String(marker, radix: 16))", at: position - 1)
        }
    }

    private mutating func readLength() throws -> Int {
        let start = position
        let length = try readInteger(marker: try readByte())
        guard length >= 0, length <= Int64(bytes.count) else { throw ForestError.syntax("invalid length \(length)", at: start) }
        return Int(length)
    }

    private mutating func readString() throws -> String {
        let length = try readLength()
        guard remaining >= length else { throw ForestError.syntax("string runs past the end of the file", at: position) }
        defer { position += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= JSONReader.maximumDepth else { throw ForestError.syntax("nesting deeper than \(JSONReader.maximumDepth)", at: position) }
    }

    /// Reads the optional `$type` and `#count` header of an optimised container.
    private mutating func readContainerHeader() throws -> (type: UInt8?, count: Int?) {
        var type: UInt8?
        if position < bytes.count, bytes[position] == UInt8(ascii: "$") {
            position += 1
            type = try readByte()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "#") else {
                throw ForestError.syntax("a typed container needs a count", at: position)
            }
        }
        var count: Int?
        if position < bytes.count, bytes[position] == UInt8(ascii: "#") {
            position += 1
            count = try readLength()
        }
        return (type, count)
    }

    private static func payloadSize(of marker: UInt8) -> Int? {
        switch marker {
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "C"): 1
        case UInt8(ascii: "I"): 2
        case UInt8(ascii: "l"), UInt8(ascii: "d"): 4
        case UInt8(ascii: "L"), UInt8(ascii: "D"): 8
        case UInt8(ascii: "Z"), UInt8(ascii: "T"), UInt8(ascii: "F"): 0
        default: nil
        }
    }

    private mutating func checkCount(_ count: Int, type: UInt8?) throws {
        // Each element takes at least one byte, except typed null/true/false which take none.
        let minimumSize = type.flatMap(Self.payloadSize(of:)) ?? 1
        if minimumSize == 0 {
            guard count <= 1 << 24 else { throw ForestError.syntax("container of \(count) empty elements", at: position) }
        } else {
            guard count <= remaining / minimumSize else { throw ForestError.syntax("container of \(count) elements runs past the end of the file", at: position) }
        }
    }

    private mutating func parseArray() throws -> DocumentValue {
        try enterContainer()
        defer { depth -= 1 }
        let (type, count) = try readContainerHeader()
        if let count {
            try checkCount(count, type: type)
            if let type {
                switch type {
                case UInt8(ascii: "d"):
                    var values = [Float](repeating: 0, count: count)
                    for index in 0..<count { values[index] = Float(bitPattern: try readBigEndian(UInt32.self)) }
                    return .floats(values)
                case UInt8(ascii: "D"):
                    var values = [Float](repeating: 0, count: count)
                    for index in 0..<count { values[index] = Float(Double(bitPattern: try readBigEndian(UInt64.self))) }
                    return .floats(values)
                case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"):
                    var values = [Int64](repeating: 0, count: count)
                    for index in 0..<count { values[index] = try readInteger(marker: type) }
                    return .integers(values)
                default:
                    var items = [DocumentValue]()
                    items.reserveCapacity(count)
                    for _ in 0..<count { items.append(try parseValue(marker: type)) }
                    return .array(items)
                }
            }
            var items = [DocumentValue]()
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try parseValue()) }
            return .array(items)
        }
        var items = [DocumentValue]()
        while true {
            var marker = try readByte()
            while marker == UInt8(ascii: "N") { marker = try readByte() }
            if marker == UInt8(ascii: "]") { return .array(items) }
            items.append(try parseValue(marker: marker))
        }
    }

    private mutating func parseObject() throws -> DocumentValue {
        try enterContainer()
        defer { depth -= 1 }
        let (type, count) = try readContainerHeader()
        var members = [String: DocumentValue]()
        if let count {
            try checkCount(count, type: nil)
            for _ in 0..<count {
                let key = try readString()
                members[key] = try type.map { try parseValue(marker: $0) } ?? parseValue()
            }
            return .object(members)
        }
        while true {
            guard position < bytes.count else { throw ForestError.syntax("unexpected end of UBJSON inside an object", at: position) }
            if bytes[position] == UInt8(ascii: "N") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            let key = try readString()
            members[key] = try parseValue()
        }
    }
}
