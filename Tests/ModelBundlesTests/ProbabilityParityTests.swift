import Foundation
import Testing

@testable import Features
@testable import ModelBundles

/// End to end: the Swift featurizer's rows scored by `Forest` equal XGBoost's probabilities.
@Suite struct ProbabilityParityTests {
    /// The parity fixture's raw events with the records `models/train/fixtures.py` wrote for them.
    static func cases() throws -> [(raw: [UInt8], record: [String: Any])] {
        try TestSupport.jsonLines(TestSupport.parityFixture).map { record in
            let text = try #require(record["raw"] as? String)
            let raw = try #require(Data(base64Encoded: text))
            return (Array(raw), record)
        }
    }

    @Test func probabilitiesMatchXGBoostExactly() throws {
        let bundle = try ModelBundle.load(path: TestSupport.bundlePath)
        let featurizer = bundle.makeFeaturizer()
        var batch = FeatureBatch(featureCount: featurizer.featureCount)
        var expected: [UInt32] = []
        for c in try ProbabilityParityTests.cases() {
            guard let p = c.record["p"] as? NSNumber else { continue }
            let result = c.raw.withUnsafeBytes { batch.append($0, using: featurizer) }
            #expect((try? result.get()) != nil)
            expected.append(p.uint32Value)
        }
        #expect(expected.count >= 2000)
        let probabilities = try bundle.predict(batch)
        let mismatches = zip(probabilities, expected).enumerated().filter { $1.0.bitPattern != $1.1 }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(expected.count) differ, e.g. \(mismatches.prefix(3).map { "#\($0.offset): \($0.element.0) vs \(Float(bitPattern: $0.element.1))" })")
    }
}
