/// A strict RFC 8259 JSON scanner over raw bytes: validates syntax and strict UTF-8 (the same
/// inputs Python's `json.loads(bytes.decode("utf-8"))` accepts, minus nesting beyond ``maxDepth``)
/// and reports where values are, without building anything.
///
/// Hand-written because it is the featurizer's hot path: Foundation's `JSONSerialization` builds a
/// dictionary of boxed values per event, about 10x slower (see BENCHMARKS.md, "Featurizer parse
/// speed", `scorer score --events FILE --benchmark-parse`). It is differential-tested against
/// `JSONSerialization` in `JSONCursorTests`.
struct JSONCursor {
    let p: UnsafePointer<UInt8>
    let n: Int
    var i: Int
    /// Container stack for ``skipValue()`` (1 = object, 2 = array), `maxDepth` bytes.
    let stack: UnsafeMutablePointer<UInt8>
    let maxDepth: Int

    static let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, colon: UInt8 = 0x3A, comma: UInt8 = 0x2C
    static let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D, openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D

    @inline(__always)
    mutating func skipWhitespace() {
        while i < n {
            let b = p[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    @inline(__always)
    func fail(_ reason: String) -> FeatureError {
        i >= n ? .notJSON("unexpected end of input (\(reason))", at: i) : .notJSON(reason, at: i)
    }

    /// Expects `byte` at the cursor (after whitespace) and steps over it.
    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: String) throws(FeatureError) {
        skipWhitespace()
        guard i < n, p[i] == byte else { throw fail("expected \(what)") }
        i += 1
    }

    // MARK: - Strings

    /// Scans a string whose opening quote is at the cursor. Returns the content range (without the
    /// quotes) and whether it contains escapes; leaves the cursor after the closing quote.
    @inline(__always)
    mutating func scanString() throws(FeatureError) -> (start: Int, end: Int, escaped: Bool) {
        i += 1  // opening quote
        let start = i
        var escaped = false
        while true {
            // 8 bytes at a time while none is a quote, a backslash, a control character or non-ASCII.
            while i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
                let q = w ^ (ones &* UInt64(Self.quote)), s = w ^ (ones &* UInt64(Self.backslash))
                let special = ((q &- ones) & ~q) | ((s &- ones) & ~s) | (w &- ones &* 0x20) | w
                if special & highs != 0 { break }
                i += 8
            }
            guard i < n else { throw fail("unterminated string") }
            let b = p[i]
            if b == Self.quote {
                i += 1
                return (start, i - 1, escaped)
            } else if b == Self.backslash {
                escaped = true
                try scanEscape()
            } else if b < 0x20 {
                throw fail("control character in string")
            } else if b >= 0x80 {
                try scanUTF8(b)
            } else {
                i += 1
            }
        }
    }

    @inline(__always)
    private mutating func scanEscape() throws(FeatureError) {
        guard i + 1 < n else { i = n; throw fail("unterminated escape") }
        switch p[i + 1] {
        case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: i += 2  // " \ / b f n r t
        case 0x75:  // u
            guard i + 6 <= n else { i = n; throw fail("truncated \\u escape") }
            for k in 2..<6 where hexValue(p[i + k]) < 0 {
                i += k
                throw fail("invalid \\u escape")
            }
            i += 6
        default:
            i += 1
            throw fail("invalid escape")
        }
    }

    /// Validates one multi-byte UTF-8 sequence starting with `lead` (Unicode table 3-7: no
    /// overlongs, no surrogates, nothing above U+10FFFF).
    @inline(__always)
    private mutating func scanUTF8(_ lead: UInt8) throws(FeatureError) {
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        let count: Int
        switch lead {
        case 0xC2...0xDF: count = 1
        case 0xE0: count = 2; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 2
        case 0xED: count = 2; upper = 0x9F
        case 0xF0: count = 3; lower = 0x90
        case 0xF1...0xF3: count = 3
        case 0xF4: count = 3; upper = 0x8F
        default: throw fail("invalid UTF-8")
        }
        guard i + count < n else { i = n; throw fail("truncated UTF-8") }
        let second = p[i + 1]
        guard second >= lower, second <= upper else { throw fail("invalid UTF-8") }
        if count >= 2 {
            guard p[i + 2] & 0xC0 == 0x80 else { throw fail("invalid UTF-8") }
        }
        if count == 3 {
            guard p[i + 3] & 0xC0 == 0x80 else { throw fail("invalid UTF-8") }
        }
        i += count + 1
    }

    // MARK: - Numbers and literals

    /// Scans a number at the cursor; returns whether it is an integer (no fraction, no exponent).
    @inline(__always)
    mutating func scanNumber() throws(FeatureError) -> Bool {
        if p[i] == 0x2D { i += 1 }  // -
        guard i < n else { throw fail("expected a digit") }
        if p[i] == 0x30 {
            i += 1
        } else if p[i] >= 0x31 && p[i] <= 0x39 {
            i += 1
            while i < n, p[i] &- 0x30 < 10 { i += 1 }
        } else {
            throw fail("expected a digit")
        }
        var integer = true
        if i < n, p[i] == 0x2E {  // .
            integer = false
            i += 1
            guard i < n, p[i] &- 0x30 < 10 else { throw fail("expected a digit after '.'") }
            while i < n, p[i] &- 0x30 < 10 { i += 1 }
        }
        if i < n, p[i] | 0x20 == 0x65 {  // e E
            integer = false
            i += 1
            if i < n, p[i] == 0x2B || p[i] == 0x2D { i += 1 }
            guard i < n, p[i] &- 0x30 < 10 else { throw fail("expected a digit in the exponent") }
            while i < n, p[i] &- 0x30 < 10 { i += 1 }
        }
        return integer
    }

    /// Steps over `true`, `false` or `null`; returns the first byte (t, f or n).
    @inline(__always)
    mutating func scanLiteral() throws(FeatureError) -> UInt8 {
        let first = p[i]
        let rest: UInt32, length: Int  // the bytes after the first, little-endian
        switch first {
        case 0x74: rest = 0x65_75_72; length = 4  // t "rue"
        case 0x66: rest = 0x65_73_6C_61; length = 5  // f "alse"
        default: rest = 0x6C_6C_75; length = 4  // n "ull"
        }
        for k in 1..<length where i + k >= n || p[i + k] != UInt8(truncatingIfNeeded: rest >> (8 * UInt32(k - 1))) {
            i = min(i + k, n)
            throw fail("invalid literal")
        }
        i += length
        return first
    }

    // MARK: - Any value

    /// The kind of value at the cursor (after whitespace), without consuming it.
    @inline(__always)
    mutating func peekKind() throws(FeatureError) -> ValueKind {
        skipWhitespace()
        guard i < n else { throw fail("expected a value") }
        switch p[i] {
        case Self.quote: return .string
        case 0x2D, 0x30...0x39: return .number
        case 0x74, 0x66: return .boolean
        case 0x6E: return .null
        case Self.openBrace: return .object
        case Self.openBracket: return .array
        default: throw fail("expected a value")
        }
    }

    /// Validates and steps over one complete value at the cursor (iteratively, any nesting up to
    /// `maxDepth - depth` levels below the current `depth`).
    mutating func skipValue(depth: Int) throws(FeatureError) {
        var top = 0  // containers open in this call
        while true {
            // A value.
            switch try peekKind() {
            case .string: _ = try scanString()
            case .number: _ = try scanNumber()
            case .boolean, .null: _ = try scanLiteral()
            case .absent: throw fail("expected a value")
            case .object, .array:
                guard depth + top < maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
                let isObject = p[i] == Self.openBrace
                stack[top] = isObject ? 1 : 2
                top += 1
                i += 1
                skipWhitespace()
                if i < n, p[i] == (isObject ? Self.closeBrace : Self.closeBracket) {
                    i += 1
                    top -= 1
                } else {
                    if isObject { try scanKeyAndColon() }
                    continue
                }
            }
            // After a value: close containers or move to the next element.
            while true {
                if top == 0 { return }
                skipWhitespace()
                guard i < n else { throw fail("unterminated \(stack[top - 1] == 1 ? "object" : "array")") }
                let b = p[i]
                if b == Self.comma {
                    i += 1
                    if stack[top - 1] == 1 { try scanKeyAndColon() }
                    break
                } else if b == (stack[top - 1] == 1 ? Self.closeBrace : Self.closeBracket) {
                    i += 1
                    top -= 1
                } else {
                    throw fail(stack[top - 1] == 1 ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
        }
    }

    @inline(__always)
    private mutating func scanKeyAndColon() throws(FeatureError) {
        skipWhitespace()
        guard i < n, p[i] == Self.quote else { throw fail("expected a string key") }
        _ = try scanString()
        try expect(Self.colon, "':'")
    }
}

/// The JSON type of a value.
enum ValueKind: UInt8 {
    case absent = 0, null, boolean, number, string, object, array

    var name: String {
        switch self {
        case .absent: "absent"
        case .null: "null"
        case .boolean: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .object: "an object"
        case .array: "an array"
        }
    }
}

@inline(__always)
func hexValue(_ b: UInt8) -> Int {
    switch b {
    case 0x30...0x39: Int(b - 0x30)
    case 0x41...0x46: Int(b - 0x41 + 10)
    case 0x61...0x66: Int(b - 0x61 + 10)
    default: -1
    }
}
