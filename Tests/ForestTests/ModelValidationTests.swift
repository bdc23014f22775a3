import Foundation
import Testing
@testable import Forest

/// Bad files get one clear error naming the tree and node, and never crash the process.
@Suite struct ModelValidationTests {
    /// Loads `binary_numeric.json`, applies `edit` to its first tree (or the whole document), and
    /// returns the error message of loading the result.
    static func loadError(
        _ file: String = "binary_numeric.json",
        document edit: (inout [String: Any]) -> Void = { _ in },
        tree treeEdit: ((inout [String: Any]) -> Void)? = nil
    ) throws -> ForestError? {
        var document = try Fixtures.jsonObject(file)
        if let treeEdit {
            var learner = document["learner"] as! [String: Any]
            var booster = learner["gradient_booster"] as! [String: Any]
            var model = booster["model"] as! [String: Any]
            var trees = model["trees"] as! [[String: Any]]
            treeEdit(&trees[0])
            model["trees"] = trees
            booster["model"] = model
            learner["gradient_booster"] = booster
            document["learner"] = learner
        }
        edit(&document)
        let bytes = [UInt8](try JSONSerialization.data(withJSONObject: document))
        do {
            _ = try ForestModel(serialized: bytes)
            return nil
        } catch let error as ForestError {
            return error
        }
    }

    static func firstSplitNode(_ tree: [String: Any]) -> Int {
        let left = tree["left_children"] as! [Int]
        return left.firstIndex { $0 != -1 }!
    }

    /// Like ``loadError(_:document:tree:)``, but puts the JSON number `literal` (which
    /// JSONSerialization cannot write, e.g. `1e400`) where `tree0Edit` stored the marker `424242.5`.
    static func loadError(writing literal: String, tree tree0Edit: @escaping (inout [String: Any]) -> Void) throws -> ForestError? {
        var document = try Fixtures.jsonObject("binary_numeric.json")
        var learner = document["learner"] as! [String: Any]
        var booster = learner["gradient_booster"] as! [String: Any]
        var model = booster["model"] as! [String: Any]
        var trees = model["trees"] as! [[String: Any]]
        tree0Edit(&trees[0])
        model["trees"] = trees
        booster["model"] = model
        learner["gradient_booster"] = booster
        document["learner"] = learner
        let text = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
        #expect(text.contains("424242.5"))
        do {
            _ = try ForestModel(serialized: Array(text.replacingOccurrences(of: "424242.5", with: literal).utf8))
            return nil
        } catch let error as ForestError {
            return error
        }
    }

    @Test(arguments: ["1e400", "-1e400"])
    func nonFiniteThresholdIsRejected(literal: String) throws {
        var split = -1
        let error = try #require(try Self.loadError(writing: literal, tree: { tree in
            split = Self.firstSplitNode(tree)
            var conditions = tree["split_conditions"] as! [Double]
            conditions[split] = 424242.5
            tree["split_conditions"] = conditions
        }))
        #expect(error.code == .nonFinite)
        #expect(error.message == "tree 0, node \(split): split threshold \(literal.hasPrefix("-") ? "-inf" : "inf") is not finite")
    }

    @Test(arguments: ["1e400", "-1e400"])
    func nonFiniteLeafIsRejected(literal: String) throws {
        var leaf = -1
        let error = try #require(try Self.loadError(writing: literal, tree: { tree in
            leaf = (tree["left_children"] as! [Int]).firstIndex(of: -1)!
            var conditions = tree["split_conditions"] as! [Double]
            conditions[leaf] = 424242.5
            tree["split_conditions"] = conditions
        }))
        #expect(error.code == .nonFinite)
        #expect(error.message == "tree 0, node \(leaf): leaf value \(literal.hasPrefix("-") ? "-inf" : "inf") is not finite")
    }

    /// A base score of ±inf (`1e400` in the file) would make every prediction 0, 1 or NaN.
    @Test(arguments: ["1e400", "-1e400"])
    func nonFiniteBaseMarginIsRejected(baseScore: String) throws {
        let error = try #require(try Self.loadError(document: { document in
            var learner = document["learner"] as! [String: Any]
            var parameters = learner["learner_model_param"] as! [String: Any]
            parameters["base_score"] = baseScore
            learner["learner_model_param"] = parameters
            document["learner"] = learner
        }))
        #expect(error.code == .nonFinite)
        #expect(error.message.hasPrefix("base_score "))
        #expect(error.message.contains("non-finite initial margin"))
    }

    @Test func childOutOfRange() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            var right = tree["right_children"] as! [Int]
            right[0] = 999
            tree["right_children"] = right
        }))
        #expect(error.code == .invalidModel)
        #expect(error.message == "tree 0, node 0: right child 999 is out of range 0..<\(Self.nodeCount())")
    }

    static func nodeCount() -> Int {
        let document = try! Fixtures.jsonObject("binary_numeric.json")
        let trees = (((document["learner"] as! [String: Any])["gradient_booster"] as! [String: Any])["model"] as! [String: Any])["trees"] as! [[String: Any]]
        return (trees[0]["left_children"] as! [Int]).count
    }

    @Test func cycleIsRejected() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            var left = tree["left_children"] as! [Int]
            let child = left[0]
            left[child] = 0
            var right = tree["right_children"] as! [Int]
            if right[child] == -1 { right[child] = 0 }
            tree["left_children"] = left
            tree["right_children"] = right
        }))
        #expect(error.message.hasPrefix("tree 0, node 0: reached twice"))
    }

    @Test func featureIndexOutOfRange() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            var split = tree["split_indices"] as! [Int]
            split[0] = 8
            tree["split_indices"] = split
        }))
        #expect(error.message == "tree 0, node 0: split feature 8 is out of range 0..<8")
    }

    @Test func arrayLengthMismatch() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            tree["split_conditions"] = Array((tree["split_conditions"] as! [Double]).dropLast())
        }))
        #expect(error.message.hasPrefix("tree 0: split_conditions has"))
    }

    @Test func nodeCountMismatch() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            var parameters = tree["tree_param"] as! [String: Any]
            parameters["num_nodes"] = "3"
            tree["tree_param"] = parameters
        }))
        #expect(error.message.contains("tree 0: tree_param.num_nodes is 3"))
    }

    @Test func vectorLeafTreesAreUnsupported() throws {
        let error = try #require(try Self.loadError(tree: { tree in
            var parameters = tree["tree_param"] as! [String: Any]
            parameters["size_leaf_vector"] = "2"
            tree["tree_param"] = parameters
        }))
        #expect(error.code == .unsupported)
        #expect(error.message.contains("vector-leaf"))
    }

    @Test func baseScoreLengthMustMatchOutputs() throws {
        let error = try #require(try Self.loadError(document: { document in
            var learner = document["learner"] as! [String: Any]
            var parameters = learner["learner_model_param"] as! [String: Any]
            parameters["base_score"] = "[5E-1,2E-1]"
            learner["learner_model_param"] = parameters
            document["learner"] = learner
        }))
        #expect(error.message == "base_score has 2 values for 1 outputs")
    }

    @Test func treeInfoMustCoverTrees() throws {
        let error = try #require(try Self.loadError(document: { document in
            var learner = document["learner"] as! [String: Any]
            var booster = learner["gradient_booster"] as! [String: Any]
            var model = booster["model"] as! [String: Any]
            model["tree_info"] = [0, 0]
            booster["model"] = model
            learner["gradient_booster"] = booster
            document["learner"] = learner
        }))
        #expect(error.message.hasPrefix("tree_info has 2 entries"))
    }

    @Test func unknownObjectiveAndLinearBoosterAreUnsupported() throws {
        let objective = try #require(try Self.loadError(document: { document in
            var learner = document["learner"] as! [String: Any]
            learner["objective"] = ["name": "reg:madeup"]
            document["learner"] = learner
        }))
        #expect(objective.code == .unsupported)
        #expect(objective.message == "objective 'reg:madeup' is not supported")
        let linear = try #require(try Self.loadError(document: { document in
            var learner = document["learner"] as! [String: Any]
            learner["gradient_booster"] = ["name": "gblinear", "model": ["weights": [0.1, 0.2]]]
            document["learner"] = learner
        }))
        #expect(linear.code == .unsupported)
        #expect(linear.message.contains("gblinear"))
    }

    @Test func categoryTablesAreChecked() throws {
        func editCategories(_ edit: @escaping (inout [String: Any]) -> Void) throws -> ForestError? {
            try Self.loadError("categorical_partition.json", document: { document in
                var learner = document["learner"] as! [String: Any]
                var booster = learner["gradient_booster"] as! [String: Any]
                var model = booster["model"] as! [String: Any]
                var trees = model["trees"] as! [[String: Any]]
                let index = trees.firstIndex { !($0["categories_nodes"] as! [Int]).isEmpty }!
                edit(&trees[index])
                model["trees"] = trees
                booster["model"] = model
                learner["gradient_booster"] = booster
                document["learner"] = learner
            })
        }
        let unsorted = try #require(try editCategories { tree in
            let sizes = tree["categories_sizes"] as! [Int]
            let entry = sizes.firstIndex { $0 >= 2 }!
            var categories = tree["categories"] as! [Int]
            let start = (tree["categories_segments"] as! [Int])[entry]
            categories.swapAt(start, start + 1)
            tree["categories"] = categories
        })
        #expect(unsorted.message.contains("category list is not sorted"))
        #expect(unsorted.message.hasPrefix("tree "))
        let overrun = try #require(try editCategories { tree in
            var sizes = tree["categories_sizes"] as! [Int]
            sizes[0] = 10_000
            tree["categories_sizes"] = sizes
        })
        #expect(overrun.message.contains("runs past"))
        let notCategorical = try #require(try editCategories { tree in
            var types = tree["split_type"] as! [Int]
            let node = (tree["categories_nodes"] as! [Int])[0]
            types[node] = 0
            tree["split_type"] = types
        })
        #expect(notCategorical.message.contains("is not a categorical split"))
    }

    @Test func truncatedFilesFailCleanly() throws {
        for file in ["binary_numeric.ubj", "categorical_partition.json"] {
            let bytes = try Fixtures.bytes(file)
            var length = 0
            while length < bytes.count {
                #expect(throws: ForestError.self, "\(file) cut at \(length)") {
                    try ForestModel(serialized: Array(bytes[..<length]))
                }
                length += max(1, bytes.count / 97)
            }
        }
    }

    @Test func corruptedBytesNeverCrash() throws {
        var generator = SplitMix64(seed: 99)
        for file in ["binary_numeric.ubj", "categorical_onehot.ubj", "multi_softmax.json"] {
            let original = try Fixtures.bytes(file)
            for _ in 0..<150 {
                var bytes = original
                for _ in 0..<1 + Int(generator.next() % 4) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                }
                // Either a clean error, or a model that scores without trouble.
                if let model = try? ForestModel(serialized: bytes) {
                    let rows = KernelDifferentialTests.edgeRows(
                        for: try ForestModel.decodeDefinition(bytes), count: 9, seed: generator.next())
                    _ = try model.predict(rows)
                    _ = try model.predictLeaves(rows)
                }
            }
        }
    }

    @Test func emptyAndNonModelFiles() throws {
        for bytes in [[], Array("   ".utf8), Array("[1,2]".utf8), Array("{\"learner\": 3}".utf8), [0x7B, 0x4C, 0xFF, 0xFF]] as [[UInt8]] {
            #expect(throws: ForestError.self) { try ForestModel(serialized: bytes) }
        }
        #expect(throws: ForestError.self) { try ForestModel.load(path: "/nonexistent/model.json") }
    }

    @Test func bundleFolderLoadsItsModelJSON() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("forest-bundle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(Fixtures.bytes("binary_numeric.json")).write(to: folder.appendingPathComponent("model.json"))
        let model = try ForestModel.load(contentsOf: folder)
        #expect(model.featureCount == 8)
        #expect(model.objective.name == "binary:logistic")
    }
}
