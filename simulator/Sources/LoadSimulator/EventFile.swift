import Foundation

extension EventCatalog {
    /// Loads the events of a JSON-lines file (one JSON object per line; blank lines are skipped), at
    /// most `limit` of them.
    ///
    /// - Throws: `LoadSimulatorError.badSource` naming the file when it cannot be read or holds no
    ///   events, or naming the two lines that share an id.
    public static func load(jsonLinesAt path: String, limit: Int? = nil) throws(LoadSimulatorError) -> EventCatalog {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .badSource("cannot read \(path): \(error.localizedDescription)")
        }
        let events = Array(splitLines(Array(data)).prefix(limit ?? Int.max))
        guard !events.isEmpty else { throw .badSource("\(path) holds no events (expected one JSON object per line)") }
        do throws(LoadSimulatorError) {
            return try EventCatalog(events: events)
        } catch {
            throw .badSource("\(path): \(error.message)")
        }
    }

    /// The non-blank lines of `bytes`, without their line endings.
    static func splitLines(_ bytes: [UInt8]) -> [[UInt8]] {
        var events: [[UInt8]] = []
        var start = 0
        func take(_ end: Int) {
            var last = end
            while last > start, [0x0D, 0x20, 0x09].contains(bytes[last - 1]) { last -= 1 }
            var first = start
            while first < last, [0x20, 0x09].contains(bytes[first]) { first += 1 }
            if first < last { events.append(Array(bytes[first..<last])) }
        }
        for index in bytes.indices where bytes[index] == 0x0A {
            take(index)
            start = index + 1
        }
        take(bytes.count)
        return events
    }
}
