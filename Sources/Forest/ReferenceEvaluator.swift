/// A deliberately simple evaluator that follows XGBoost's decision rule line by line
/// (`predict_fn.h` `GetNextNode`, `categorical.h` `Decision`), on the decoded arrays with XGBoost's
/// own node ids. The fast kernel in ``ForestModel`` is differential-tested against it.
struct ReferenceEvaluator {
    let definition: ModelDefinition

    /// The node XGBoost visits after `node` for feature value `x`.
    func nextNode(tree: TreeDefinition, node: Int, x: Float) -> Int {
        if x.isNaN {
            return Int(tree.defaultLeft[node] ? tree.leftChildren[node] : tree.rightChildren[node])
        }
        if tree.isCategorical[node] {
            return Int(categoryGoesLeft(x, categories: tree.categories[Int32(node)] ?? []) ? tree.leftChildren[node] : tree.rightChildren[node])
        }
        return Int(x < tree.splitConditions[node] ? tree.leftChildren[node] : tree.rightChildren[node])
    }

    /// `common::Decision`: invalid categories go left; listed categories go right.
    func categoryGoesLeft(_ x: Float, categories: [Int32]) -> Bool {
        if x < 0 || x >= 16_777_216 { return true }
        let category = Int32(x)
        return !categories.contains(category)
    }

    func leaf(tree: TreeDefinition, row: [Float]) -> Int {
        var node = 0
        while !tree.isLeaf(node) {
            node = nextNode(tree: tree, node: node, x: row[Int(tree.splitIndices[node])])
        }
        return node
    }

    /// Margins of one row: base margins, then each tree's leaf (times its DART weight) in tree order.
    func margins(row: [Float]) -> [Float] {
        var margins = definition.baseMargins
        for (index, tree) in definition.trees.enumerated() {
            let value = tree.splitConditions[leaf(tree: tree, row: row)]
            if let weights = definition.treeWeights {
                margins[definition.treeGroups[index]] += value * weights[index]
            } else {
                margins[definition.treeGroups[index]] += value
            }
        }
        return margins
    }
}
