/// The one error type of the `ModelBundles` library: why a bundle was refused.
///
/// `code` names the reason (the service counts refusals by it); `description` is one line naming
/// the file and the problem, fit for a log line or a CLI error.
public struct BundleError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a bundle was refused. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }

        /// A file is missing or unreadable.
        public static let io = Code(rawValue: "io")
        /// `features.json` is not a valid feature spec.
        public static let invalidSpec = Code(rawValue: "invalid_spec")
        /// `model.json` is not a usable model (structure, objective, output count).
        public static let invalidModel = Code(rawValue: "invalid_model")
        /// A threshold, leaf value, base score or tree weight of the model is not finite.
        public static let nonFinite = Code(rawValue: "non_finite")
        /// `features.json` (or the card) does not describe the model's features.
        public static let specMismatch = Code(rawValue: "spec_mismatch")
        /// `card.json` is not a JSON object.
        public static let invalidCard = Code(rawValue: "invalid_card")
        /// `reference.jsonl` is unreadable or malformed.
        public static let invalidReference = Code(rawValue: "invalid_reference")
        /// The bundle does not reproduce the probabilities XGBoost gave its reference events.
        public static let referenceMismatch = Code(rawValue: "reference_mismatch")
        /// A probability for a reference event is NaN or outside [0, 1].
        public static let outOfRange = Code(rawValue: "out_of_range")
    }

    /// Why the bundle was refused.
    public let code: Code
    /// One line naming the file and the problem.
    public let message: String

    public var description: String { "invalid model bundle: \(message)" }

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
