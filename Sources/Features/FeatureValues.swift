// Value rules shared by every transform; each mirrors a function of models/train/featurize.py.

let millisPerDay: Int64 = 86_400_000
let millisPerHour: Int64 = 3_600_000

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always)
func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let r = a % b
    return r != 0 && (r < 0) != (b < 0) ? r + b : r
}

private let powersOfTen: [Double] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
]

/// A validated JSON number lexeme as Double when that is exact without big arithmetic, else nil.
///
/// Integers (no fraction or exponent) of up to 19 digits go through `UInt64` and one correctly
/// rounded conversion, like Python's `float(int)`; `-0` gives +0.0 as Python's int does. Decimals use
/// Clinger's fast path: a mantissa up to 2^53 times or divided by an exact power of ten up to 1e22 is
/// one correctly rounded operation.
@inline(__always)
func parseNumberFast(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
    var i = 0
    let negative = p[0] == 0x2D
    if negative { i = 1 }
    var mantissa: UInt64 = 0
    var significant = 0
    var exponent = 0
    var isInteger = true
    while i < n, p[i] &- 0x30 < 10 {
        let d = UInt64(p[i] &- 0x30)
        if mantissa != 0 || d != 0 { significant += 1 }
        mantissa = mantissa &* 10 &+ d
        i += 1
    }
    if i < n, p[i] == 0x2E {
        isInteger = false
        i += 1
        while i < n, p[i] &- 0x30 < 10 {
            let d = UInt64(p[i] &- 0x30)
            if mantissa != 0 || d != 0 { significant += 1 }
            mantissa = mantissa &* 10 &+ d
            exponent -= 1
            i += 1
        }
    }
    guard significant <= 19 else { return nil }
    if i < n {  // exponent
        isInteger = false
        i += 1
        var negativeExponent = false
        if p[i] == 0x2D || p[i] == 0x2B {
            negativeExponent = p[i] == 0x2D
            i += 1
        }
        var e = 0
        while i < n {
            e = e * 10 + Int(p[i] &- 0x30)
            if e > 100_000 { return nil }
            i += 1
        }
        exponent += negativeExponent ? -e : e
    }
    if isInteger {
        let value = Double(mantissa)
        return negative && mantissa != 0 ? -value : value
    }
    if mantissa == 0 { return negative ? -0.0 : 0.0 }
    guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
    let m = Double(mantissa)
    let value = exponent >= 0 ? m * powersOfTen[exponent] : m / powersOfTen[-exponent]
    return negative ? -value : value
}

/// Decodes the content of a validated JSON string (escapes resolved, surrogate pairs joined, a lone
/// surrogate kept as its 3-byte form) into `out`; returns the decoded length (never longer).
func unescape(_ p: UnsafePointer<UInt8>, _ n: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var i = 0, o = 0
    while i < n {
        let b = p[i]
        guard b == 0x5C else {
            out[o] = b
            o += 1
            i += 1
            continue
        }
        let e = p[i + 1]
        i += 2
        switch e {
        case 0x62: out[o] = 0x08
        case 0x66: out[o] = 0x0C
        case 0x6E: out[o] = 0x0A
        case 0x72: out[o] = 0x0D
        case 0x74: out[o] = 0x09
        case 0x75:
            var scalar = hex4(p + i)
            i += 4
            if scalar >= 0xD800, scalar < 0xDC00, i + 6 <= n, p[i] == 0x5C, p[i + 1] == 0x75 {
                let low = hex4(p + i + 2)
                if low >= 0xDC00, low < 0xE000 {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
            }
            o += encodeUTF8(scalar, into: out + o)
            continue
        default: out[o] = e  // " \ /
        }
        o += 1
    }
    return o
}

@inline(__always)
private func hex4(_ p: UnsafePointer<UInt8>) -> UInt32 {
    UInt32(hexValue(p[0]) << 12 | hexValue(p[1]) << 8 | hexValue(p[2]) << 4 | hexValue(p[3]))
}

@inline(__always)
private func encodeUTF8(_ c: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
    switch c {
    case 0..<0x80:
        out[0] = UInt8(c)
        return 1
    case 0x80..<0x800:
        out[0] = UInt8(0xC0 | c >> 6)
        out[1] = UInt8(0x80 | c & 0x3F)
        return 2
    case 0x800..<0x10000:
        out[0] = UInt8(0xE0 | c >> 12)
        out[1] = UInt8(0x80 | (c >> 6) & 0x3F)
        out[2] = UInt8(0x80 | c & 0x3F)
        return 3
    default:
        out[0] = UInt8(0xF0 | c >> 18)
        out[1] = UInt8(0x80 | (c >> 12) & 0x3F)
        out[2] = UInt8(0x80 | (c >> 6) & 0x3F)
        out[3] = UInt8(0x80 | c & 0x3F)
        return 4
    }
}

/// `YYYY-MM-DD[T t ]HH:MM:SS[.f{1,9}][Z z ±HH:MM ±HHMM]` -> milliseconds since the epoch (fraction
/// truncated to ms, no offset = UTC), or nil when the text does not match exactly or a part is out of
/// range (then the value is missing). Mirrors `parse_timestamp_ms` in featurize.py.
@inline(__always)
func parseTimestampMillis(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
    guard n >= 19 else { return nil }
    @inline(__always) func digits(_ at: Int, _ count: Int) -> Int? {
        var v = 0
        for k in at..<(at + count) {
            let d = p[k] &- 0x30
            guard d < 10 else { return nil }
            v = v * 10 + Int(d)
        }
        return v
    }
    guard let year = digits(0, 4), p[4] == 0x2D, let month = digits(5, 2), p[7] == 0x2D, let day = digits(8, 2),
        p[10] == 0x54 || p[10] == 0x74 || p[10] == 0x20,
        let hour = digits(11, 2), p[13] == 0x3A, let minute = digits(14, 2), p[16] == 0x3A, let second = digits(17, 2)
    else { return nil }
    var i = 19
    var millis = 0
    if i < n, p[i] == 0x2E {
        var count = 0
        i += 1
        while i < n, p[i] &- 0x30 < 10, count < 9 {
            if count < 3 { millis = millis * 10 + Int(p[i] &- 0x30) }
            count += 1
            i += 1
        }
        guard count > 0 else { return nil }
        for _ in min(count, 3)..<3 { millis *= 10 }
    }
    var offsetMinutes = 0
    if i < n {
        switch p[i] {
        case 0x5A, 0x7A: i += 1  // Z z
        case 0x2B, 0x2D:
            let sign = p[i] == 0x2D ? -1 : 1
            guard i + 5 <= n, let oh = digits(i + 1, 2) else { return nil }
            var j = i + 3
            if p[j] == 0x3A { j += 1 }
            guard j + 2 <= n, let om = digits(j, 2), oh <= 23, om <= 59 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
            i = j + 2
        default: return nil
        }
    }
    guard i == n, (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour <= 23, minute <= 59,
        second <= 59
    else { return nil }
    let seconds = Int64(daysFromCivil(year, month, day)) * 86400 + Int64(hour * 3600 + minute * 60 + second)
        - Int64(offsetMinutes * 60)
    return seconds * 1000 + Int64(millis)
}

@inline(__always)
private func daysInMonth(_ y: Int, _ m: Int) -> Int {
    switch m {
    case 2: (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
@inline(__always)
private func daysFromCivil(_ year: Int, _ m: Int, _ d: Int) -> Int {
    let y = m <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146097 + doe - 719468
}

/// The leading 1-9 ASCII digits of a version string as a number, else nil ("11.4.1" -> 11).
@inline(__always)
func versionMajor(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
    var value = 0, i = 0
    while i < n, p[i] &- 0x30 < 10 {
        guard i < 9 else { return nil }
        value = value * 10 + Int(p[i] &- 0x30)
        i += 1
    }
    return i == 0 ? nil : Double(value)
}
