extension EventSource {
    static func loadCSV(path: String) throws(LoadSimulatorError) -> EventCatalog {
        throw .badSource("\(path): reading .csv.gz test data needs the Features reader; give a JSON-lines file for now")
    }
}
