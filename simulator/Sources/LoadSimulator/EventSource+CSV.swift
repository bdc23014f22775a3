import Features

extension EventSource {
    /// Reads a test data CSV (gzip or plain) through the Features library's reader: each row becomes
    /// the raw JSON event the training pipeline featurized (the label column is left out of the
    /// event and kept as its label: installed when positive).
    static func loadCSV(path: String, limit: Int?) throws(LoadSimulatorError) -> EventCatalog {
        var events: [[UInt8]] = []
        var labels: [Bool?] = []
        do throws(FeatureError) {
            let reader = try TestDataReader(path: path)
            var event: [UInt8] = []
            while events.count < (limit ?? Int.max), let row = try reader.next(into: &event) {
                events.append(event)
                labels.append(row.label.map { $0 > 0 })
            }
        } catch {
            throw .badSource("\(path): \(error.description)")
        }
        guard !events.isEmpty else { throw .badSource("\(path) holds a header but no events") }
        do throws(LoadSimulatorError) {
            return try EventCatalog(events: events, labels: labels)
        } catch {
            throw .badSource("\(path): \(error.message)")
        }
    }
}
