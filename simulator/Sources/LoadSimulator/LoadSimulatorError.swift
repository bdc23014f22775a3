/// The one error type of the load simulator library.
///
/// Every error carries a ``Code`` callers can switch on and a one-line ``message`` that says what went
/// wrong and, where possible, what to do about it. Build errors through the static factories.
public struct LoadSimulatorError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is. New codes may be added; switch with a `default`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// The event source (JSON-lines or csv.gz file) could not be read or holds no usable event.
        public static let badSource = Code(name: "badSource")
        /// A setting (rate, count, ramp, ...) is out of range.
        public static let badSetting = Code(name: "badSetting")
        /// A Kafka operation failed (the message carries the Kafka error's description).
        public static let kafka = Code(name: "kafka")
        /// A topic or consumer group the operation needs does not exist or has no data.
        public static let notFound = Code(name: "notFound")
        /// Writing an output file (report) failed.
        public static let output = Code(name: "output")
    }

    /// What kind of failure this is.
    public let code: Code
    /// One line, meant for a person.
    public let message: String

    public var description: String { message }

    static func badSource(_ message: String) -> Self { Self(code: .badSource, message: message) }
    static func badSetting(_ message: String) -> Self { Self(code: .badSetting, message: message) }
    static func kafka(_ message: String) -> Self { Self(code: .kafka, message: message) }
    static func notFound(_ message: String) -> Self { Self(code: .notFound, message: message) }
    static func output(_ message: String) -> Self { Self(code: .output, message: message) }
}
