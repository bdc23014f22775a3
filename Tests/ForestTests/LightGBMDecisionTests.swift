import Foundation
import Testing
@testable import Forest

/// The float32 bounds the kernels compare against decide exactly as LightGBM's float64 `x <= t`
/// with its missing types and zero band: compiled models against ``LightGBMReference`` on edge
/// rows at and around every threshold, through the perfect-tree and the packed layouts.
@Suite struct LightGBMDecisionTests {
    /// A model whose trees are single splits, one per (threshold, missing type, default side), on
    /// feature 0 (missing type None), 1 (Zero) or 2 (NaN): LightGBM never mixes missing types on a
    /// feature. `deepChain` appends a tree deeper than the perfect layout allows (packed layout).
    static func splitModel(thresholds: [Double], deepChain: Bool) -> String {
        var trees: [String] = []
        for threshold in thresholds {
            for decision in [0, 2, 4, 6, 8, 10] {  // missing None/Zero/NaN × default right/left
                trees.append(LightGBMText.tree(
                    leaves: 2, splitFeature: [decision / 4], threshold: [threshold.description], decisionType: [decision],
                    left: [-1], right: [-2], leafValues: ["0.25", "-1.5"]))
            }
        }
        if deepChain {
            // 20 splits in a chain on feature 3: depth 20 > 16.
            let count = 20
            trees.append(LightGBMText.tree(
                leaves: count + 1, splitFeature: Array(repeating: 3, count: count),
                threshold: (0..<count).map { "\(Double($0) - 10)" }, decisionType: Array(repeating: 2, count: count),
                left: (0..<count).map { -($0 + 1) }, right: (0..<count).map { $0 + 1 < count ? $0 + 1 : -(count + 1) },
                leafValues: (0...count).map { "\(Double($0) * 0.001)" }))
        }
        return LightGBMText.model(features: 4, trees: trees)
    }

    /// Float32 inputs at and around `threshold` and LightGBM's zero band.
    static func edgeValues(_ thresholds: [Double]) -> [Float] {
        var values: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        for magnitude: Float in [1e-35, 1e-36, 1e-45, 1, 0.5] {
            for value in [magnitude, magnitude.nextUp, magnitude.nextDown] { values += [value, -value] }
        }
        for threshold in thresholds where threshold.isFinite {
            var below = Float(threshold)
            if Double(below) > threshold { below = below.nextDown }
            for value in [below, below.nextDown, below.nextUp, below.nextUp.nextUp, Float(threshold)] where !value.isNaN {
                values.append(value)
            }
        }
        return values
    }

    static let thresholds: [Double] = [
        0, -0.0, 1, -1, 0.5, 1.0000000180025095e-35, -1.0000000180025095e-35, 5e-36, -5e-36, 1e-40, -1e-40,
        Double(Float(1e-35).nextUp), Double(Float(1e-35).nextDown), -Double(Float(1e-35).nextUp),
        0.1, -0.1, 0.4954198300838471, -0.49626554548740381, 1e30, -1e30, 3.4028235677973366e+38, 1e300, -1e300,
        16777217, -16777217, Double(Float(0.1).nextUp) - 1e-12, 1.0 + 1e-16, 2.5000000000000004,
    ]

    /// LightGBM writes `inf` for a split that sends only NaN right (`-inf` sends only -inf left).
    static let infiniteThresholds: [Double] = [.infinity, -.infinity, 1, -1, 0, 1e30]

    @Test("Single splits at edge thresholds", arguments: [false, true], [false, true])
    func singleSplits(deepChain: Bool, infinite: Bool) throws {
        let thresholds = infinite ? Self.infiniteThresholds : Self.thresholds
        let text = Self.splitModel(thresholds: thresholds, deepChain: deepChain)
        let model = try ForestModel(serialized: Array(text.utf8))
        #expect((model.perfect == nil) == deepChain)
        let reference = LightGBMReference(model: try LightGBMModel.parse(Array(text.utf8)))
        let values = Self.edgeValues(thresholds)
        let rows: [Float] = values.flatMap { x -> [Float] in [x, x, x, 0.5] }
        let raw = try model.predictMarginsFloat64(rows)
        let leaves = try model.predictLeaves(rows)
        for (row, x) in values.enumerated() {
            let expected = reference.rawScores([x, x, x, 0.5])
            #expect(raw[row].bitPattern == expected[0].bitPattern, "x = \(x) (\(x.bitPattern))")
            #expect(leaves[row * model.treeCount..<(row + 1) * model.treeCount].map(Int.init) == reference.leaves([x, x, x, 0.5]), "x = \(x)")
        }
    }

    @Test func leftBoundIsTheFirstFloatGoingRight() {
        for threshold in Self.thresholds + Self.infiniteThresholds {
            let bound = LightGBMModel.leftBound(threshold: threshold)
            for x in Self.edgeValues([threshold]) where !x.isNaN {
                let lightGBM = LightGBMReference.inputValue(x) <= threshold
                // A feature with an `inf` threshold reads +inf as the largest float (ColumnRule).
                let input = threshold == .infinity && x == .infinity ? Float.greatestFiniteMagnitude : x
                #expect((input < bound) == lightGBM, "t = \(threshold), x = \(x)")
            }
        }
    }

    /// Categorical splits: LightGBM truncates toward zero (-0.5 is category 0), sends NaN, negative
    /// and unlisted categories right, and reads values beyond `int` as INT_MIN (right).
    @Test("Categorical splits on edge values", arguments: [false, true])
    func categoricalSplits(withZeroMissing: Bool) throws {
        // Sets: {0, 2, 33}, {1}, {}, {31, 32, 63}.
        let sets: [[Int]] = [[0, 2, 33], [1], [], [31, 32, 63]]
        var words: [UInt32] = [], boundaries = [0]
        for set in sets {
            var bits = [UInt32](repeating: 0, count: (set.max() ?? 0) / 32 + 1)
            for category in set { bits[category / 32] |= 1 << UInt32(category % 32) }
            words += bits
            boundaries.append(words.count)
        }
        var trees = [LightGBMText.tree(
            leaves: 5, splitFeature: [0, 0, 0, 0], threshold: ["0", "1", "2", "3"], decisionType: [1, 9, 1, 9],
            left: [1, -1, -3, -4], right: [2, -2, 3, -5], leafValues: ["1", "2", "4", "8", "16"],
            categories: (boundaries, words))]
        if withZeroMissing {
            // A missing_type=Zero split on feature 1 rewrites that column; feature 0 stays as is.
            trees.append(LightGBMText.tree(leaves: 2, splitFeature: [1], threshold: ["0.5"], decisionType: [4], left: [-1], right: [-2], leafValues: ["32", "64"]))
        }
        let text = LightGBMText.model(features: 2, trees: trees, infos: "0:1:2 [-1:1]")
        let model = try ForestModel(serialized: Array(text.utf8))
        let reference = LightGBMReference(model: try LightGBMModel.parse(Array(text.utf8)))
        let values: [Float] = [
            .nan, .infinity, -.infinity, -1, -0.99, -0.5, -1e-36, -0.0, 0, 1e-36, 0.3, 0.7, 1, 1.9, 2, 2.5, 31, 32, 33, 63, 64,
            1e10, 16_777_216, 16_777_217, 2_147_483_648, 4e9, -2_147_483_648, -3e9,
        ]
        let rows: [Float] = values.flatMap { x -> [Float] in [x, 0] }
        let raw = try model.predictMarginsFloat64(rows)
        for (row, x) in values.enumerated() {
            #expect(raw[row] == reference.rawScores([x, 0])[0], "x = \(x)")
        }
    }

    @Test func infinityBesideAHugeThresholdIsRefused() throws {
        let text = LightGBMText.model(features: 1, trees: [
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["inf"], decisionType: [8], left: [-1], right: [-2], leafValues: ["1", "2"]),
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["1e300"], decisionType: [8], left: [-1], right: [-2], leafValues: ["1", "2"]),
        ])
        let error = try #require(throws: ForestError.self) { try ForestModel(serialized: Array(text.utf8)) }
        #expect(error.message.hasPrefix("tree 1, node 0: feature 0 has thresholds inf and 1e+300"))
    }

    @Test func zeroAsMissingRewritesOnlyItsFeature() throws {
        // Feature 0: missing_type=Zero, default left, threshold 1: zero and NaN go left, 0.5 left, 2 right;
        // -3 left. Feature 1: missing_type=NaN default right: its zero is an ordinary 0.
        let text = LightGBMText.model(features: 2, trees: [
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["1"], decisionType: [6], left: [-1], right: [-2], leafValues: ["1", "2"]),
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["-2"], decisionType: [4], left: [-1], right: [-2], leafValues: ["10", "20"]),
            LightGBMText.tree(leaves: 2, splitFeature: [1], threshold: ["-1.0000000180025095e-35"], decisionType: [8], left: [-1], right: [-2], leafValues: ["100", "200"]),
        ])
        let model = try ForestModel(serialized: Array(text.utf8))
        #expect(model.float64?.columnRules.map(\.feature) == [0])
        let reference = LightGBMReference(model: try LightGBMModel.parse(Array(text.utf8)))
        for x: Float in [.nan, 0, -0.0, 1e-35, -1e-35, 1e-34, -1e-34, 0.5, 1, 1.5, -2, -3, .infinity, -.infinity] {
            for y: Float in [.nan, 0, -1e-35, -1e-34, 1] {
                #expect(try model.predictMarginsFloat64([x, y]) == reference.rawScores([x, y]), "x = \(x), y = \(y)")
            }
        }
    }

    @Test func mixedSplitsOnOneFeatureAreRefused() throws {
        // missing_type=Zero (default left) and missing_type=NaN (default left, threshold -5: 0 goes right) on feature 0.
        let text = LightGBMText.model(features: 1, trees: [
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["1"], decisionType: [6], left: [-1], right: [-2], leafValues: ["1", "2"]),
            LightGBMText.tree(leaves: 2, splitFeature: [0], threshold: ["-5"], decisionType: [10], left: [-1], right: [-2], leafValues: ["1", "2"]),
        ])
        let error = try #require(throws: ForestError.self) { try ForestModel(serialized: Array(text.utf8)) }
        #expect(error.code == .unsupported)
        #expect(error.message.hasPrefix("tree 1, node 0: feature 0 has missing_type=NaN and missing_type=Zero splits"))
    }
}

/// Builds LightGBM model.txt text for tests, in the layout `Booster.save_model` writes.
enum LightGBMText {
    static func tree(
        leaves: Int, splitFeature: [Int], threshold: [String], decisionType: [Int], left: [Int], right: [Int],
        leafValues: [String], categories: (boundaries: [Int], words: [UInt32])? = nil, extra: [String] = []
    ) -> String {
        func join<T>(_ values: [T]) -> String { values.map { "\($0)" }.joined(separator: " ") }
        var lines = [
            "num_leaves=\(leaves)", "num_cat=\(categories.map { $0.boundaries.count - 1 } ?? 0)",
            "split_feature=\(join(splitFeature))", "split_gain=\(join(splitFeature.map { _ in 1 }))",
            "threshold=\(threshold.joined(separator: " "))", "decision_type=\(join(decisionType))",
            "left_child=\(join(left))", "right_child=\(join(right))", "leaf_value=\(leafValues.joined(separator: " "))",
            "leaf_weight=\(join(leafValues.map { _ in 1 }))", "leaf_count=\(join(leafValues.map { _ in 1 }))",
            "internal_value=\(join(splitFeature.map { _ in 0 }))", "internal_weight=\(join(splitFeature.map { _ in 1 }))",
            "internal_count=\(join(splitFeature.map { _ in 2 }))",
        ]
        if let categories {
            lines += ["cat_boundaries=\(join(categories.boundaries))", "cat_threshold=\(join(categories.words))"]
        }
        lines += extra.isEmpty ? ["is_linear=0"] : extra
        lines.append("shrinkage=1")
        return lines.joined(separator: "\n") + "\n\n"
    }

    static func model(features: Int, trees: [String], objective: String = "regression", classes: Int = 1, infos: String? = nil, header: [String] = []) -> String {
        let blocks = trees.enumerated().map { "Tree=\($0.offset)\n\($0.element)\n" }
        var lines = [
            "tree", "version=v4", "num_class=\(classes)", "num_tree_per_iteration=\(classes)", "label_index=0",
            "max_feature_idx=\(features - 1)", "objective=\(objective)",
            "feature_names=" + (0..<features).map { "f\($0)" }.joined(separator: " "),
            "feature_infos=" + (infos ?? (0..<features).map { _ in "[-1:1]" }.joined(separator: " ")),
        ] + header
        lines.append("tree_sizes=" + blocks.map { "\($0.utf8.count)" }.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n\n" + blocks.joined() + "end of trees\n\nparameters:\nend of parameters\n"
    }
}
