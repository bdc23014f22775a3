/// A calendar day as a count of days since 1970-01-01 (proleptic Gregorian), for shifting the dates
/// of replayed events by whole days.
///
/// Shifting by whole days keeps every time of day, UTC offset and fraction exactly as written, so a
/// replayed event differs from the original only in its date (hour-of-day features stay the same).
struct CivilDay: Comparable, Hashable {
    var daysSinceEpoch: Int

    /// Reads `YYYY-MM-DD` from the first ten bytes of `bytes`; `nil` if they are not such a date.
    init?(isoPrefixOf bytes: UnsafeBufferPointer<UInt8>, at start: Int, limit: Int) {
        guard limit - start >= 10 else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            var value = 0
            for index in from..<(from + count) {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes[start + 4] == UInt8(ascii: "-"), bytes[start + 7] == UInt8(ascii: "-"),
            let year = digits(start, 4), let month = digits(start + 5, 2), let day = digits(start + 8, 2),
            (1...12).contains(month), day >= 1, day <= CivilDay.daysInMonth(year: year, month: month)
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    init(daysSinceEpoch: Int) { self.daysSinceEpoch = daysSinceEpoch }

    /// Days since 1970-01-01 of a Gregorian date, counting in 400-year eras of 146,097 days
    /// (years starting in March so the leap day is the last day of a year).
    init(year: Int, month: Int, day: Int) {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let monthFromMarch = (month + 9) % 12
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        daysSinceEpoch = era * 146_097 + dayOfEra - 719_468
    }

    /// The Gregorian (year, month, day) of this day; the inverse of `init(year:month:day:)`.
    var components: (year: Int, month: Int, day: Int) {
        let shifted = daysSinceEpoch + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    /// Writes `YYYY-MM-DD` (ten ASCII bytes) to `buffer`; years outside 0...9999 are clamped.
    func appendISO(to buffer: inout [UInt8]) {
        let (year, month, day) = components
        func append(_ value: Int, width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                buffer.append(UInt8(ascii: "0") + UInt8(rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        append(min(max(year, 0), 9999), width: 4)
        buffer.append(UInt8(ascii: "-"))
        append(month, width: 2)
        buffer.append(UInt8(ascii: "-"))
        append(day, width: 2)
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }
}
