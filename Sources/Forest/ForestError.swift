/// The one error type of the `Forest` library.
///
/// Every failure to read, validate or use a model is a `ForestError`: a stable ``Code`` callers can
/// switch on, and a one-line human description that names where the problem is (byte offset, tree,
/// node) so an operator can act on it without a debugger.
public struct ForestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        /// The file could not be read (missing, unreadable).
        public static let io = Code(rawValue: "io")
        /// The bytes are not valid JSON / UBJSON.
        public static let syntax = Code(rawValue: "syntax")
        /// The document parses but is not a usable XGBoost model (missing keys, wrong types, bad
        /// indices, cycles, inconsistent tables).
        public static let invalidModel = Code(rawValue: "invalid-model")
        /// A threshold, leaf value, base score or tree weight is not a finite number (a `1e400` in
        /// the file reads as infinity): such a model would publish NaN or one-sided predictions.
        public static let nonFinite = Code(rawValue: "non-finite")
        /// A valid XGBoost model this evaluator does not support (e.g. `gblinear`).
        public static let unsupported = Code(rawValue: "unsupported")
        /// A prediction call was given buffers of the wrong size.
        public static let badInput = Code(rawValue: "bad-input")
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation naming the place of the problem.
    public let message: String

    public var description: String { message }

    static func io(_ message: String) -> ForestError { ForestError(code: .io, message: message) }
    static func syntax(_ message: String, at offset: Int) -> ForestError {
        ForestError(code: .syntax, message: "\(message) at byte \(offset)")
    }
    static func invalid(_ message: String) -> ForestError { ForestError(code: .invalidModel, message: message) }
    static func invalid(tree: Int, node: Int? = nil, _ message: String) -> ForestError {
        if let node { return ForestError(code: .invalidModel, message: "tree \(tree), node \(node): \(message)") }
        return ForestError(code: .invalidModel, message: "tree \(tree): \(message)")
    }
    static func nonFinite(tree: Int? = nil, node: Int? = nil, _ message: String) -> ForestError {
        let place = tree.map { tree in node.map { "tree \(tree), node \($0): " } ?? "tree \(tree): " } ?? ""
        return ForestError(code: .nonFinite, message: place + message)
    }
    static func unsupported(_ message: String) -> ForestError { ForestError(code: .unsupported, message: message) }
    static func badInput(_ message: String) -> ForestError { ForestError(code: .badInput, message: message) }
}
