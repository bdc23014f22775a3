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
                #expect(abs(sum - margin) <= 1e-5, "\(golden.name) row \(row) output \(output): \(sum) vs margin \(margin)")
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

    /// The explainer kernels this machine can run: the Swift walk always, the 8-lane (AVX2) and
    /// 16-lane (AVX-512) kernels when the CPU has them.
    static var kernelLanes: [Int] {
        [0, 8, 16].filter { $0 == 0 || $0 <= Int(TreeExplainer.vectorLanes) }
    }

    static func contributions(_ model: ForestModel, _ rows: [Float], lanes: Int, threads: Int = 1) throws -> [Float] {
        let explainer = try model.explainer.get()
        let count = rows.count / model.featureCount
        var output = [Float](repeating: .nan, count: count * model.contributionCount)
        rows.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                explainer.explain(rows: input.baseAddress!, count: count, output: out.baseAddress!, threads: threads, lanes: lanes)
            }
        }
        return output
    }

    @Test("Every kernel (Swift walk, 8 and 16 lanes) gives the reference's bits, for any row count", arguments: GoldenCase.all)
    func kernelsMatchReference(_ golden: GoldenCase) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(golden.models[0]))
        let model = try ForestModel(definition: definition)
        let reference = ReferenceExplainer(definition: definition)
        let rows = KernelDifferentialTests.edgeRows(for: definition, count: 41, seed: 23)
        var expected = [Float]()
        for row in 0..<41 {
            expected += try #require(reference.contributions(row: Array(rows[row * model.featureCount ..< (row + 1) * model.featureCount])))
        }
        for lanes in Self.kernelLanes {
            // 41 rows: whole blocks and a tail; also every count up to 17 (tails of 1...8 and 9...16).
            #expect(try Self.contributions(model, rows, lanes: lanes).map(\.bitPattern) == expected.map(\.bitPattern), "\(lanes) lanes")
            for count in 1...17 {
                let prefix = Array(rows[0 ..< count * model.featureCount])
                #expect(try Self.contributions(model, prefix, lanes: lanes).map(\.bitPattern)
                        == Array(expected[0 ..< count * model.contributionCount]).map(\.bitPattern), "\(lanes) lanes, \(count) rows")
            }
            #expect(try Self.contributions(model, rows, lanes: lanes, threads: 2).map(\.bitPattern) == expected.map(\.bitPattern))
        }
    }

    @Test func vectorKernelsAreUsedWhereTheCPUHasThem() throws {
        let model = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("binary_numeric.json"))
        let explainer = try model.explainer.get()
        let flags = cpuFlags()
        let expected = ProcessInfo.processInfo.environment["FOREST_KERNEL"] == "portable" ? 0
            : ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains) ? (ProcessInfo.processInfo.environment["FOREST_KERNEL"] == "avx2" ? 8 : 16)
            : flags.contains("avx2") ? 8 : 0
        #expect(TreeExplainer.vectorLanes == expected)
        #expect(explainer.preferredLanes == expected)
        if expected < 16 {
            // Not an error: this CPU (or FOREST_KERNEL) rules the 16-lane kernel out, so only the others ran above.
            print("ContributionTests: the AVX-512 TreeSHAP kernel is not tested on this CPU (no AVX-512 F/DQ/BW/VL or FOREST_KERNEL set)")
        }
    }

    @Test func aModelWithoutCoversCannotExplainAndSaysWhy() throws {
        var model = try Fixtures.jsonObject("binary_numeric.json")
        var learner = model["learner"] as! [String: Any]
        var booster = learner["gradient_booster"] as! [String: Any]
        var inner = booster["model"] as! [String: Any]
        var trees = inner["trees"] as! [[String: Any]]
        trees[3].removeValue(forKey: "sum_hessian")
        inner["trees"] = trees
        booster["model"] = inner
        learner["gradient_booster"] = booster
        model["learner"] = learner
        let forest = try ForestModel(serialized: [UInt8](JSONSerialization.data(withJSONObject: model)))
        let reason = try #require(forest.explanationUnavailableReason)
        #expect(reason.contains("tree 3") && reason.contains("sum_hessian") && !reason.contains("\n"))
        #expect(throws: ForestError.self) { try forest.contributions([Float](repeating: 0, count: forest.featureCount)) }
        // Scoring does not need covers.
        #expect(try forest.predict([Float](repeating: 0, count: forest.featureCount)).count == 1)
    }

    @Test("Covers that are negative or not finite rule explanations out, naming tree and node, but not scoring",
          arguments: ["-1E0", "1E400"])
    func invalidCoversRuleExplanationsOut(_ cover: String) throws {
        var text = try String(contentsOf: Fixtures.folder.appendingPathComponent("binary_numeric.json"), encoding: .utf8)
        let range = try #require(text.range(of: "\"sum_hessian\":["))
        let end = try #require(text[range.upperBound...].firstIndex(of: ","))
        text.replaceSubrange(range.upperBound ..< end, with: cover)
        let forest = try ForestModel(serialized: Array(text.utf8))
        let reason = try #require(forest.explanationUnavailableReason, "a cover of \(cover) was accepted")
        #expect(reason.contains("tree 0, node 0") && reason.contains("cover") && !reason.contains("\n"))
        let golden = try #require(GoldenCase.all.first { $0.name == "binary_numeric" })
        #expect(try forest.predictMargins(golden.flatRows).map(\.bitPattern) == golden.margins.flatMap { $0 })
    }

    @Test func rankingPicksTheLargestMagnitudesFirst() {
        let values: [Float] = [0.5, -2, 0, 1, -0.5, .nan, 3]
        var indices: [Int32] = []
        values.withUnsafeBufferPointer { ContributionRanking.top(3, of: $0, into: &indices) }
        #expect(indices == [6, 1, 3])
        values.withUnsafeBufferPointer { ContributionRanking.top(10, of: $0, into: &indices) }
        #expect(indices == [6, 1, 3, 0, 4], "zeros and NaN are no reasons; ties keep the lower index first")
        values.withUnsafeBufferPointer { ContributionRanking.top(0, of: $0, into: &indices) }
        #expect(indices.isEmpty)
    }
}

/// The CPU's feature flags as /proc/cpuinfo lists them (empty where there is none).
func cpuFlags() -> Set<String> {
    #if os(Linux)
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    guard let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(line.split(separator: " ").map(String.init))
    #else
    return []
    #endif
}
