import Foundation
import Testing

@testable import Features

@Suite struct TestDataReaderTests {
    /// The reader turns CSV rows (test-data rows plus quoting edge cases) into exactly the JSON
    /// events Python's csv module + featurize.csv_row_to_event produce.
    @Test func csvRowsBecomeTheSameEventsAsInPython() throws {
        let expected = try TestSupport.jsonLines("csv_sample.jsonl")
        let reader = try TestDataReader(path: try TestSupport.fixture("csv_sample.csv.gz").path)
        #expect(reader.header.first == "id")
        #expect(reader.labelColumn == reader.header.count - 1)
        var event: [UInt8] = []
        for (index, record) in expected.enumerated() {
            let row = try #require(try reader.next(into: &event), "row \(index) missing")
            let text = try #require(record["event"] as? String)
            let bytes = try #require(Data(base64Encoded: text))
            #expect(event == Array(bytes), "row \(index): \(String(decoding: event, as: UTF8.self))")
            #expect(row.label == (record["label"] as? Int))
        }
        #expect(try reader.next(into: &event) == nil)
    }

    @Test func committedTestDataHasEnoughRowsAndEveryRowFeaturizes() throws {
        let reader = try TestDataReader(path: TestSupport.testDataPath)
        let featurizer = Featurizer(spec: TestSupport.spec)
        var batch = FeatureBatch(featureCount: featurizer.featureCount, capacity: 1024)
        var event: [UInt8] = []
        var rows = 0, installs = 0
        while let row = try reader.next(into: &event) {
            rows += 1
            installs += row.label ?? 0
            let result = event.withUnsafeBytes { batch.append($0, using: featurizer) }
            if case .failure(let error) = result { Issue.record("row \(rows): \(error)") }
            if batch.count == 1024 { batch.removeAll() }
        }
        #expect(rows >= 200_000)
        #expect(installs > 0 && installs < rows / 20)
    }

    @Test func missingFileIsAClearError() {
        #expect {
            _ = try TestDataReader(path: "/nonexistent/test_data.csv.gz")
        } throws: { error in
            (error as? FeatureError)?.description == "cannot open test data '/nonexistent/test_data.csv.gz'"
        }
    }
}

@Suite struct EventLineReaderTests {
    @Test func readsLinesSkippingBlanksAndCarriageReturns() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("events-\(UUID().uuidString).jsonl").path
        let long = String(repeating: "x", count: 300_000)  // longer than the reader's 256 KiB chunk
        try Data("{\"id\":\"a\"}\r\n\n  \n{\"id\":\"\(long)\"}\n{\"id\":\"c\"}".utf8).write(to: URL(fileURLWithPath: path))
        let reader = try EventLineReader(path: path)
        var event: [UInt8] = []
        var lines: [(Int, Int)] = []
        while try reader.next(into: &event) { lines.append((reader.line, event.count)) }
        #expect(lines.map(\.0) == [1, 4, 5])
        #expect(lines.map(\.1) == [10, long.count + 9, 10])
    }

    @Test func overlongLinesAreCutSoTheFeaturizerRejectsThemBySize() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("events-\(UUID().uuidString).jsonl").path
        try Data((String(repeating: "y", count: 5000) + "\n{}\n").utf8).write(to: URL(fileURLWithPath: path))
        let reader = try EventLineReader(path: path, maxLineBytes: 1000)
        var event: [UInt8] = []
        #expect(try reader.next(into: &event))
        #expect(event.count == 1001)
        #expect(try reader.next(into: &event))
        #expect(event == Array("{}".utf8))
        #expect(try reader.next(into: &event) == false)
    }
}
