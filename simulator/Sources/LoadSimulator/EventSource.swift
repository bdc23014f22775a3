/// Reads the events a load test replays from a file.
public enum EventSource {
    /// Loads `path`: a `.csv.gz` test data file (read through the Features library's reader, which
    /// turns each row into the raw event JSON the scorer consumes) or a JSON-lines file.
    ///
    /// - Parameter limit: read at most this many events (the first ones), for quick runs.
    /// - Throws: `LoadSimulatorError.badSource` naming the file and the problem.
    public static func load(path: String, limit: Int? = nil) throws(LoadSimulatorError) -> EventCatalog {
        if path.hasSuffix(".csv.gz") || path.hasSuffix(".csv") {
            return try loadCSV(path: path, limit: limit)
        }
        return try EventCatalog.load(jsonLinesAt: path, limit: limit)
    }
}
