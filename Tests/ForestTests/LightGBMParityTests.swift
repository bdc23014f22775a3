import Foundation
import Testing
@testable import Forest

/// One LightGBM golden case written by `Fixtures/LightGBM/generate_fixtures.py` with LightGBM 4.7.0.
struct LightGBMCase: Decodable, Sendable, CustomStringConvertible {
    let name: String
    let model: String
    let featureCount: Int
    let rows: [[UInt32]]
    let raw: [[String]]
    let predictions: [[String]]
    let leaves: [[Int32]]

    var description: String { name }

    enum CodingKeys: String, CodingKey {
        case name, model, rows, raw, predictions, leaves
        case featureCount = "feature_count"
    }

    static let folder = Fixtures.folder.appendingPathComponent("LightGBM")
    var url: URL { Self.folder.appendingPathComponent(model) }
    var flatRows: [Float] { rows.flatMap { $0.map(Float.init(bitPattern:)) } }
    var rawBits: [UInt64] { raw.flatMap { $0.map { UInt64($0, radix: 16)! } } }
    var predictionBits: [UInt64] { predictions.flatMap { $0.map { UInt64($0, radix: 16)! } } }

    static let all: [LightGBMCase] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasSuffix(".expected.json") }.sorted().compactMap { file in
            guard let data = try? Data(contentsOf: folder.appendingPathComponent(file)) else { return nil }
            return try? JSONDecoder().decode(LightGBMCase.self, from: data)
        }
    }()
}

/// LightGBM text models against LightGBM 4.7.0's own outputs: raw scores and predictions bit for
/// bit (float64), leaf indices equal, through every layout the models compile to.
@Suite struct LightGBMParityTests {
    @Test func fixturesCoverTheFormat() throws {
        let cases = LightGBMCase.all
        #expect(cases.count >= 20)
        let models = try cases.map { try ForestModel.load(contentsOf: $0.url) }
        #expect(models.contains { $0.perfect != nil }, "some fixture compiles to perfect trees")
        #expect(models.contains { $0.perfect == nil }, "some fixture keeps packed nodes")
        #expect(models.contains { $0.summary.categoricalSplits > 0 })
        #expect(models.contains { $0.float64?.linearModels.isEmpty == false })
        #expect(models.contains { $0.float64?.columnRules.contains { $0.rule.contains(.zeroIsMissing) } == true })
        #expect(models.contains { $0.float64?.averageDivisor != nil })
        #expect(models.contains { $0.outputCount == 3 })
        let kinds = Set(try cases.map { try LightGBMModel.parse(Fixtures.bytes("LightGBM/" + $0.model)).trees.flatMap(\.decisionTypes).map { $0 >> 2 & 3 } }.joined())
        #expect(kinds == [0, 1, 2], "missing types None, Zero and NaN all appear")
    }

    @Test("Raw scores are bit-identical to predict(raw_score=True)", arguments: LightGBMCase.all)
    func rawScores(_ golden: LightGBMCase) throws {
        let model = try ForestModel.load(contentsOf: golden.url)
        #expect(model.featureCount == golden.featureCount)
        #expect(model.sumsInFloat64)
        let raw = try model.predictMarginsFloat64(golden.flatRows)
        let expected = golden.rawBits
        #expect(raw.count == expected.count)
        for (index, value) in raw.enumerated() where value.bitPattern != expected[index] {
            Issue.record("\(golden.name) row \(index / model.outputCount): raw \(value) != LightGBM \(Double(bitPattern: expected[index]))")
        }
        // The Float32 entry point rounds the same sums.
        let narrow = try model.predictMargins(golden.flatRows)
        #expect(narrow.map(\.bitPattern) == raw.map { Float($0).bitPattern })
    }

    @Test("Predictions are bit-identical to predict()", arguments: LightGBMCase.all)
    func predictions(_ golden: LightGBMCase) throws {
        let model = try ForestModel.load(contentsOf: golden.url)
        let predictions = try model.predictFloat64(golden.flatRows, threads: 2)
        let expected = golden.predictionBits
        #expect(predictions.count == expected.count)
        for (index, value) in predictions.enumerated() where value.bitPattern != expected[index] {
            Issue.record("\(golden.name) value \(index): \(value) != LightGBM \(Double(bitPattern: expected[index]))")
        }
        #expect(try model.predict(golden.flatRows).map(\.bitPattern) == predictions.map { Float($0).bitPattern })
    }

    @Test("Leaf indices match pred_leaf", arguments: LightGBMCase.all)
    func leaves(_ golden: LightGBMCase) throws {
        let model = try ForestModel.load(contentsOf: golden.url)
        let leaves = try model.predictLeaves(golden.flatRows)
        #expect(leaves == golden.leaves.flatMap { $0 })
    }

    @Test("The float64 reference evaluator also matches LightGBM", arguments: LightGBMCase.all)
    func referenceMatches(_ golden: LightGBMCase) throws {
        let reference = LightGBMReference(model: try LightGBMModel.parse(Fixtures.bytes("LightGBM/" + golden.model)))
        let width = reference.model.treesPerIteration
        for (row, bits) in golden.rows.enumerated() {
            let raw = reference.rawScores(bits.map(Float.init(bitPattern:)))
            #expect(raw.map(\.bitPattern) == Array(golden.rawBits[row * width..<(row + 1) * width]), "\(golden.name) row \(row)")
        }
    }
}
