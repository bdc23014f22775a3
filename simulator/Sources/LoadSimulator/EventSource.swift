/// Reads the events a load test replays from a file.
public enum EventSource {
    /// Loads `path`: a `.csv.gz` test data file (read through the Features library's reader, which
    /// turns each row into the raw event JSON the scorer consumes) or a JSON-lines file.
    ///
    /// - Throws: `LoadSimulatorError.badSource` naming the file and the problem.
    public static func load(path: String) throws(LoadSimulatorError) -> EventCatalog {
        if path.hasSuffix(".csv.gz") || path.hasSuffix(".csv") {
            return try loadCSV(path: path)
        }
        return try EventCatalog.load(jsonLinesAt: path)
    }
}
