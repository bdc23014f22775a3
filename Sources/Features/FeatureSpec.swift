import Foundation

/// The ordered feature spec of a model bundle (`features.json`), shared with the training pipeline.
///
/// The training code (`models/train/featurize.py`) and ``Featurizer`` interpret the same file; the
/// parity test proves they compute bit-identical rows. The order of ``features`` is the column order
/// of the model. Every transform reads named event fields; an absent or null field is a missing value
/// (NaN), never an error.
public struct FeatureSpec: Sendable, Equatable {
    /// How one feature is computed from the event.
    public enum Transform: Sendable, Equatable {
        /// The field's number.
        case number(field: String)
        /// `numerator / denominator`; missing when either is missing or the denominator is zero.
        case ratio(numerator: String, denominator: String)
        /// `(to - from)` in days (fractional) between two ISO-8601 timestamps.
        case daysBetween(from: String, to: String)
        /// The UTC hour (0-23) of an ISO-8601 timestamp.
        case hourOfDay(field: String)
        /// The UTC day of the week (Monday = 0) of an ISO-8601 timestamp.
        case dayOfWeek(field: String)
        /// The leading integer (1-9 ASCII digits) of a version string such as "11.4.1".
        case versionMajor(field: String)
        /// A string looked up in a vocabulary: its index, or `vocabulary.count` ("other") if unknown.
        case stringCategory(field: String, vocabulary: [String])
        /// A number looked up in a vocabulary: its index, or `vocabulary.count` ("other") if unknown.
        case numberCategory(field: String, vocabulary: [Double])
    }

    /// One model column.
    public struct Feature: Sendable, Equatable {
        /// The column name (matches the model's `feature_names`).
        public let name: String
        /// How the value is computed.
        public let transform: Transform

        /// Whether the model treats this column as categorical (XGBoost feature type `"c"`).
        public var isCategorical: Bool {
            switch transform {
            case .stringCategory, .numberCategory: true
            default: false
            }
        }
    }

    /// The JSON type an event field must have when it is present and not null.
    public enum FieldType: String, Sendable, Equatable {
        case number, string
    }

    /// The model's columns, in order.
    public let features: [Feature]
    /// The event field holding the required, non-empty string id (default `"id"`).
    public let idField: String
    /// The event field holding the event time (default `"timestamp"`), reported as `event_ts` offline.
    public let timestampField: String
    /// Events larger than this are rejected with ``FeatureError/Code/tooLarge``.
    public let maxEventBytes: Int
    /// Every field the features read with its required type: the timestamp field first, then in
    /// order of first use. Type errors are reported in this order (as the Python reference does).
    public let fields: [(name: String, type: FieldType)]

    /// The column names in order.
    public var featureNames: [String] { features.map(\.name) }

    public static func == (a: FeatureSpec, b: FeatureSpec) -> Bool {
        a.features == b.features && a.idField == b.idField && a.timestampField == b.timestampField
            && a.maxEventBytes == b.maxEventBytes
    }

    /// Builds and validates a spec.
    ///
    /// - Throws: ``FeatureError/Code/invalidSpec`` for duplicate names, an empty feature list, a
    ///   field used with two types, duplicate vocabulary entries or a non-positive size limit.
    public init(
        features: [Feature], idField: String = "id", timestampField: String = "timestamp",
        maxEventBytes: Int = 65536
    ) throws(FeatureError) {
        guard !features.isEmpty else { throw .invalidSpec("no features") }
        guard maxEventBytes > 0, maxEventBytes <= 1 << 30 else {
            throw .invalidSpec("max_event_bytes must be between 1 and 2^30, got \(maxEventBytes)")
        }
        guard !idField.isEmpty, !timestampField.isEmpty else { throw .invalidSpec("empty id or timestamp field name") }
        var names = Set<String>()
        var fields: [(name: String, type: FieldType)] = [(timestampField, .string)]
        func use(_ field: String, _ type: FieldType, by feature: String) throws(FeatureError) {
            guard !field.isEmpty else { throw .invalidSpec("feature '\(feature)' names an empty field") }
            if let known = fields.first(where: { $0.name == field }) {
                guard known.type == type else {
                    throw .invalidSpec("field '\(field)' is used both as \(known.type.rawValue) and \(type.rawValue) (feature '\(feature)')")
                }
            } else {
                fields.append((field, type))
            }
        }
        for feature in features {
            guard names.insert(feature.name).inserted else { throw .invalidSpec("duplicate feature name '\(feature.name)'") }
            switch feature.transform {
            case .number(let f): try use(f, .number, by: feature.name)
            case .ratio(let a, let b):
                try use(a, .number, by: feature.name)
                try use(b, .number, by: feature.name)
            case .daysBetween(let a, let b):
                try use(a, .string, by: feature.name)
                try use(b, .string, by: feature.name)
            case .hourOfDay(let f), .dayOfWeek(let f), .versionMajor(let f): try use(f, .string, by: feature.name)
            case .stringCategory(let f, let vocabulary):
                try use(f, .string, by: feature.name)
                guard Set(vocabulary.map { Array($0.utf8) }).count == vocabulary.count else {
                    throw .invalidSpec("feature '\(feature.name)' has duplicate vocabulary entries")
                }
            case .numberCategory(let f, let vocabulary):
                try use(f, .number, by: feature.name)
                guard vocabulary.allSatisfy(\.isFinite), Set(vocabulary).count == vocabulary.count else {
                    throw .invalidSpec("feature '\(feature.name)' has duplicate or non-finite vocabulary entries")
                }
            }
            guard feature.isCategorical == false || vocabularyCount(feature.transform) < 1 << 24 else {
                throw .invalidSpec("feature '\(feature.name)' has more than 2^24 categories")
            }
        }
        if fields.contains(where: { $0.name == idField }) {
            throw .invalidSpec("the id field '\(idField)' cannot also be a feature source")
        }
        self.features = features
        self.idField = idField
        self.timestampField = timestampField
        self.maxEventBytes = maxEventBytes
        self.fields = fields
    }
}

private func vocabularyCount(_ transform: FeatureSpec.Transform) -> Int {
    switch transform {
    case .stringCategory(_, let v): v.count
    case .numberCategory(_, let v): v.count
    default: 0
    }
}

// MARK: - features.json

extension FeatureSpec {
    /// Reads a `features.json` file.
    ///
    /// - Throws: ``FeatureError/Code/io`` if the file cannot be read, ``FeatureError/Code/invalidSpec``
    ///   if its content is not a valid spec (the message names the feature and the problem).
    public static func load(path: String) throws(FeatureError) -> FeatureSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io("cannot read feature spec '\(path)'")
        }
        return try FeatureSpec(json: data)
    }

    /// Parses the content of a `features.json` file.
    public init(json: [UInt8]) throws(FeatureError) {
        try self.init(json: Data(json))
    }

    init(json: Data) throws(FeatureError) {
        let document: SpecDocument
        do {
            document = try JSONDecoder().decode(SpecDocument.self, from: json)
        } catch {
            throw .invalidSpec("not a features.json document (\(Self.describe(error)))")
        }
        guard document.format == nil || document.format == 1 else {
            throw .invalidSpec("unsupported format \(document.format ?? 0) (this build reads format 1)")
        }
        var features: [Feature] = []
        for f in document.features {
            features.append(Feature(name: f.name, transform: try f.makeTransform()))
        }
        try self.init(
            features: features, idField: document.id_field ?? "id",
            timestampField: document.timestamp_field ?? "timestamp",
            maxEventBytes: document.max_event_bytes ?? 65536)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at \(path(context.codingPath))"
        case DecodingError.dataCorrupted(let context):
            "invalid JSON at \(path(context.codingPath))"
        default: "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// The on-disk shape of `features.json` (snake_case keys as written by Python).
private struct SpecDocument: Decodable {
    var format: Int?
    var id_field: String?
    var timestamp_field: String?
    var max_event_bytes: Int?
    var features: [FeatureDocument]
}

private struct FeatureDocument: Decodable {
    var name: String
    var transform: String
    var field: String?
    var numerator: String?
    var denominator: String?
    var from: String?
    var to: String?
    var value_type: String?
    var vocabulary: [VocabularyEntry]?

    func makeTransform() throws(FeatureError) -> FeatureSpec.Transform {
        func need(_ value: String?, _ key: String) throws(FeatureError) -> String {
            guard let value else { throw .invalidSpec("feature '\(name)' (\(transform)) needs '\(key)'") }
            return value
        }
        switch transform {
        case "number": return .number(field: try need(field, "field"))
        case "ratio": return .ratio(numerator: try need(numerator, "numerator"), denominator: try need(denominator, "denominator"))
        case "days_between": return .daysBetween(from: try need(from, "from"), to: try need(to, "to"))
        case "hour_of_day": return .hourOfDay(field: try need(field, "field"))
        case "day_of_week": return .dayOfWeek(field: try need(field, "field"))
        case "version_major": return .versionMajor(field: try need(field, "field"))
        case "category":
            guard let vocabulary else { throw .invalidSpec("feature '\(name)' (category) needs 'vocabulary'") }
            switch value_type ?? "string" {
            case "string":
                var words: [String] = []
                for entry in vocabulary {
                    guard case .string(let s) = entry else {
                        throw .invalidSpec("feature '\(name)': vocabulary entries must be strings (value_type string)")
                    }
                    words.append(s)
                }
                return .stringCategory(field: try need(field, "field"), vocabulary: words)
            case "number":
                var numbers: [Double] = []
                for entry in vocabulary {
                    guard case .number(let x) = entry else {
                        throw .invalidSpec("feature '\(name)': vocabulary entries must be numbers (value_type number)")
                    }
                    numbers.append(x)
                }
                return .numberCategory(field: try need(field, "field"), vocabulary: numbers)
            case let other:
                throw .invalidSpec("feature '\(name)': unknown value_type '\(other)' (use string or number)")
            }
        default:
            throw .invalidSpec(
                "feature '\(name)': unknown transform '\(transform)' (known: number, ratio, days_between, hour_of_day, day_of_week, version_major, category)")
        }
    }
}

private enum VocabularyEntry: Decodable {
    case string(String)
    case number(Double)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            self = .number(try c.decode(Double.self))
        }
    }
}
