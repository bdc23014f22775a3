/// A perturbation of one numeric event field (`simulator --drift FIELD:SHIFT`), to demonstrate
/// feature drift: every replayed event's value of the field is shifted before it is sent.
///
/// `SHIFT` is `+N` or `-N` (add N) or `*F` / `xF` (multiply by F); N and F are decimal numbers.
/// A field that is absent or null in an event stays so. The result is written as a JSON number
/// (an integer when it is one).
public struct FieldDrift: Sendable, Equatable, CustomStringConvertible {
    public enum Shift: Sendable, Equatable {
        case add(Double)
        case multiply(Double)
    }

    /// The numeric fields of the impression contract: what `--drift` can shift.
    public static let fields = ["sourceGameId", "startCount", "viewCount", "clickCount", "installCount", "startCount1d", "startCount7d"]

    public let field: String
    public let shift: Shift

    public init(field: String, shift: Shift) {
        self.field = field
        self.shift = shift
    }

    /// Parses `FIELD:SHIFT`, e.g. `startCount7d:+10`, `viewCount:*3`.
    ///
    /// - Throws: `LoadSimulatorError` (`.badSetting`, one line) for an unknown field or a malformed shift.
    public init(parsing text: String) throws(LoadSimulatorError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw .badSetting("--drift expects FIELD:SHIFT (e.g. startCount7d:+10 or viewCount:*3), got '\(text)'")
        }
        let field = String(text[..<colon])
        let shift = text[text.index(after: colon)...]
        guard Self.fields.contains(field) else {
            throw .badSetting("--drift: unknown field '\(field)'; numeric event fields are \(Self.fields.joined(separator: ", "))")
        }
        guard let sign = shift.first, let number = Double(shift.dropFirst()), number.isFinite else {
            throw .badSetting("--drift \(field): SHIFT must be +N, -N, *F or xF with a number, got '\(shift)'")
        }
        switch sign {
        case "+": self.init(field: field, shift: .add(number))
        case "-": self.init(field: field, shift: .add(-number))
        case "*", "x": self.init(field: field, shift: .multiply(number))
        default: throw .badSetting("--drift \(field): SHIFT must start with +, -, * or x, got '\(shift)'")
        }
    }

    public var description: String {
        switch shift {
        case .add(let n): "\(field) \(n < 0 ? "-" : "+") \(abs(n))"
        case .multiply(let f): "\(field) x \(f)"
        }
    }

    func apply(to value: Double) -> Double {
        switch shift {
        case .add(let n): value + n
        case .multiply(let f): value * f
        }
    }

    /// `event` with every drifted field's numeric value shifted (unchanged when it is not a JSON object).
    static func apply(_ drifts: [FieldDrift], to event: ArraySlice<UInt8>) -> [UInt8] {
        let bytes = Array(event)
        guard !drifts.isEmpty else { return bytes }
        guard let members = bytes.withUnsafeBufferPointer({ JSONMemberScanner.members(of: $0) }) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var cursor = 0
        for member in members where !member.valueIsString {
            let key = String(decoding: bytes[member.key], as: UTF8.self)
            let matching = drifts.filter { $0.field == key }
            guard !matching.isEmpty, let value = Double(String(decoding: bytes[member.value], as: UTF8.self)) else { continue }
            let shifted = matching.reduce(value) { $1.apply(to: $0) }
            guard shifted.isFinite else { continue }
            out.append(contentsOf: bytes[cursor..<member.value.lowerBound])
            out.append(contentsOf: Array(Self.json(shifted).utf8))
            cursor = member.value.upperBound
        }
        out.append(contentsOf: bytes[cursor...])
        return out
    }

    static func json(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 9.0e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension EventCatalog {
    /// The same events with `drifts` applied to each (ids, labels and order unchanged).
    public func drifted(_ drifts: [FieldDrift]) throws(LoadSimulatorError) -> EventCatalog {
        guard !drifts.isEmpty else { return self }
        return try EventCatalog(events: (0..<count).map { FieldDrift.apply(drifts, to: event($0)) }, labels: givenLabels)
    }
}
