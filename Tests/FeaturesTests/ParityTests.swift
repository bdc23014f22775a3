import Foundation
import Testing

@testable import Features

/// The featurizer against the training pipeline: `models/train/fixtures.py` featurized these raw
/// events with `featurize.py` (and scored them with XGBoost); Swift must agree bit for bit.
@Suite struct ParityTests {
    struct Case {
        let raw: [UInt8]
        let record: [String: Any]
    }

    static func cases() throws -> [Case] {
        try TestSupport.jsonLines("parity.jsonl").map { record in
            let text = try #require(record["raw"] as? String)
            let raw = try #require(Data(base64Encoded: text))
            return Case(raw: Array(raw), record: record)
        }
    }

    @Test func fixtureCoversTheEdgeCases() throws {
        let cases = try Self.cases()
        #expect(cases.count >= 2000)
        let errors = cases.compactMap { $0.record["error"] as? String }
        #expect(Set(errors) == ["not_json", "not_object", "missing_id", "wrong_type", "too_large"])
        let rows = cases.compactMap { $0.record["row"] as? [NSNumber] }
        let nanBits = Float.nan.bitPattern
        #expect(rows.contains { $0.contains { $0.uint32Value == nanBits } }, "fixture has missing values")
    }

    @Test func featuresMatchPythonBitForBit() throws {
        let featurizer = Featurizer(spec: TestSupport.spec)
        var mismatches: [String] = []
        var row = [Float](repeating: 0, count: featurizer.featureCount)
        for (index, c) in try Self.cases().enumerated() {
            let result = c.raw.withUnsafeBytes { raw in
                row.withUnsafeMutableBufferPointer { out in
                    Result { () throws(FeatureError) in try featurizer.featurize(raw, into: out.baseAddress!) }
                }
            }
            let text = String(decoding: c.raw.prefix(160), as: UTF8.self)
            switch result {
            case .success(let info):
                guard let expected = c.record["row"] as? [NSNumber] else {
                    mismatches.append("#\(index): expected \(c.record["error"] ?? "?") but featurized: \(text)")
                    continue
                }
                let bits = row.map(\.bitPattern)
                let expectedBits = expected.map(\.uint32Value)
                if bits != expectedBits {
                    let columns = zip(bits, expectedBits).enumerated().filter { $1.0 != $1.1 }.map {
                        "\(TestSupport.spec.features[$0.offset].name): \(Float(bitPattern: $0.element.0)) vs python \(Float(bitPattern: $0.element.1))"
                    }
                    mismatches.append("#\(index): \(columns.joined(separator: ", ")) in \(text)")
                }
                let id = c.raw.withUnsafeBytes { info.id(in: $0) }
                if id != c.record["id"] as? String { mismatches.append("#\(index): id \(id)") }
                let ts = (c.record["event_ts"] as? NSNumber)?.int64Value
                if info.timestampMillis != ts { mismatches.append("#\(index): event_ts \(String(describing: info.timestampMillis)) vs \(String(describing: ts))") }
            case .failure(let error):
                let kind = c.record["error"] as? String
                let field = c.record["field"] as? String
                if error.code.rawValue != kind || (field != nil && error.field != field) {
                    mismatches.append("#\(index): got \(error) but python says \(kind ?? "valid") \(field ?? ""): \(text)")
                }
                #expect(!error.description.contains("\n"))
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }
}
