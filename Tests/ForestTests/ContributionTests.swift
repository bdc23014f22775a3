import Foundation
import Testing
@testable import Forest

/// TreeSHAP contributions against XGBoost 3.2.0's `predict(pred_contribs=True)` (the goldens), the
/// fast explainer against the simple reference, and the model checks explanations rely on.
@Suite struct ContributionTests {
    @Test("Contributions are bit-identical to pred_contribs", arguments: GoldenCase.modelFiles)
    func contributionsMatchXGBoost(_ model: GoldenModel) throws {
        let forest = try ForestModel.load(contentsOf: model.url)
        let golden = model.golden
        #expect(forest.explanationUnavailableReason == nil)
        let contributions = try forest.contributions(golden.flatRows)
        let width = forest.contributionCount
        var checked = 0
        for (row, expected) in golden.contribs.enumerated() {
            guard let expected else { continue }
            checked += 1
            let actual = contributions[row * width ..< (row + 1) * width]
            #expect(actual.count == expected.count)
            for (column, (value, bits)) in zip(actual, expected).enumerated() where value.bitPattern != bits {
                let theirs = Float(bitPattern: bits)
                Issue.record("\(model.file) row \(row) column \(column): \(value) != XGBoost \(theirs) (difference \(abs(value - theirs)))")
            }
        }
        #expect(checked > 20)
    }

    @Test("Contributions plus bias sum to the margin", arguments: GoldenCase.all)
    func contributionsSumToMargin(_ golden: GoldenCase) throws {
        let forest = try ForestModel(serialized: Fixtures.bytes(golden.models[0]))
        let rows = golden.flatRows
        let contributions = try forest.contributions(rows)
        let margins = try forest.predictMargins(rows)
        let columns = forest.featureCount + 1
        for row in 0..<golden.rows.count {
            for output in 0..<forest.outputCount {
                let start = (row * forest.outputCount + output) * columns
                let sum = contributions[start ..< start + columns].reduce(Float(0), +)
                let margin = margins[row * forest.outputCount + output]
                // ±inf inputs are valid rows for scoring too; their contributions are as finite as any.
                #expect(abs(sum - margin) <= 1e-5 * max(1, abs(margin)), "\(golden.name) row \(row) output \(output): \(sum) vs margin \(margin)")
            }
        }
    }

    @Test("The reference explainer matches XGBoost", arguments: GoldenCase.all)
    func referenceMatchesXGBoost(_ golden: GoldenCase) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(golden.models[0]))
        let reference = ReferenceExplainer(definition: definition)
        for (row, expected) in golden.contribs.enumerated() {
            guard let expected else { continue }
            let actual = try #require(reference.contributions(row: golden.rows[row].map(Float.init(bitPattern:))))
            #expect(actual.map(\.bitPattern) == expected, "\(golden.name) row \(row)")
        }
    }

    @Test("The fast explainer equals the reference on edge rows, any thread count", arguments: GoldenCase.all)
    func fastMatchesReference(_ golden: GoldenCase) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(golden.models[0]))
        let model = try ForestModel(definition: definition)
        let reference = ReferenceExplainer(definition: definition)
        let count = 97
        let rows = KernelDifferentialTests.edgeRows(for: definition, count: count, seed: 19)
        let fast = try model.contributions(rows)
        let width = model.contributionCount
        for row in 0..<count {
            let input = Array(rows[row * model.featureCount ..< (row + 1) * model.featureCount])
            let expected = try #require(reference.contributions(row: input))
            #expect(Array(fast[row * width ..< (row + 1) * width]).map(\.bitPattern) == expected.map(\.bitPattern), "\(golden.name) row \(row)")
        }
        for threads in [2, 3] {
            #expect(try model.contributions(rows, threads: threads).map(\.bitPattern) == fast.map(\.bitPattern), "\(threads) threads")
        }
    }
}
