import Foundation
import Testing
@testable import Forest

/// The perfect-tree layout and its AVX2 kernel: taken where it should be, and bit-identical to the
/// portable Swift kernel, the reference evaluator and XGBoost at every batch size.
@Suite struct VectorKernelTests {
    /// Every golden model, numerical and categorical.
    static let allFiles: [String] = GoldenCase.modelFiles.map(\.file)
    /// `categorical_onehot.ubj` has sparse depth-4 trees (160 nodes would pad to 372 slots, beyond
    /// 16 bytes per node): it keeps the packed layout. Every other golden model is perfect.
    static let sparseFile = "categorical_onehot.ubj"
    static let perfectFiles: [String] = allFiles.filter { $0 != sparseFile }
    /// Golden models with categorical splits.
    static let categoricalFiles = ["categorical_onehot.ubj", "categorical_partition.json"]

    /// Whether this machine should run the AVX2 kernel (x86-64 Linux reports it in /proc/cpuinfo),
    /// unless `FOREST_KERNEL=portable` asks for the fallback.
    static var cpuHasAVX2: Bool {
        if ProcessInfo.processInfo.environment["FOREST_KERNEL"] == "portable" { return false }
        #if arch(x86_64) && os(Linux)
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.split(separator: " ").contains("avx2") }
        #else
        return false
        #endif
    }

    /// Margins of `rows` with the kernel forced to `kernel`.
    static func margins(_ model: ForestModel, _ rows: [Float], kernel: ForestModel.Kernel, blockSize: Int = ForestModel.defaultBlockSize) -> [Float] {
        let count = rows.count / model.featureCount
        var output = [Float](repeating: -1, count: count * model.outputCount)
        rows.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                model.run(rows: input.baseAddress!, count: count, output: out.baseAddress!, threads: 1, blockSize: blockSize, transformed: false, kernel: kernel)
            }
        }
        return output
    }

    @Test("Golden models compile to the perfect layout and use the vector kernel on AVX2 CPUs", arguments: perfectFiles)
    func vectorKernelIsTaken(_ file: String) throws {
        let model = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent(file))
        let perfect = try #require(model.perfect)
        #expect(model.nodes.isEmpty)
        #expect(PerfectForest.vectorKernelAvailable == Self.cpuHasAVX2)
        #expect(model.preferredKernel == (Self.cpuHasAVX2 ? .vector : .portable))
        #expect(model.kernelDescription == (Self.cpuHasAVX2 ? "avx2, perfect trees" : "portable, perfect trees"))
        // Memory: at most 16 bytes per stored node (padding included), plus 16-20 bytes per tree.
        #expect(perfect.nodeBytes <= 16 * model.summary.storedNodes, "\(perfect.nodeBytes) bytes for \(model.summary.storedNodes) nodes")
        #expect(perfect.depths.map(Int.init) == (try ForestModel.decodeDefinition(Fixtures.bytes(file))).trees.map(\.depth))
    }

    @Test func categoricalModelsArePerfect() throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes("categorical_partition.json"))
        let model = try ForestModel(definition: definition)
        let perfect = try #require(model.perfect)
        #expect(model.nodes.isEmpty)
        #expect(model.preferredKernel == (Self.cpuHasAVX2 ? .vector : .portable))
        let categorical = definition.trees.reduce(0) { sum, tree in
            sum + (0..<tree.nodeCount).filter { !tree.isLeaf($0) && tree.isCategorical[$0] }.count
        }
        #expect(categorical > 0 && model.summary.categoricalSplits == categorical)
        #expect(perfect.splits.filter { $0 & PerfectForest.categoricalFlag != 0 }.count == categorical)
        // Some category sets span several 32-bit words.
        #expect(perfect.categoryWords.count > categorical * 2)
    }

    @Test func sparseCategoricalModelKeepsThePackedLayout() throws {
        let model = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent(Self.sparseFile))
        #expect(model.perfect == nil)
        #expect(model.kernelDescription == "portable, packed nodes")
        #expect(model.summary.categoricalSplits > 0 && !model.categoryWords.isEmpty)
    }

    @Test("Forced portable kernel reproduces XGBoost's golden margins", arguments: GoldenCase.all)
    func portableKernelMatchesGoldens(_ golden: GoldenCase) throws {
        for file in golden.models {
            let model = try ForestModel(serialized: Fixtures.bytes(file))
            let expected = golden.margins.flatMap { $0 }
            #expect(Self.margins(model, golden.flatRows, kernel: .portable).map(\.bitPattern) == expected, "\(file)")
            if model.preferredKernel == .vector {
                #expect(Self.margins(model, golden.flatRows, kernel: .vector).map(\.bitPattern) == expected, "\(file)")
            }
        }
    }

    @Test("Vector and portable kernels agree with the reference at every batch size", arguments: allFiles)
    func kernelsAgreeAtEveryBatchSize(_ file: String) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(file))
        let model = try ForestModel(definition: definition)
        let reference = ReferenceEvaluator(definition: definition)
        let allRows = KernelDifferentialTests.edgeRows(for: definition, count: 131, seed: 99)
        var expected = [Float]()
        for row in 0..<131 {
            expected += reference.margins(row: Array(allRows[row * model.featureCount ..< (row + 1) * model.featureCount]))
        }
        let vectorAvailable = model.preferredKernel == .vector
        for count in [1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 129, 131] {
            let rows = Array(allRows[0 ..< count * model.featureCount])
            let want = expected[0 ..< count * model.outputCount].map(\.bitPattern)
            #expect(Self.margins(model, rows, kernel: .portable).map(\.bitPattern) == want, "\(file) portable, \(count) rows")
            // Block size 1 takes the portable kernel's single-row walk for every row.
            #expect(Self.margins(model, rows, kernel: .portable, blockSize: 1).map(\.bitPattern) == want, "\(file) portable, block 1")
            if vectorAvailable {
                #expect(Self.margins(model, rows, kernel: .vector).map(\.bitPattern) == want, "\(file) vector, \(count) rows")
                // Odd block sizes hand the kernel partial vectors in the middle of a batch.
                #expect(Self.margins(model, rows, kernel: .vector, blockSize: 5).map(\.bitPattern) == want, "\(file) vector, block 5")
            }
        }
    }

    @Test func edgeValuesAtEveryThresholdFollowXGBoostsRule() throws {
        // Every split threshold of the model, exactly and one ulp either side, plus NaN and ±inf,
        // in every feature at once: each row sends every node of the trees down a defined side.
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes("binary_numeric.json"))
        let model = try ForestModel(definition: definition)
        let reference = ReferenceEvaluator(definition: definition)
        var values: [Float] = [.nan, .infinity, -.infinity, 0, -0.0]
        for tree in definition.trees {
            for node in 0..<tree.nodeCount where !tree.isLeaf(node) {
                let threshold = tree.splitConditions[node]
                values += [threshold, threshold.nextUp, threshold.nextDown]
            }
        }
        var rows = [Float]()
        for value in values { rows += repeatElement(value, count: model.featureCount) }
        let expected = stride(from: 0, to: rows.count, by: model.featureCount).flatMap {
            reference.margins(row: Array(rows[$0 ..< $0 + model.featureCount]))
        }.map(\.bitPattern)
        #expect(Self.margins(model, rows, kernel: .portable).map(\.bitPattern) == expected)
        if model.preferredKernel == .vector {
            #expect(Self.margins(model, rows, kernel: .vector).map(\.bitPattern) == expected)
            for row in [0, 1, 2, 5, values.count - 1] {
                let one = Array(rows[row * model.featureCount ..< (row + 1) * model.featureCount])
                #expect(Self.margins(model, one, kernel: .vector).map(\.bitPattern) == [expected[row]], "single row \(row)")
            }
        }
    }

    @Test func predictLeavesWalksThePaddedTrees() throws {
        // Leaves above a tree's depth are padded: pred_leaf must still name the original node.
        let model = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("binary_numeric.json"))
        let perfect = try #require(model.perfect)
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes("binary_numeric.json"))
        #expect(definition.trees.contains { $0.leaves < 1 << $0.depth }, "fixture should have uneven trees")
        #expect(perfect.leafNodeIDs.allSatisfy { $0 >= 0 })
    }

    // MARK: - Categorical splits

    /// Rows whose every feature is drawn from category codes inside and beyond the model's sets
    /// and from values XGBoost treats as invalid or missing categories.
    static func categoryEdgeRows(featureCount: Int, count: Int, seed: UInt64) -> [Float] {
        let specials: [Float] = [-1, -0.5, -0.0, 0, 0.7, 1.9, 31, 32, 33, 63, 64, 100, 1e10, 16_777_216, 16_777_215,
                                 16_777_217, .nan, .infinity, -.infinity, 2.5, 5, 6]
        var generator = SplitMix64(seed: seed)
        return (0 ..< count * featureCount).map { _ in
            generator.next() % 3 == 0 ? specials[Int(generator.next() % UInt64(specials.count))] : Float(generator.next() % 40)
        }
    }

    /// Margins of `rows` from the reference evaluator, row by row.
    static func referenceMargins(_ definition: ModelDefinition, _ rows: [Float]) -> [UInt32] {
        let reference = ReferenceEvaluator(definition: definition)
        return stride(from: 0, to: rows.count, by: definition.featureCount).flatMap {
            reference.margins(row: Array(rows[$0 ..< $0 + definition.featureCount]))
        }.map(\.bitPattern)
    }

    @Test("Invalid and out-of-set categories follow XGBoost's rule in every kernel at every batch size", arguments: categoricalFiles)
    func categoricalEdgeValuesAtEveryBatchSize(_ file: String) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(file))
        let model = try ForestModel(definition: definition)
        #expect((model.perfect != nil) == (file != Self.sparseFile))
        let allRows = Self.categoryEdgeRows(featureCount: model.featureCount, count: 129, seed: 7)
        let expected = Self.referenceMargins(definition, allRows)
        for count in [1, 2, 7, 8, 9, 63, 64, 65, 129] {
            let rows = Array(allRows[0 ..< count * model.featureCount])
            let want = Array(expected[0 ..< count * model.outputCount])
            #expect(Self.margins(model, rows, kernel: .portable).map(\.bitPattern) == want, "\(file) portable, \(count) rows")
            #expect(Self.margins(model, rows, kernel: .portable, blockSize: 1).map(\.bitPattern) == want, "\(file) portable, block 1")
            if model.preferredKernel == .vector {
                #expect(Self.margins(model, rows, kernel: .vector).map(\.bitPattern) == want, "\(file) vector, \(count) rows")
                #expect(Self.margins(model, rows, kernel: .vector, blockSize: 5).map(\.bitPattern) == want, "\(file) vector, block 5")
            }
        }
        // pred_leaf walks the same categorical rule.
        let leaves = try model.predictLeaves(Array(allRows[0 ..< 9 * model.featureCount]))
        for row in 0..<9 {
            let input = Array(allRows[row * model.featureCount ..< (row + 1) * model.featureCount])
            for (tree, treeDefinition) in definition.trees.enumerated() {
                #expect(leaves[row * definition.trees.count + tree] == Int32(ReferenceEvaluator(definition: definition).leaf(tree: treeDefinition, row: input)))
            }
        }
    }

    /// The production model, `models/install-v1` (46 trees of depth 6, 1,812 of 2,744 splits
    /// categorical), found from this file's path.
    static let installModelURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/install-v1/model.json")

    @Test func productionModelRunsOnThePerfectLayoutExactly() throws {
        let definition = try ForestModel.decodeDefinition([UInt8](Data(contentsOf: Self.installModelURL)))
        let model = try ForestModel(definition: definition)
        let perfect = try #require(model.perfect)
        #expect(model.summary.categoricalSplits == 1_812)
        #expect(perfect.nodeBytes <= 16 * model.summary.storedNodes)
        #expect(model.kernelDescription == (Self.cpuHasAVX2 ? "avx2, perfect trees" : "portable, perfect trees"))
        // Half the rows mix category codes and invalid values, half are numerical edge rows.
        let rows = Self.categoryEdgeRows(featureCount: model.featureCount, count: 65, seed: 11)
            + KernelDifferentialTests.edgeRows(for: definition, count: 64, seed: 12)
        let expected = Self.referenceMargins(definition, rows)
        for count in [1, 7, 8, 64, 129] {
            let part = Array(rows[0 ..< count * model.featureCount])
            let want = Array(expected[0 ..< count])
            #expect(Self.margins(model, part, kernel: .portable).map(\.bitPattern) == want, "portable, \(count) rows")
            if model.preferredKernel == .vector {
                #expect(Self.margins(model, part, kernel: .vector).map(\.bitPattern) == want, "vector, \(count) rows")
            }
        }
    }

    // MARK: - Models that keep the packed layout

    /// `binary_numeric.json` with tree 0 replaced by a chain: node 2k splits on feature k % 8 into
    /// leaf 2k + 1 (left) and node 2k + 2 (right), `depth` levels deep.
    static func chainModel(depth: Int) throws -> [UInt8] {
        var document = try Fixtures.jsonObject("binary_numeric.json")
        var learner = document["learner"] as! [String: Any]
        var booster = learner["gradient_booster"] as! [String: Any]
        var model = booster["model"] as! [String: Any]
        var trees = model["trees"] as! [[String: Any]]
        let count = 2 * depth + 1
        var left = [Int](repeating: -1, count: count), right = [Int](repeating: -1, count: count)
        var parents = [Int](repeating: 2_147_483_647, count: count)
        var features = [Int](repeating: 0, count: count), conditions = [Double](repeating: 0, count: count)
        var defaults = [Int](repeating: 0, count: count)
        for level in 0..<depth {
            let node = 2 * level
            left[node] = node + 1
            right[node] = node + 2
            parents[node + 1] = node
            parents[node + 2] = node
            features[node] = level % 8
            conditions[node] = Double(level % 3) - 1
            defaults[node] = level % 2
            conditions[node + 1] = Double(level + 1) * 0.01
        }
        conditions[count - 1] = -0.5
        var tree = trees[0]
        tree["left_children"] = left
        tree["right_children"] = right
        tree["parents"] = parents
        tree["split_indices"] = features
        tree["split_conditions"] = conditions
        tree["default_left"] = defaults
        tree["split_type"] = [Int](repeating: 0, count: count)
        tree["base_weights"] = [Double](repeating: 0, count: count)
        tree["loss_changes"] = [Double](repeating: 0, count: count)
        tree["sum_hessian"] = [Double](repeating: 1, count: count)
        var parameters = tree["tree_param"] as! [String: Any]
        parameters["num_nodes"] = String(count)
        tree["tree_param"] = parameters
        trees[0] = tree
        model["trees"] = trees
        booster["model"] = model
        learner["gradient_booster"] = booster
        document["learner"] = learner
        return [UInt8](try JSONSerialization.data(withJSONObject: document))
    }

    @Test("Trees too sparse or deep to pad keep the packed layout and stay exact", arguments: [3, 20])
    func sparseDeepTreesFallBack(_ depth: Int) throws {
        let definition = try ForestModel.decodeDefinition(Self.chainModel(depth: depth))
        let model = try ForestModel(definition: definition)
        #expect(definition.trees[0].depth == depth)
        // A depth-3 chain pads to 15 slots for 7 nodes in a model of full trees: still compact.
        #expect((model.perfect == nil) == (depth == 20))
        let reference = ReferenceEvaluator(definition: definition)
        let rows = KernelDifferentialTests.edgeRows(for: definition, count: 77, seed: 5)
        let expected = stride(from: 0, to: rows.count, by: model.featureCount).flatMap {
            reference.margins(row: Array(rows[$0 ..< $0 + model.featureCount]))
        }.map(\.bitPattern)
        #expect(try model.predictMargins(rows).map(\.bitPattern) == expected)
        #expect(Self.margins(model, rows, kernel: .portable).map(\.bitPattern) == expected)
        let leaves = try model.predictLeaves(Array(rows[0 ..< model.featureCount]))
        #expect(leaves[0] % 2 == 1 || leaves[0] == Int32(2 * depth), "tree 0 ends on a leaf of the chain")
    }
}
