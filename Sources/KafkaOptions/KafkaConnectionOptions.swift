public import ArgumentParser
public import Kafka
import Foundation

/// The command-line options every command that talks to Kafka shares: where the brokers are and
/// any librdkafka property (like kcat's `-X`).
///
/// `--brokers` takes a `host:port[,host:port...]` list or `@FILE`, a file written by
/// `scorer broker --bootstrap-file FILE`, so a second terminal needs no copy-paste. Without
/// `--brokers`, the `SCORER_BROKERS` environment variable is used (same two forms).
public struct KafkaConnectionOptions: ParsableArguments, Sendable {
    /// Broker tuning profile.
    public enum BrokerProfile: String, ExpressibleByArgument, CaseIterable, Sendable {
        /// `development-cluster` when the address came from a `scorer broker` bootstrap file,
        /// `kafka` otherwise.
        case auto
        /// librdkafka defaults, for real Kafka brokers.
        case kafka
        /// `KafkaConfig.developmentClusterProperties` (small fetch wait, big local queues).
        case developmentCluster = "development-cluster"
    }

    /// The environment variable read when `--brokers` is not given.
    public static let environmentVariable = "SCORER_BROKERS"
    /// The line a bootstrap file written by `scorer broker` carries to mark a development cluster.
    public static let developmentClusterMarker = "# development-cluster"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Kafka bootstrap servers 'host:port,...', or @FILE to read them from a file written by 'scorer broker --bootstrap-file FILE'. Default: $SCORER_BROKERS.",
            valueName: "ADDRESS|@FILE"))
    public var brokers: String?

    @Option(
        name: .customShort("X"),
        help: ArgumentHelp(
            "Set any librdkafka property, e.g. -X security.protocol=SASL_SSL (repeatable; wins over other options).",
            valueName: "key=value"))
    public var librdkafkaProperties: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Client tuning: 'kafka' (librdkafka defaults), 'development-cluster' (settings the embedded mock broker needs), or 'auto' (development-cluster when --brokers is a file written by 'scorer broker').",
            valueName: "profile"))
    public var brokerProfile: BrokerProfile = .auto

    public init() {}

    /// Where the brokers are and whether they are a development cluster.
    public struct ResolvedBrokers: Sendable, Hashable {
        public var bootstrapServers: String
        public var isDevelopmentCluster: Bool
    }

    /// Resolves `--brokers` / `$SCORER_BROKERS`, reading `@FILE` if given.
    /// - Throws: `ValidationError` explaining what is missing or wrong.
    public func resolveBrokers(environment: [String: String]? = nil) throws -> ResolvedBrokers {
        try Self.resolveBrokers(brokers, environment: environment)
    }

    /// Resolves a `--brokers` value (nil: `$SCORER_BROKERS`), reading `@FILE` if given.
    public static func resolveBrokers(_ brokers: String?, environment: [String: String]? = nil) throws -> ResolvedBrokers {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let source: String
        if let brokers {
            source = brokers
        } else if let fromEnvironment = environment[Self.environmentVariable], !fromEnvironment.isEmpty {
            source = fromEnvironment
        } else {
            throw ValidationError(
                "No Kafka brokers given: pass --brokers host:port (or --brokers @FILE from 'scorer broker --bootstrap-file FILE'), or set \(Self.environmentVariable).")
        }
        guard source.hasPrefix("@") else {
            let trimmed = source.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw ValidationError("--brokers is empty.") }
            return ResolvedBrokers(bootstrapServers: trimmed, isDevelopmentCluster: false)
        }
        let path = String(source.dropFirst())
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("Cannot read bootstrap file '\(path)': start 'scorer broker --bootstrap-file \(path)' first, or check the path.")
        }
        return try Self.parseBootstrapFile(String(decoding: data, as: UTF8.self), path: path)
    }

    /// Parses a bootstrap file: the first line that is neither empty nor a `#` comment is the
    /// address; the `developmentClusterMarker` line marks a development cluster.
    public static func parseBootstrapFile(_ text: String, path: String) throws -> ResolvedBrokers {
        var address: String?
        var isDevelopmentCluster = false
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line == developmentClusterMarker { isDevelopmentCluster = true }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if address == nil { address = line }
        }
        guard let address else { throw ValidationError("Bootstrap file '\(path)' holds no broker address.") }
        return ResolvedBrokers(bootstrapServers: address, isDevelopmentCluster: isDevelopmentCluster)
    }

    /// The contents `scorer broker` writes to its bootstrap file.
    public static func bootstrapFileContents(bootstrapServers: String, developmentCluster: Bool) -> String {
        bootstrapServers + "\n" + (developmentCluster ? developmentClusterMarker + "\n" : "")
    }

    /// Parsed `-X` properties.
    /// - Throws: `ValidationError` for an entry that is not `key=value`.
    public func parsedProperties() throws -> [String: String] {
        try Self.parseProperties(librdkafkaProperties)
    }

    /// Parses `key=value` entries.
    public static func parseProperties(_ entries: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("-X expects key=value (a librdkafka property), got '\(entry)'.")
            }
            result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return result
    }

    /// Builds the client configuration: brokers, profile preset, then `-X` properties (which win),
    /// validated against librdkafka so an unknown or invalid property fails here, naming it.
    ///
    /// - Parameters:
    ///   - clientID: `client.id` to use unless `-X client.id=...` overrides it.
    ///   - groupID: consumer group id, for consumers and lag queries.
    ///   - forConsumer: validate consumer properties too.
    /// - Throws: `ValidationError` for missing brokers or malformed `-X`; `KafkaError` for a
    ///   property librdkafka rejects.
    public func makeConfig(
        clientID: String? = nil, groupID: String? = nil, forConsumer: Bool = false,
        environment: [String: String]? = nil
    ) throws -> KafkaConfig {
        try Self.makeConfig(
            brokers: brokers, properties: librdkafkaProperties, profile: brokerProfile, clientID: clientID,
            groupID: groupID, forConsumer: forConsumer, environment: environment)
    }

    /// `makeConfig` from plain values, for code that builds options without parsing a command line.
    public static func makeConfig(
        brokers: String?, properties: [String] = [], profile: BrokerProfile = .auto,
        clientID: String? = nil, groupID: String? = nil, forConsumer: Bool = false,
        environment: [String: String]? = nil
    ) throws -> KafkaConfig {
        let resolved = try resolveBrokers(brokers, environment: environment)
        var config = KafkaConfig(bootstrapServers: resolved.bootstrapServers)
        config.clientID = clientID
        config.groupID = groupID
        config.properties = try parseProperties(properties)
        switch profile {
        case .developmentCluster: config.applyDevelopmentClusterPreset()
        case .auto where resolved.isDevelopmentCluster: config.applyDevelopmentClusterPreset()
        case .auto, .kafka: break
        }
        try config.validate(forConsumer: forConsumer)
        return config
    }
}
