import Foundation
import Testing
@testable import Forest

/// Bad LightGBM files get one clear error naming the tree and node, and never crash the process.
@Suite struct LightGBMValidationTests {
    /// A valid two-tree model: tree 0 has three splits (nodes 0-2, leaves 0-3), tree 1 one split.
    static func model(
        tree0: [String: String] = [:], header: [String: String] = [:], dropTree0: [String] = [], objective: String = "binary sigmoid:1"
    ) -> String {
        var tree = [
            "num_leaves": "4", "num_cat": "0", "split_feature": "0 1 2", "threshold": "0.5 -1 2.25",
            "decision_type": "2 8 10", "left_child": "1 -1 -3", "right_child": "2 -2 -4", "leaf_value": "0.1 -0.2 0.3 -0.4",
        ]
        tree.merge(tree0) { $1 }
        for key in dropTree0 { tree[key] = nil }
        let order = ["num_leaves", "num_cat", "split_feature", "threshold", "decision_type", "left_child", "right_child",
                     "leaf_value", "cat_boundaries", "cat_threshold", "is_linear", "leaf_const", "num_features", "leaf_features", "leaf_coeff"]
        let first = order.compactMap { key in tree[key].map { "\(key)=\($0)" } }.joined(separator: "\n") + "\nshrinkage=1\n\n"
        let second = LightGBMText.tree(leaves: 2, splitFeature: [1], threshold: ["0"], decisionType: [2], left: [-1], right: [-2], leafValues: ["1", "2"])
        var text = LightGBMText.model(features: 3, trees: [first, second], objective: objective)
        for (key, value) in header {
            if let range = text.range(of: "\n\(key)=[^\n]*", options: .regularExpression) {
                text.replaceSubrange(range, with: value.isEmpty ? "" : "\n\(key)=\(value)")
            } else {
                text = text.replacingOccurrences(of: "\nfeature_names=", with: "\n\(key)=\(value)\nfeature_names=")
            }
        }
        return text
    }

    static func error(_ text: String) -> ForestError? {
        do {
            _ = try ForestModel(serialized: Array(text.utf8))
            return nil
        } catch let error as ForestError {
            return error
        } catch {
            return ForestError(code: .io, message: "unexpected \(error)")
        }
    }

    @Test func theBaseModelLoads() throws {
        let model = try ForestModel(serialized: Array(Self.model().utf8))
        #expect(model.treeCount == 2)
        #expect(model.summary.format == "LightGBM v4")
        #expect(model.objective.name == "binary sigmoid:1")
        #expect(model.featureNames == ["f0", "f1", "f2"])
    }

    @Test("Malformed trees are refused naming tree and node", arguments: [
        (["left_child": "1 -1 5"], "tree 0, node 2: left child 5 is out of range (3 nodes, 4 leaves)"),
        (["left_child": "1 0 -3"], "tree 0, node 0: reached twice from the root (cycle or shared child)"),
        (["right_child": "2 -2 -1"], "tree 0: leaf 0 is reached twice"),
        (["right_child": "2 -2 -5"], "tree 0, node 2: right child -5 is out of range (3 nodes, 4 leaves)"),
        (["split_feature": "0 3 2"], "tree 0, node 1: split feature 3 is out of range 0..<3"),
        (["threshold": "0.5 nan 2.25"], "tree 0, node 1: threshold nan is not a number"),
        (["threshold": "0.5 inf -inf"], nil),
        (["leaf_value": "0.1 1e400 0.3 -0.4"], "tree 0: leaf_value entry 1 (inf) is not finite"),
        (["leaf_value": "0.1 nan 0.3 -0.4"], "tree 0: leaf_value entry 1 (nan) is not finite"),
        (["leaf_value": "0.1 -0.2 0.3"], "tree 0: leaf_value has 3 entries, expected 4"),
        (["threshold": "0.5 x 2.25"], "tree 0: threshold entry 1 'x' is not a valid number"),
        (["decision_type": "2 12 10"], "tree 0, node 1: decision_type 12 has unknown bits"),
        (["decision_type": "2 8 26"], "tree 0, node 2: decision_type 26 has unknown bits"),
        (["num_leaves": "0"], "tree 0: num_leaves 0 is out of range"),
        (["decision_type": "2 9 10"], "tree 0, node 1: categorical split names category set -1.0, not one of 0..<0"),
        (["num_cat": "1", "decision_type": "2 9 10", "threshold": "0.5 0 2.25", "cat_boundaries": "0 1", "cat_threshold": "5"], nil),
        (["num_cat": "1", "decision_type": "2 9 10", "threshold": "0.5 1 2.25", "cat_boundaries": "0 1", "cat_threshold": "5"],
         "tree 0, node 1: categorical split names category set 1.0, not one of 0..<1"),
        (["num_cat": "1", "decision_type": "2 9 10", "threshold": "0.5 0 2.25", "cat_boundaries": "0 2", "cat_threshold": "5"],
         "tree 0: cat_threshold has 1 entries, expected 2"),
        (["num_cat": "1", "decision_type": "2 9 10", "threshold": "0.5 0 2.25", "cat_boundaries": "1 1", "cat_threshold": ""],
         "tree 0: cat_boundaries should start at 0 and never decrease"),
        (["is_linear": "1", "leaf_const": "1 2 3 4", "num_features": "1 0 0 0", "leaf_features": "7", "leaf_coeff": "0.5"],
         "tree 0: linear leaf 0 uses feature 7, out of range 0..<3"),
        (["is_linear": "1", "leaf_const": "1 2 3 4", "num_features": "1 0 0 0", "leaf_features": "0", "leaf_coeff": "-inf"],
         "tree 0: leaf_coeff entry 0 (-inf) is not finite"),
    ] as [([String: String], String?)])
    func malformedTrees(_ edit: [String: String], _ message: String?) {
        let error = Self.error(Self.model(tree0: edit))
        #expect(error?.message == message)
        // A non-finite leaf or coefficient is `.nonFinite` (a bundle reports it as non_finite).
        if let message { #expect(error?.code == (message.hasSuffix("is not finite") ? .nonFinite : .invalidModel)) }
    }

    @Test func missingKeysAreNamed() {
        #expect(Self.error(Self.model(dropTree0: ["threshold"]))?.message == "tree 0: missing 'threshold='")
        #expect(Self.error(Self.model(header: ["max_feature_idx": ""]))?.message == "model.txt header has no 'max_feature_idx='")
        #expect(Self.error(Self.model(header: ["feature_names": "a b"]))?.message == "feature_names has 2 names for 3 features")
        #expect(Self.error(Self.model(header: ["num_class": "two"]))?.message == "model.txt header: num_class=two is not an integer")
    }

    @Test func treeCountsAndSizesMustAgree() {
        #expect(Self.error(Self.model(header: ["num_tree_per_iteration": "3", "num_class": "3"], objective: "multiclass num_class:3"))?.message
            == "2 trees is not a whole number of rounds of 3 (num_tree_per_iteration)")
        #expect(Self.error(Self.model(header: ["tree_sizes": "100 50"]))?.message.hasPrefix("tree 1: starts at byte") == true)
        #expect(Self.error(Self.model(header: ["tree_sizes": "100"]))?.message == "tree_sizes has 1 entries for 2 trees")
    }

    @Test func objectivesAreChecked() {
        let unknown = Self.error(Self.model(objective: "multiquantile"))
        #expect(unknown?.code == .unsupported)
        #expect(unknown?.message == "LightGBM objective 'multiquantile' is not supported")
        #expect(Self.error(Self.model(objective: "binary sigmoid:-1"))?.message == "objective 'binary sigmoid:-1': sigmoid should be a positive number")
        #expect(Self.error(Self.model(objective: "multiclass num_class:4"))?.message == "objective 'multiclass num_class:4': num_class should be 1 (the model's num_class)")
    }

    @Test func categoriesBeyondTheKernelsRangeAreRefused() {
        // Word 524288 of the set holds category 2^24.
        let words = Array(repeating: "0", count: 524_288) + ["1"]
        let error = Self.error(Self.model(tree0: [
            "num_cat": "1", "decision_type": "2 9 10", "threshold": "0.5 0 2.25", "cat_boundaries": "0 \(words.count)",
            "cat_threshold": words.joined(separator: " "),
        ]))
        #expect(error?.code == .unsupported)
        #expect(error?.message == "tree 0: categorical split 0 lists category 16777216; categories of 2^24 and more are not supported")
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let text = Self.model()
        #expect(Self.error(String(text.prefix(40))) != nil)
        #expect(Self.error("tree\nversion=v4\n")?.message == "model.txt header has no 'num_class='")
        // A file that merely starts with "tree" and is not a model is not mistaken for one.
        #expect(Self.error("treehouse") != nil)
    }

    @Test func bundleFoldersMayHoldModelTxt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lightgbm-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(Self.model().utf8).write(to: folder.appendingPathComponent("model.txt"))
        let model = try ForestModel.load(contentsOf: folder)
        #expect(model.sumsInFloat64)
        let error = try #require(throws: ForestError.self) {
            try Data("tree\n".utf8).write(to: folder.appendingPathComponent("model.txt"))
            return try ForestModel.load(contentsOf: folder)
        }
        #expect(error.message.hasSuffix("model.txt: model.txt header has no 'num_class='"))
    }
}
