/// Why an event (or a feature spec or data file) could not be used.
///
/// Event errors carry a ``Code`` the service maps to the dead-letter topic and a one-line
/// ``description`` that goes into the dead letter's `error` header. The codes are open-ended
/// (static members, not enum cases) so new ones can be added without breaking callers.
public struct FeatureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The event is not valid JSON (syntax, strict UTF-8, truncation, nesting deeper than the limit).
        public static let notJSON = Code(rawValue: "not_json")
        /// The event is valid JSON but its top-level value is not an object.
        public static let notObject = Code(rawValue: "not_object")
        /// The event's `id` is absent, null or the empty string.
        public static let missingID = Code(rawValue: "missing_id")
        /// A field the features read has the wrong JSON type (e.g. a string where a number belongs).
        public static let wrongType = Code(rawValue: "wrong_type")
        /// The event is larger than the spec's `max_event_bytes`.
        public static let tooLarge = Code(rawValue: "too_large")
        /// A feature spec (`features.json`) is unreadable or inconsistent.
        public static let invalidSpec = Code(rawValue: "invalid_spec")
        /// A data file (events, CSV, gzip) could not be read.
        public static let io = Code(rawValue: "io")
    }

    /// The kind of failure.
    public let code: Code
    /// The event field concerned, when there is one (for `wrongType` and `missingID`).
    public let field: String?
    /// A one-line, human-readable explanation (no newlines: it travels in a Kafka header).
    public let description: String

    init(_ code: Code, field: String? = nil, _ description: String) {
        self.code = code
        self.field = field
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    // MARK: - Factories

    static func notJSON(_ reason: String, at offset: Int) -> FeatureError {
        FeatureError(.notJSON, "not JSON: \(reason) at byte \(offset)")
    }

    static func notObject(_ found: String) -> FeatureError {
        FeatureError(.notObject, "not a JSON object: the event is \(found)")
    }

    static func missingID(_ field: String, _ what: String) -> FeatureError {
        FeatureError(.missingID, field: field, "missing id: field '\(field)' is \(what)")
    }

    static func wrongType(_ field: String, expected: String, found: String) -> FeatureError {
        FeatureError(.wrongType, field: field, "wrong type: field '\(field)' must be \(expected), got \(found)")
    }

    static func tooLarge(_ size: Int, limit: Int) -> FeatureError {
        FeatureError(.tooLarge, "too large: the event has \(size) bytes, the limit is \(limit)")
    }

    static func invalidSpec(_ reason: String) -> FeatureError {
        FeatureError(.invalidSpec, "invalid feature spec: \(reason)")
    }

    static func io(_ reason: String) -> FeatureError {
        FeatureError(.io, reason)
    }
}
