/// One decoded, validated XGBoost tree in XGBoost's own array layout (node ids unchanged).
///
/// This is what the reference evaluator walks and what the compiler packs; it is kept close to
/// the file so the reference can follow XGBoost's decision rule line by line.
struct TreeDefinition: Sendable {
    var leftChildren: [Int32]
    var rightChildren: [Int32]
    var splitIndices: [Int32]
    var splitConditions: [Float]
    var defaultLeft: [Bool]
    var isCategorical: [Bool]
    /// For categorical split nodes: the sorted category codes that go right.
    var categories: [Int32: [Int32]]
    /// Longest root-to-leaf path over reachable nodes, in edges.
    var depth: Int
    /// Number of reachable nodes (pruned, unreachable entries excluded).
    var reachableNodes: Int
    var leaves: Int
    /// Per node: the cover (XGBoost's `sum_hessian`, the training rows' hessian sum), which TreeSHAP
    /// weighs paths by; nil when the file has none. Not validated here: scoring does not use them
    /// (``TreeExplainer`` refuses negative or non-finite ones, which survival:cox can write).
    var covers: [Float]? = nil

    var nodeCount: Int { leftChildren.count }
    func isLeaf(_ node: Int) -> Bool { leftChildren[node] == -1 }
}

/// A decoded, validated XGBoost (or compiled LightGBM) model: everything prediction needs, nothing more.
struct ModelDefinition: Sendable {
    var featureCount: Int
    /// Margins per row: classes for multi-class, targets for multi-target, otherwise 1.
    var outputCount: Int
    var objective: Objective
    /// `base_score` as stored (response space), one per output.
    var baseScores: [Float]
    var trees: [TreeDefinition]
    /// The output each tree adds to (`tree_info`).
    var treeGroups: [Int]
    /// DART tree weights (`weight_drop`), nil for plain gbtree.
    var treeWeights: [Float]?
    var boosterName: String
    var featureNames: [String]
    var featureTypes: [String]
    var xgboostVersion: [Int]
    /// LightGBM models only: float64 leaves and sums, input rewriting, averaging, linear leaves.
    var lightGBM: LightGBMSemantics? = nil

    /// Initial margins, one per output (`ProbToMargin(base_score)`).
    var baseMargins: [Float] { baseScores.map { objective.margin(fromBaseScore: $0) } }
}
