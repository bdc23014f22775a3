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
