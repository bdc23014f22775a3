/// A small JSON reader for XGBoost model files.
///
/// Hand-written rather than Foundation's `JSONSerialization` because model numbers must be parsed
/// directly to `Float` from their text (going through `Double` can round twice), integers must stay
/// exact, and a malformed file must produce an error with a byte offset rather than a crash.
struct JSONReader {
    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0
    /// Deeper nesting than this is rejected (XGBoost documents nest about 6 levels).
    static let maximumDepth = 256

    static func parse(_ bytes: [UInt8]) throws -> DocumentValue {
        var reader = JSONReader(bytes: bytes)
        // A UTF-8 byte order mark is harmless; skip it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { reader.position = 3 }
        let value = try reader.parseValue()
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw ForestError.syntax("unexpected data after the JSON document", at: reader.position) }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws -> DocumentValue {
        skipWhitespace()
        guard position < bytes.count else { throw ForestError.syntax("unexpected end of JSON", at: position) }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw ForestError.syntax("unexpected character '\(Character(Unicode.Scalar(bytes[position])))'", at: position)
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw ForestError.syntax("unexpected end of JSON", at: position) }
        let matches = literal.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw ForestError.syntax("invalid literal", at: position) }
        position += count
    }

    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw ForestError.syntax("nesting deeper than \(Self.maximumDepth)", at: position) }
    }

    private mutating func parseObject() throws -> DocumentValue {
        try enterContainer()
        defer { depth -= 1 }
        position += 1
        var members = [String: DocumentValue]()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw ForestError.syntax("expected a string key", at: position)
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw ForestError.syntax("expected ':'", at: position) }
            position += 1
            members[key] = try parseValue()
            skipWhitespace()
            guard position < bytes.count else { throw ForestError.syntax("unexpected end of JSON inside an object", at: position) }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw ForestError.syntax("expected ',' or '}'", at: position)
        }
    }

    private mutating func parseArray() throws -> DocumentValue {
        try enterContainer()
        defer { depth -= 1 }
        position += 1
        var items = [DocumentValue]()
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw ForestError.syntax("unexpected end of JSON inside an array", at: position) }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            throw ForestError.syntax("expected ',' or ']'", at: position)
        }
    }

    private mutating func parseString() throws -> String {
        let start = position
        position += 1
        var scalars = String.UnicodeScalarView()
        var runStart = position
        var plainRun = true
        var buffer = [UInt8]()
        while true {
            guard position < bytes.count else { throw ForestError.syntax("unterminated string", at: start) }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                if plainRun && buffer.isEmpty && scalars.isEmpty {
                    let text = String(decoding: bytes[runStart..<position], as: UTF8.self)
                    position += 1
                    return text
                }
                buffer.append(contentsOf: bytes[runStart..<position])
                position += 1
                scalars.append(contentsOf: String(decoding: buffer, as: UTF8.self).unicodeScalars)
                return String(scalars)
            }
            if byte < 0x20 { throw ForestError.syntax("control character in string", at: position) }
            if byte == UInt8(ascii: "\\") {
                plainRun = false
                buffer.append(contentsOf: bytes[runStart..<position])
                position += 1
                guard position < bytes.count else { throw ForestError.syntax("unterminated escape", at: position) }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code), position + 1 < bytes.count,
                       bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                        position += 2
                        let low = try parseHex4()
                        if (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    buffer.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw ForestError.syntax("invalid escape", at: position - 1)
                }
                runStart = position
                continue
            }
            position += 1
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count else { throw ForestError.syntax("truncated \\u escape", at: position) }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw ForestError.syntax("invalid hex digit in \\u escape", at: position)
            }
            code = code << 4 | digit
            position += 1
        }
        return code
    }

    private mutating func parseNumber() throws -> DocumentValue {
        let start = position
        var isInteger = true
        while position < bytes.count, Self.isNumberByte(bytes[position]) {
            switch bytes[position] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): isInteger = false
            default: break
            }
            position += 1
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .integer(integer) }
        // Integers beyond Int64 and all reals: correctly rounded straight to Float.
        guard Self.isWellFormedNumber(text), let real = Float(text) else {
            throw ForestError.syntax("invalid number '\(text)'", at: start)
        }
        return .real(real)
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"),
             UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): true
        default: false
        }
    }

    /// JSON's number grammar (Swift's `Float(String)` also accepts hex floats, "inf", "nan").
    private static func isWellFormedNumber(_ text: String) -> Bool {
        var utf8 = Array(text.utf8)[...]
        if utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
        func digits(_ slice: inout ArraySlice<UInt8>) -> Int {
            var count = 0
            while let byte = slice.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { slice = slice.dropFirst(); count += 1 }
            return count
        }
        guard digits(&utf8) > 0 else { return false }
        if utf8.first == UInt8(ascii: ".") {
            utf8 = utf8.dropFirst()
            guard digits(&utf8) > 0 else { return false }
        }
        if utf8.first == UInt8(ascii: "e") || utf8.first == UInt8(ascii: "E") {
            utf8 = utf8.dropFirst()
            if utf8.first == UInt8(ascii: "+") || utf8.first == UInt8(ascii: "-") { utf8 = utf8.dropFirst() }
            guard digits(&utf8) > 0 else { return false }
        }
        return utf8.isEmpty
    }
}
