/// A deliberately simple TreeSHAP that follows XGBoost's `predict(pred_contribs=True)` step by step
/// (Lundberg's path-dependent algorithm as `treeshap.cc` writes it: a recursive walk carrying the
/// "unique path" of split features, extended going down, unwound where a feature repeats), on the
/// decoded arrays with XGBoost's own node ids. The fast ``TreeExplainer`` is differential-tested
/// against it; both against XGBoost's goldens.
///
/// The arithmetic is XGBoost's, operation for operation, in Float32: every product and quotient is
/// written in the same order (`a * b * c / d` is `((a * b) * c) / d`), because reordering changes
/// the last bits and the goldens compare bit patterns.
struct ReferenceExplainer {
    let definition: ModelDefinition
    private let evaluator: ReferenceEvaluator

    init(definition: ModelDefinition) {
        self.definition = definition
        evaluator = ReferenceEvaluator(definition: definition)
    }

    /// One element of the unique path: a feature split on above the current node, the fraction of
    /// the cover that flows down the path's branches (`zero`) and whether the row follows them (`one`).
    struct PathElement {
        var feature: Int
        var zero: Float
        var one: Float
        var weight: Float
    }

    /// Contributions of one row: per output, one value per feature then the bias (XGBoost's layout).
    /// nil when a tree has no covers.
    func contributions(row: [Float]) -> [Float]? {
        let columns = definition.featureCount + 1
        var result = [Float](repeating: 0, count: definition.outputCount * columns)
        for (index, tree) in definition.trees.enumerated() {
            guard let covers = tree.covers else { return nil }
            var treePhi = [Float](repeating: 0, count: columns)
            treePhi[columns - 1] += Self.meanValue(tree: tree, covers: covers, node: 0)
            var path: [PathElement] = []
            shap(tree: tree, covers: covers, row: row, phi: &treePhi, node: 0, path: &path,
                 zero: 1, one: 1, feature: -1)
            let weight = definition.treeWeights?[index] ?? 1
            let base = definition.treeGroups[index] * columns
            for column in 0..<columns { result[base + column] += treePhi[column] * weight }
        }
        for group in 0..<definition.outputCount {
            result[group * columns + columns - 1] += definition.baseMargins[group]
        }
        return result
    }

    /// The expected leaf value under the node, weighted by cover (XGBoost's `FillNodeMeanValues`).
    static func meanValue(tree: TreeDefinition, covers: [Float], node: Int) -> Float {
        if tree.isLeaf(node) { return tree.splitConditions[node] }
        let left = Int(tree.leftChildren[node]), right = Int(tree.rightChildren[node])
        var result = meanValue(tree: tree, covers: covers, node: left) * covers[left]
        result += meanValue(tree: tree, covers: covers, node: right) * covers[right]
        return result / covers[node]
    }

    /// XGBoost's `TreeShap` with `condition == 0`: `path` is the parent's unique path (this call
    /// works on a copy, as XGBoost copies it into the next slot of its path buffer).
    private func shap(
        tree: TreeDefinition, covers: [Float], row: [Float], phi: inout [Float], node: Int, path parentPath: inout [PathElement],
        zero: Float, one: Float, feature: Int
    ) {
        var path = parentPath
        var depth = path.count  // unique depth before the extension
        Self.extend(&path, depth: depth, zero: zero, one: one, feature: feature)
        if tree.isLeaf(node) {
            guard depth >= 1 else { return }
            for index in 1...depth {
                let weight = Self.unwoundSum(path, depth: depth, index: index)
                let element = path[index]
                phi[element.feature] += weight * (element.one - element.zero) * tree.splitConditions[node] * 1
            }
            return
        }
        let split = Int(tree.splitIndices[node])
        let hot = evaluator.nextNode(tree: tree, node: node, x: row[split])
        let cold = hot == Int(tree.leftChildren[node]) ? Int(tree.rightChildren[node]) : Int(tree.leftChildren[node])
        let cover = covers[node]
        let hotZero = covers[hot] / cover
        let coldZero = covers[cold] / cover
        var incomingZero: Float = 1, incomingOne: Float = 1
        if let index = path.firstIndex(where: { $0.feature == split }) {
            incomingZero = path[index].zero
            incomingOne = path[index].one
            Self.unwind(&path, depth: depth, index: index)
            depth -= 1
        }
        shap(tree: tree, covers: covers, row: row, phi: &phi, node: hot, path: &path,
             zero: hotZero * incomingZero, one: incomingOne, feature: split)
        shap(tree: tree, covers: covers, row: row, phi: &phi, node: cold, path: &path,
             zero: coldZero * incomingZero, one: 0, feature: split)
    }

    /// `ExtendPath`: appends element `depth` and updates the permutation weights.
    static func extend(_ path: inout [PathElement], depth: Int, zero: Float, one: Float, feature: Int) {
        path.append(PathElement(feature: feature, zero: zero, one: one, weight: depth == 0 ? 1 : 0))
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            path[i + 1].weight += one * path[i].weight * Float(i + 1) / size
            path[i].weight = zero * path[i].weight * Float(depth - i) / size
            i -= 1
        }
    }

    /// `UnwindPath`: removes element `index` (undoing its extension) from a path of `depth + 1` elements.
    static func unwind(_ path: inout [PathElement], depth: Int, index: Int) {
        let one = path[index].one, zero = path[index].zero
        var next = path[depth].weight
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let saved = path[i].weight
                path[i].weight = next * size / (Float(i + 1) * one)
                next = saved - path[i].weight * zero * Float(depth - i) / size
            } else {
                path[i].weight = (path[i].weight * size) / (zero * Float(depth - i))
            }
            i -= 1
        }
        for j in index..<depth {
            path[j].feature = path[j + 1].feature
            path[j].zero = path[j + 1].zero
            path[j].one = path[j + 1].one
        }
        path.removeLast()
    }

    /// `UnwoundPathSum`: the total permutation weight if element `index` were unwound.
    static func unwoundSum(_ path: [PathElement], depth: Int, index: Int) -> Float {
        let one = path[index].one, zero = path[index].zero
        var next = path[depth].weight
        var total: Float = 0
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let part = next * size / (Float(i + 1) * one)
                total += part
                next = path[i].weight - part * zero * (Float(depth - i) / size)
            } else if zero != 0 {
                total += (path[i].weight / zero) / (Float(depth - i) / size)
            }
            i -= 1
        }
        return total
    }
}
