import Foundation
import Testing
@testable import Forest

/// The evaluator against XGBoost 3.2.0's own outputs (the oracle), for every fixture model.
@Suite struct GoldenParityTests {
    @Test func fixturesArePresent() {
        #expect(GoldenCase.all.count >= 20)
        #expect(GoldenCase.modelFiles.contains { $0.file.hasSuffix(".ubj") })
        #expect(GoldenCase.modelFiles.contains { $0.file.hasSuffix(".json") })
    }

    @Test("Margins are bit-identical to predict(output_margin=True)", arguments: GoldenCase.modelFiles)
    func marginsMatchBitForBit(_ model: GoldenModel) throws {
        let forest = try ForestModel.load(contentsOf: model.url)
        let golden = model.golden
        #expect(forest.featureCount == golden.featureCount)
        #expect(forest.objective.name == golden.objective)
        let margins = try forest.predictMargins(golden.flatRows)
        let expected = golden.margins.flatMap { $0 }
        #expect(margins.count == expected.count)
        for (index, value) in margins.enumerated() where value.bitPattern != expected[index] {
            Issue.record("\(model.file) row \(index / forest.outputCount): margin \(value) != XGBoost \(Float(bitPattern: expected[index]))")
        }
    }

    @Test("Transformed predictions are within 1 ulp of predict()", arguments: GoldenCase.modelFiles)
    func predictionsMatch(_ model: GoldenModel) throws {
        let forest = try ForestModel.load(contentsOf: model.url)
        let golden = model.golden
        let predictions = try forest.predict(golden.flatRows)
        let expected = golden.predictions.flatMap { $0 }.map(Float.init(bitPattern:))
        #expect(predictions.count == expected.count)
        #expect(forest.predictionCount == golden.predictions[0].count)
        var exact = 0
        for (index, value) in predictions.enumerated() {
            if value.bitPattern == expected[index].bitPattern { exact += 1 }
            #expect(ulpDistance(value, expected[index]) <= 1, "\(model.file) value \(index): \(value) vs \(expected[index])")
        }
        // glibc expf reproduces XGBoost exactly; allow the 1 ulp only as the documented tolerance.
        #expect(exact == expected.count, "\(model.file): \(expected.count - exact) predictions off by 1 ulp")
    }

    @Test("Leaf indices match pred_leaf", arguments: GoldenCase.modelFiles)
    func leavesMatch(_ model: GoldenModel) throws {
        let forest = try ForestModel.load(contentsOf: model.url)
        let golden = model.golden
        let leaves = try forest.predictLeaves(golden.flatRows)
        var checked = 0
        for (row, expected) in golden.leaves.enumerated() {
            guard let expected else { continue }
            let actual = Array(leaves[row * forest.treeCount ..< (row + 1) * forest.treeCount])
            #expect(actual == expected, "\(model.file) row \(row)")
            checked += 1
        }
        #expect(checked > 20)
    }

    @Test("The scalar reference evaluator also matches XGBoost", arguments: GoldenCase.all)
    func referenceMatches(_ golden: GoldenCase) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(golden.models[0]))
        let reference = ReferenceEvaluator(definition: definition)
        for (row, bits) in golden.rows.enumerated() {
            let margins = reference.margins(row: bits.map(Float.init(bitPattern:)))
            #expect(margins.map(\.bitPattern) == golden.margins[row], "\(golden.name) row \(row)")
        }
    }

    @Test("Legacy base_score formats (scalar, parentheses) give the same margins", arguments: [
        "binary_numeric_scalar_base.json", "binary_numeric_paren_base.json",
    ])
    func legacyBaseScore(_ file: String) throws {
        let golden = try #require(GoldenCase.all.first { $0.name == "binary_numeric" })
        let forest = try ForestModel(serialized: Fixtures.bytes(file))
        let margins = try forest.predictMargins(golden.flatRows)
        #expect(margins.map(\.bitPattern) == golden.margins.flatMap { $0 })
    }

    @Test func fixtureModelsExerciseTheirFeatures() throws {
        let partition = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("categorical_partition.json"))
        #expect(partition.summary.categoricalSplits > 0)
        #expect(partition.featureTypes.filter { $0 == "c" }.count == 2)
        #expect((partition.perfect?.categoryWords ?? partition.categoryWords).count > partition.summary.categoricalSplits * 2,
                "some category sets span several 32-bit words")
        let dart = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("dart.ubj"))
        #expect(dart.treeWeights != nil)
        #expect(dart.summary.booster == "dart")
        let softprob = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("multi_softprob.ubj"))
        #expect(softprob.outputCount == 3)
        #expect(softprob.treeCount == 24)
        let softmax = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("multi_softmax.json"))
        #expect(softmax.predictionCount == 1)
        let forest = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("random_forest.ubj"))
        #expect(forest.treeCount == 12)
        let multiTarget = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("multi_target.json"))
        #expect(multiTarget.outputCount == 2)
    }
}
