/// Turns a parsed XGBoost document into a validated ``ModelDefinition``.
///
/// Validation rejects everything that could crash, loop or silently mis-score at prediction time:
/// array lengths, child indices, cycles and shared children, feature indices, category tables,
/// `tree_info`, DART weights, `base_score` length, and non-finite numbers (a threshold, leaf,
/// base score or tree weight of ±inf or NaN, e.g. `1e400` in the file, would turn predictions
/// into NaN or silently send every row one way). Errors name the tree and node.
enum ModelDecoder {
    /// Feature indices must fit the packed node's 30-bit field.
    static let maximumFeatureCount = 1 << 30
    /// Category codes are float32 inputs truncated to integers, exact only below 2^24.
    static let categoryLimit: Int64 = 1 << 24

    static func decode(_ document: DocumentValue) throws -> ModelDefinition {
        let root = try DocumentObject(document, context: "model")
        let learner = try root.object("learner")
        let parameters = try learner.object("learner_model_param")

        let featureCount = try parameters.integerParameter("num_feature")
        guard featureCount >= 0, featureCount < maximumFeatureCount else {
            throw ForestError.invalid("num_feature \(featureCount) is out of range")
        }
        let classCount = parameters.has("num_class") ? try parameters.integerParameter("num_class") : 0
        let targetCount = parameters.has("num_target") ? try parameters.integerParameter("num_target") : 1
        guard (0...65_536).contains(classCount), (0...65_536).contains(targetCount) else {
            throw ForestError.invalid("num_class \(classCount) / num_target \(targetCount) out of range")
        }
        let outputCount = Int(classCount > 0 ? classCount : max(targetCount, 1))

        let objectiveObject = try learner.object("objective")
        let objective = try Objective(name: objectiveObject.string("name"))

        let baseScoreText = parameters.has("base_score") ? try parameters.string("base_score") : "5E-1"
        let baseScores = try parseBaseScore(baseScoreText, outputCount: outputCount)
        for (output, score) in baseScores.enumerated() {
            let margin = objective.margin(fromBaseScore: score)
            guard score.isFinite, margin.isFinite else {
                throw ForestError.nonFinite(
                    "base_score \(score) (output \(output)) gives a non-finite initial margin \(margin) for objective \(objective.name)")
            }
        }

        let booster = try learner.object("gradient_booster")
        let boosterName = try booster.string("name")
        var treeWeights: [Float]?
        let model: DocumentObject
        switch boosterName {
        case "gbtree":
            model = try booster.object("model")
        case "dart":
            if booster.has("gbtree") {
                model = try booster.object("gbtree").object("model")
            } else {
                model = try booster.object("model")
            }
            if booster.has("weight_drop") {
                treeWeights = try booster.floatArray("weight_drop")
            } else {
                treeWeights = try model.floatArray("weight_drop")
            }
        case "gblinear":
            throw ForestError.unsupported("gblinear (linear booster) models are not supported; only tree boosters (gbtree, dart)")
        default:
            throw ForestError.unsupported("gradient booster '\(boosterName)' is not supported")
        }

        guard case .array(let treeValues) = try model.value("trees") else {
            throw ForestError.invalid("gradient_booster.model.trees should be an array")
        }
        if model.has("gbtree_model_param") {
            let declared = try model.object("gbtree_model_param").integerParameter("num_trees")
            guard declared == treeValues.count else {
                throw ForestError.invalid("gbtree_model_param.num_trees is \(declared) but the model holds \(treeValues.count) trees")
            }
        }
        let treeInfo = try model.integerArray("tree_info")
        guard treeInfo.count == treeValues.count else {
            throw ForestError.invalid("tree_info has \(treeInfo.count) entries for \(treeValues.count) trees")
        }
        for (tree, group) in treeInfo.enumerated() where group < 0 || group >= outputCount {
            throw ForestError.invalid(tree: tree, "tree_info output \(group) is out of range 0..<\(outputCount)")
        }
        if let weights = treeWeights, weights.count != treeValues.count {
            throw ForestError.invalid("DART weight_drop has \(weights.count) entries for \(treeValues.count) trees")
        }
        if let weights = treeWeights, let tree = weights.firstIndex(where: { !$0.isFinite }) {
            throw ForestError.nonFinite(tree: tree, "DART weight \(weights[tree]) is not finite")
        }

        var trees = [TreeDefinition]()
        trees.reserveCapacity(treeValues.count)
        for (index, value) in treeValues.enumerated() {
            trees.append(try decodeTree(value, index: index, featureCount: Int(featureCount)))
        }

        let featureNames = learner.has("feature_names") ? try learner.stringArray("feature_names") : []
        let featureTypes = learner.has("feature_types") ? try learner.stringArray("feature_types") : []
        guard featureNames.isEmpty || featureNames.count == featureCount else {
            throw ForestError.invalid("feature_names has \(featureNames.count) names for \(featureCount) features")
        }
        guard featureTypes.isEmpty || featureTypes.count == featureCount else {
            throw ForestError.invalid("feature_types has \(featureTypes.count) types for \(featureCount) features")
        }
        var version = [Int]()
        if root.has("version"), let numbers = try? DocumentObject.integerArray(root.value("version"), key: "version", fail: ForestError.invalid) {
            version = numbers.map { Int($0) }
        }

        return ModelDefinition(
            featureCount: Int(featureCount), outputCount: outputCount, objective: objective,
            baseScores: baseScores, trees: trees, treeGroups: treeInfo.map { Int($0) },
            treeWeights: treeWeights, boosterName: boosterName,
            featureNames: featureNames, featureTypes: featureTypes, xgboostVersion: version
        )
    }

    /// `base_score` in any of XGBoost's formats: `"5E-1"`, `"[5E-1]"`, `"[a,b,c]"`, `"(a,b)"`.
    static func parseBaseScore(_ text: String, outputCount: Int) throws -> [Float] {
        var normalized = text.trimmingSpaces()
        normalized = String(normalized.map { $0 == "(" ? "[" : $0 == ")" ? "]" : $0 })
        let value: DocumentValue
        do {
            value = try JSONReader.parse(Array(normalized.utf8))
        } catch {
            throw ForestError.invalid("base_score \"\(text)\" is not a number or a list of numbers")
        }
        var scores: [Float]
        switch value {
        case .real(let number): scores = [number]
        case .integer(let number): scores = [Float(number)]
        default: scores = try DocumentObject.floatArray(value, key: "base_score", fail: ForestError.invalid)
        }
        if scores.count == 1 { scores = Array(repeating: scores[0], count: outputCount) }
        guard scores.count == outputCount else {
            throw ForestError.invalid("base_score has \(scores.count) values for \(outputCount) outputs")
        }
        return scores
    }

    static func decodeTree(_ value: DocumentValue, index tree: Int, featureCount: Int) throws -> TreeDefinition {
        let object = try DocumentObject(value, context: "tree \(tree)", fail: { ForestError.invalid(tree: tree, $0) })
        let treeParameters = try object.object("tree_param")
        let declaredNodes = try treeParameters.integerParameter("num_nodes")
        if treeParameters.has("size_leaf_vector") {
            let leafSize = try treeParameters.integerParameter("size_leaf_vector")
            guard leafSize <= 1 else {
                throw ForestError.unsupported("tree \(tree): vector-leaf trees (multi_strategy=multi_output_tree, size_leaf_vector \(leafSize)) are not supported; train with multi_strategy=one_output_per_tree")
            }
        }
        let left = try object.integerArray("left_children")
        let right = try object.integerArray("right_children")
        let splitIndices = try object.integerArray("split_indices")
        let conditions = try object.floatArray("split_conditions")
        let defaultLeft = try object.integerArray("default_left")
        let splitTypes = object.has("split_type") ? try object.integerArray("split_type") : [Int64](repeating: 0, count: left.count)
        let covers = object.has("sum_hessian") ? try object.floatArray("sum_hessian") : nil

        let count = left.count
        guard declaredNodes == count, count >= 1 else {
            throw ForestError.invalid(tree: tree, "tree_param.num_nodes is \(declaredNodes) but left_children has \(count) entries")
        }
        for (name, length) in [("right_children", right.count), ("split_indices", splitIndices.count),
                               ("split_conditions", conditions.count), ("default_left", defaultLeft.count),
                               ("split_type", splitTypes.count), ("sum_hessian", covers?.count ?? count)] where length != count {
            throw ForestError.invalid(tree: tree, "\(name) has \(length) entries, expected \(count)")
        }

        // Walk from the root: every reachable node once (no cycles, no shared children).
        var visited = [Bool](repeating: false, count: count)
        var stack: [(node: Int, depth: Int)] = [(0, 0)]
        var depth = 0, reachable = 0, leaves = 0
        while let (node, nodeDepth) = stack.popLast() {
            guard !visited[node] else {
                throw ForestError.invalid(tree: tree, node: node, "reached twice from the root (cycle or shared child)")
            }
            visited[node] = true
            reachable += 1
            depth = max(depth, nodeDepth)
            if left[node] == -1 {
                guard conditions[node].isFinite else {
                    throw ForestError.nonFinite(tree: tree, node: node, "leaf value \(conditions[node]) is not finite")
                }
                leaves += 1
                continue
            }
            for (side, child) in [("left", left[node]), ("right", right[node])] where child < 0 || child >= count {
                throw ForestError.invalid(tree: tree, node: node, "\(side) child \(child) is out of range 0..<\(count)")
            }
            guard splitIndices[node] >= 0, splitIndices[node] < featureCount else {
                throw ForestError.invalid(tree: tree, node: node, "split feature \(splitIndices[node]) is out of range 0..<\(featureCount)")
            }
            guard splitTypes[node] == 0 || splitTypes[node] == 1 else {
                throw ForestError.invalid(tree: tree, node: node, "split_type \(splitTypes[node]) is neither 0 (numerical) nor 1 (categorical)")
            }
            // A categorical split's condition is unused (XGBoost stores NaN there); a numerical one
            // must be a real threshold: +inf or NaN would send every row the same way.
            guard splitTypes[node] == 1 || conditions[node].isFinite else {
                throw ForestError.nonFinite(tree: tree, node: node, "split threshold \(conditions[node]) is not finite")
            }
            guard defaultLeft[node] == 0 || defaultLeft[node] == 1 else {
                throw ForestError.invalid(tree: tree, node: node, "default_left \(defaultLeft[node]) is neither 0 nor 1")
            }
            stack.append((Int(right[node]), nodeDepth + 1))
            stack.append((Int(left[node]), nodeDepth + 1))
        }

        let categories = try decodeCategories(object, tree: tree, count: count, splitTypes: splitTypes, leftChildren: left)

        return TreeDefinition(
            leftChildren: left.map { Int32(truncatingIfNeeded: $0) },
            rightChildren: right.map { Int32(truncatingIfNeeded: $0) },
            splitIndices: splitIndices.map { Int32(truncatingIfNeeded: $0) },
            splitConditions: conditions,
            defaultLeft: defaultLeft.map { $0 == 1 },
            isCategorical: splitTypes.map { $0 == 1 },
            categories: categories,
            depth: depth, reachableNodes: reachable, leaves: leaves,
            covers: covers
        )
    }

    private static func decodeCategories(
        _ object: DocumentObject, tree: Int, count: Int, splitTypes: [Int64], leftChildren: [Int64]
    ) throws -> [Int32: [Int32]] {
        guard object.has("categories_nodes") else {
            for node in 0..<count where splitTypes[node] == 1 && leftChildren[node] != -1 {
                throw ForestError.invalid(tree: tree, node: node, "categorical split but the tree has no category tables")
            }
            return [:]
        }
        let nodes = try object.integerArray("categories_nodes")
        let segments = try object.integerArray("categories_segments")
        let sizes = try object.integerArray("categories_sizes")
        let flat = try object.integerArray("categories")
        guard segments.count == nodes.count, sizes.count == nodes.count else {
            throw ForestError.invalid(tree: tree, "categories_nodes, categories_segments and categories_sizes have different lengths (\(nodes.count), \(segments.count), \(sizes.count))")
        }
        var result = [Int32: [Int32]]()
        var previous: Int64 = -1
        for entry in 0..<nodes.count {
            let node = nodes[entry]
            guard node > previous, node < count else {
                throw ForestError.invalid(tree: tree, "categories_nodes entry \(entry) (node \(node)) is out of range or not ascending")
            }
            previous = node
            guard splitTypes[Int(node)] == 1 else {
                throw ForestError.invalid(tree: tree, node: Int(node), "has a category list but is not a categorical split")
            }
            let start = segments[entry], size = sizes[entry]
            guard start >= 0, size >= 0, start <= Int64(flat.count), size <= Int64(flat.count) - start else {
                throw ForestError.invalid(tree: tree, node: Int(node), "category segment \(start) + \(size) runs past the \(flat.count) categories")
            }
            var list = [Int32]()
            list.reserveCapacity(Int(size))
            for code in flat[Int(start)..<Int(start + size)] {
                guard code >= 0, code < categoryLimit else {
                    throw ForestError.invalid(tree: tree, node: Int(node), "category \(code) is out of range 0..<2^24")
                }
                if let last = list.last, Int32(code) <= last {
                    throw ForestError.invalid(tree: tree, node: Int(node), "category list is not sorted ascending")
                }
                list.append(Int32(code))
            }
            result[Int32(node)] = list
        }
        return result
    }
}
