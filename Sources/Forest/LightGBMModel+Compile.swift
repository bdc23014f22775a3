/// What a LightGBM model needs beyond the shared ``ModelDefinition``: float64 leaves and sums,
/// input rewriting, averaging, linear leaves.
struct LightGBMSemantics: Sendable {
    /// The file's `version=` (e.g. `v4`).
    var version: String
    /// Per tree, per node of its ``TreeDefinition``: the float64 leaf value (0 on split nodes).
    var nodeValues: [[Double]]
    /// Per tree: its split-node count; LightGBM's leaf index is the node id minus this.
    var internalCounts: [Int]
    /// Per feature: how its inputs are rewritten before the trees are walked (see ``ColumnRule``).
    var columnRules: [ColumnRule]
    /// `average_output` (random forest): transformed predictions are the sums divided by this.
    var averageDivisor: Double?
    /// Per tree: its linear leaves (`linear_tree`), or nil.
    var linear: [LightGBMModel.Tree.Linear?]
    var transform: LightGBMTransform
}

/// How a feature's float32 inputs are rewritten so that the shared kernels' rule (NaN takes the
/// default side, numerical `x < t` goes left, a categorical value below 0 goes left) decides
/// exactly as LightGBM. Only features that need it are rewritten (one pass over the block's rows).
struct ColumnRule: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    /// Zero (|x| <= 1e-35) becomes NaN: for `missing_type=Zero` splits, zero and NaN take the default side.
    static let zeroIsMissing = ColumnRule(rawValue: 1)
    /// -1 < x < 0 becomes 0: LightGBM truncates a category toward zero (-0.5 is category 0),
    /// where the kernels' rule calls every negative value invalid.
    static let truncateNegativeFraction = ColumnRule(rawValue: 2)
    /// +inf becomes the largest float: a threshold of `inf` sends +inf left (`inf <= inf`), which
    /// no float32 bound `x < b` does.
    static let infinityIsGreatest = ColumnRule(rawValue: 4)

    @inline(__always)
    func apply(_ x: Float) -> Float {
        if contains(.zeroIsMissing), x.isNaN || abs(x) <= LightGBMModel.zeroThresholdFloat { return .nan }
        if contains(.truncateNegativeFraction), x > -1, x < 0 { return 0 }
        if contains(.infinityIsGreatest), x == .infinity { return .greatestFiniteMagnitude }
        return x
    }
}

extension LightGBMModel {
    /// The float32 form of ``zeroThreshold`` (exactly 1e-35f).
    static let zeroThresholdFloat = Float(1e-35)

    /// The float32 bound `b` with `x < b` ⇔ LightGBM sends a non-NaN float32 input `x` left at a
    /// numerical split with threshold `threshold`: `snap(Double(x)) <= threshold`, where `snap`
    /// reads |x| <= 1e-35 as 0.
    ///
    /// `x <= t` over floats is `x <= f` for `f` the largest float not above `t`, i.e. `x < f.nextUp`;
    /// the zero band then goes wholly left (0 <= t) or wholly right (0 > t). Proven by the edge-row
    /// tests at, and one ulp around, every threshold and the band's ends.
    static func leftBound(threshold: Double) -> Float {
        var below = Float(threshold)  // nearest; step down if it rounded up (±inf included)
        if Double(below) > threshold { below = below.nextDown }
        let bound = below.nextUp
        return threshold >= 0 ? max(bound, zeroThresholdFloat.nextUp) : min(bound, -zeroThresholdFloat)
    }

    /// Compiles the model into the shared tree arrays plus its ``LightGBMSemantics``.
    ///
    /// Node ids: LightGBM's split nodes keep theirs (`0..<leafCount - 1`), leaf `k` becomes node
    /// `leafCount - 1 + k`. A categorical split's children are swapped (LightGBM sends the listed
    /// categories left, the kernels right) and NaN defaults to the new left (LightGBM's right).
    ///
    /// - Throws: ``ForestError`` `.unsupported` when one feature's splits need input rewrites that
    ///   contradict each other (LightGBM's training never writes such a model; see ``ColumnRule``).
    func definition() throws -> ModelDefinition {
        let objective = try Objective(lightGBM: objectiveText, classCount: classCount)
        guard case .lightGBM(let transform) = objective.transform else { preconditionFailure("LightGBM objectives carry their transform") }

        // Which rewrites each feature needs.
        var rules = [ColumnRule](repeating: [], count: featureCount)
        for tree in trees {
            for node in 0..<tree.internalCount {
                let feature = Int(tree.splitFeatures[node])
                if tree.isCategorical(node) {
                    rules[feature].insert(.truncateNegativeFraction)
                } else {
                    if tree.missingType(node) == .zero { rules[feature].insert(.zeroIsMissing) }
                    if tree.thresholds[node] == .infinity { rules[feature].insert(.infinityIsGreatest) }
                }
            }
        }

        var definitions = [TreeDefinition](), nodeValues = [[Double]](), internalCounts = [Int]()
        for (index, tree) in trees.enumerated() {
            let (definition, values) = try compile(tree, index: index, rules: rules)
            definitions.append(definition)
            nodeValues.append(values)
            internalCounts.append(tree.internalCount)
        }

        // Default names (Column_0, ...) mean the model was trained without names.
        let defaultNames = featureNames.enumerated().allSatisfy { $0.element == "Column_\($0.offset)" }
        // feature_infos: "[min:max]" numerical, a category list categorical, "none" unknown (unused).
        let types = featureInfos.map { $0 == "none" ? "" : ($0.hasPrefix("[") ? "q" : "c") }
        let semantics = LightGBMSemantics(
            version: version, nodeValues: nodeValues, internalCounts: internalCounts, columnRules: rules,
            averageDivisor: averageOutput ? Double(iterationCount) : nil, linear: trees.map(\.linear), transform: transform)
        return ModelDefinition(
            featureCount: featureCount, outputCount: treesPerIteration, objective: objective,
            baseScores: [Float](repeating: 0, count: treesPerIteration), trees: definitions,
            treeGroups: trees.indices.map { $0 % treesPerIteration }, treeWeights: nil,
            boosterName: averageOutput ? "rf" : "gbdt", featureNames: defaultNames ? [] : featureNames,
            featureTypes: types.contains("") ? [] : types, xgboostVersion: [], lightGBM: semantics)
    }

    private func compile(_ tree: Tree, index: Int, rules: [ColumnRule]) throws -> (TreeDefinition, [Double]) {
        let internalCount = tree.internalCount
        let nodeCount = internalCount + tree.leafCount
        func node(_ reference: Int32) -> Int32 { reference >= 0 ? reference : Int32(internalCount) + ~reference }
        var left = [Int32](repeating: -1, count: nodeCount), right = [Int32](repeating: -1, count: nodeCount)
        var features = [Int32](repeating: 0, count: nodeCount), conditions = [Float](repeating: 0, count: nodeCount)
        var defaultLeft = [Bool](repeating: false, count: nodeCount), categorical = [Bool](repeating: false, count: nodeCount)
        var categories = [Int32: [Int32]](), values = [Double](repeating: 0, count: nodeCount)
        for split in 0..<internalCount {
            let feature = Int(tree.splitFeatures[split])
            let rule = rules[feature]
            features[split] = tree.splitFeatures[split]
            if tree.isCategorical(split) {
                let set = tree.categorySets[Int(tree.thresholds[split])]
                // A zero rewritten to NaN goes right; LightGBM reads it as category 0.
                if rule.contains(.zeroIsMissing), set.first == 0 {
                    throw conflict(index, split, feature, "a categorical split listing category 0 and missing_type=Zero splits")
                }
                categorical[split] = true
                categories[Int32(split)] = set
                left[split] = node(tree.rightChildren[split])
                right[split] = node(tree.leftChildren[split])
                defaultLeft[split] = true
                continue
            }
            let threshold = tree.thresholds[split]
            if rule.contains(.truncateNegativeFraction), threshold > -1, threshold < 0 {
                throw conflict(index, split, feature, "a categorical split and a numerical threshold \(threshold) in (-1, 0)")
            }
            // +inf read as the largest float decides like +inf unless a finite threshold lies at or above it.
            if rule.contains(.infinityIsGreatest), threshold.isFinite, threshold >= Double(Float.greatestFiniteMagnitude) {
                throw conflict(index, split, feature, "thresholds inf and \(threshold)")
            }
            left[split] = node(tree.leftChildren[split])
            right[split] = node(tree.rightChildren[split])
            conditions[split] = Self.leftBound(threshold: threshold)
            switch tree.missingType(split) {
            case .none:
                defaultLeft[split] = 0 <= threshold  // NaN (and a rewritten zero) is read as 0
            case .zero:
                defaultLeft[split] = tree.defaultLeft(split)
            case .nan:
                // With the feature's zeros rewritten to NaN, this split must send 0 where NaN goes.
                if rule.contains(.zeroIsMissing), tree.defaultLeft(split) != (0 <= threshold) {
                    throw conflict(index, split, feature, "missing_type=NaN and missing_type=Zero splits")
                }
                defaultLeft[split] = tree.defaultLeft(split)
            }
        }
        for leaf in 0..<tree.leafCount {
            values[internalCount + leaf] = tree.leafValues[leaf]
            conditions[internalCount + leaf] = Float(tree.leafValues[leaf])
        }
        let definition = TreeDefinition(
            leftChildren: left, rightChildren: right, splitIndices: features, splitConditions: conditions,
            defaultLeft: defaultLeft, isCategorical: categorical, categories: categories,
            depth: tree.depth, reachableNodes: nodeCount, leaves: tree.leafCount)
        return (definition, values)
    }

    private func conflict(_ tree: Int, _ node: Int, _ feature: Int, _ what: String) -> ForestError {
        ForestError.unsupported("tree \(tree), node \(node): feature \(feature) has \(what); such mixed splits on one feature are not supported")
    }
}
