/// A parsed JSON or UBJSON document, as the model decoder sees it.
///
/// XGBoost writes the same tree of objects in both formats; UBJSON adds typed numeric arrays, which
/// are kept as typed arrays here (`floats`, `integers`) so large models do not pay for an enum per
/// number. Reals are parsed straight to `Float` from their decimal text (correctly rounded), never
/// through `Double`, because XGBoost stores every model number as a float32 printed shortest-round-trip.
enum DocumentValue: Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case real(Float)
    case string(String)
    case array([DocumentValue])
    case object([String: DocumentValue])
    case floats([Float])
    case integers([Int64])

    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .real: "a number"
        case .string: "a string"
        case .array, .floats, .integers: "an array"
        case .object: "an object"
        }
    }

    subscript(key: String) -> DocumentValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }
}

/// Typed access to a document object with errors that say which key, where.
struct DocumentObject {
    let members: [String: DocumentValue]
    /// Where this object lives, e.g. `learner.gradient_booster` or `tree 3`, for error messages.
    let context: String
    /// Error factory used for this object's problems (lets tree objects name their tree).
    let fail: @Sendable (String) -> ForestError

    init(_ value: DocumentValue, context: String, fail: (@Sendable (String) -> ForestError)? = nil) throws {
        let failure: @Sendable (String) -> ForestError = fail ?? { ForestError.invalid("\(context): \($0)") }
        guard case .object(let members) = value else { throw failure("expected an object, found \(value.kindName)") }
        self.members = members
        self.context = context
        self.fail = failure
    }

    func has(_ key: String) -> Bool { members[key] != nil }

    func value(_ key: String) throws -> DocumentValue {
        guard let value = members[key] else { throw fail("missing key '\(key)'") }
        return value
    }

    func object(_ key: String) throws -> DocumentObject {
        let value = try value(key)
        guard case .object = value else { throw fail("'\(key)' should be an object, found \(value.kindName)") }
        return try DocumentObject(value, context: "\(context).\(key)", fail: { [context] in ForestError.invalid("\(context).\(key): \($0)") })
    }

    func string(_ key: String) throws -> String {
        let value = try value(key)
        guard case .string(let text) = value else { throw fail("'\(key)' should be a string, found \(value.kindName)") }
        return text
    }

    /// An integer stored either as a number or, as XGBoost does for parameters, as a decimal string.
    func integerParameter(_ key: String) throws -> Int64 {
        let value = try value(key)
        switch value {
        case .integer(let number): return number
        case .string(let text):
            guard let number = Int64(text.trimmingSpaces()) else { throw fail("'\(key)' should be an integer, found \"\(text)\"") }
            return number
        default: throw fail("'\(key)' should be an integer, found \(value.kindName)")
        }
    }

    func floatArray(_ key: String) throws -> [Float] {
        try DocumentObject.floatArray(value(key), key: key, fail: fail)
    }

    func integerArray(_ key: String) throws -> [Int64] {
        try DocumentObject.integerArray(value(key), key: key, fail: fail)
    }

    func stringArray(_ key: String) throws -> [String] {
        let value = try value(key)
        guard case .array(let items) = value else {
            if case .integers(let items) = value, items.isEmpty { return [] }
            if case .floats(let items) = value, items.isEmpty { return [] }
            throw fail("'\(key)' should be an array of strings, found \(value.kindName)")
        }
        return try items.map {
            guard case .string(let text) = $0 else { throw fail("'\(key)' should hold strings only") }
            return text
        }
    }

    static func floatArray(_ value: DocumentValue, key: String, fail: (String) -> ForestError) throws -> [Float] {
        switch value {
        case .floats(let values): return values
        case .integers(let values): return values.map { Float($0) }
        case .array(let items):
            var result = [Float]()
            result.reserveCapacity(items.count)
            for item in items {
                switch item {
                case .real(let number): result.append(number)
                case .integer(let number): result.append(Float(number))
                default: throw fail("'\(key)' should hold numbers only, found \(item.kindName)")
                }
            }
            return result
        default: throw fail("'\(key)' should be an array of numbers, found \(value.kindName)")
        }
    }

    static func integerArray(_ value: DocumentValue, key: String, fail: (String) -> ForestError) throws -> [Int64] {
        switch value {
        case .integers(let values): return values
        case .floats(let values):
            guard values.isEmpty else { throw fail("'\(key)' should hold integers, found reals") }
            return []
        case .array(let items):
            var result = [Int64]()
            result.reserveCapacity(items.count)
            for item in items {
                switch item {
                case .integer(let number): result.append(number)
                case .bool(let flag): result.append(flag ? 1 : 0)
                default: throw fail("'\(key)' should hold integers only, found \(item.kindName)")
                }
            }
            return result
        default: throw fail("'\(key)' should be an array of integers, found \(value.kindName)")
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
