/// A deliberately simple evaluator that follows LightGBM's prediction code line by line
/// (`Tree::NumericalDecision`, `Tree::CategoricalDecision`, `Tree::Predict`, `GBDT::PredictRaw`),
/// in float64 on LightGBM's own arrays. The compiled model (float32 thresholds in the shared
/// kernels) is differential-tested against it; both are tested against LightGBM's outputs.
struct LightGBMReference {
    let model: LightGBMModel

    /// A float32 input as LightGBM's C API hands it to the trees: widened to double, and |x| <= 1e-35
    /// dropped from the row (read as 0).
    static func inputValue(_ x: Float) -> Double {
        let value = Double(x)
        return abs(value) > LightGBMModel.zeroThreshold || value.isNaN ? value : 0
    }

    /// The leaf index `tree` routes `row` (already through ``inputValue(_:)``) to.
    func leaf(tree: LightGBMModel.Tree, row: [Double]) -> Int {
        guard tree.leafCount > 1 else { return 0 }
        var node: Int32 = 0
        while node >= 0 {
            let index = Int(node)
            let x = row[Int(tree.splitFeatures[index])]
            node = tree.isCategorical(index) ? categoricalNext(tree, index, x) : numericalNext(tree, index, x)
        }
        return Int(~node)
    }

    private func numericalNext(_ tree: LightGBMModel.Tree, _ node: Int, _ input: Double) -> Int32 {
        var x = input
        let missing = tree.missingType(node)
        if x.isNaN && missing != .nan { x = 0 }
        if (missing == .zero && abs(x) <= LightGBMModel.zeroThreshold) || (missing == .nan && x.isNaN) {
            return tree.defaultLeft(node) ? tree.leftChildren[node] : tree.rightChildren[node]
        }
        return x <= tree.thresholds[node] ? tree.leftChildren[node] : tree.rightChildren[node]
    }

    private func categoricalNext(_ tree: LightGBMModel.Tree, _ node: Int, _ x: Double) -> Int32 {
        if x.isNaN { return tree.rightChildren[node] }
        // static_cast<int> of a double outside int's range gives INT_MIN on x86-64 (cvttsd2si).
        let category = x > -2_147_483_649 && x < 2_147_483_648 ? Int(x) : Int(Int32.min)
        if category < 0 { return tree.rightChildren[node] }
        let set = tree.categorySets[Int(tree.thresholds[node])]
        return set.contains(Int32(clamping: category)) ? tree.leftChildren[node] : tree.rightChildren[node]
    }

    /// One tree's output for a row (`Tree::Predict`, linear leaves included).
    func output(tree: LightGBMModel.Tree, row: [Double]) -> Double {
        let leaf = leaf(tree: tree, row: row)
        guard let linear = tree.linear else { return tree.leafValues[leaf] }
        var value = linear.constants[leaf]
        for (feature, coefficient) in zip(linear.features[leaf], linear.coefficients[leaf]) {
            let x = row[Int(feature)]
            if x.isNaN { return tree.leafValues[leaf] }
            value += coefficient * x
        }
        return value
    }

    /// Raw scores of one float32 row (`predict(raw_score=True)`), one per output, trees summed in order.
    func rawScores(_ row: [Float]) -> [Double] {
        let values = row.map(Self.inputValue)
        var sums = [Double](repeating: 0, count: model.treesPerIteration)
        for (index, tree) in model.trees.enumerated() {
            sums[index % model.treesPerIteration] += output(tree: tree, row: values)
        }
        return sums
    }

    /// Leaf indices of one row per tree (`predict(pred_leaf=True)`).
    func leaves(_ row: [Float]) -> [Int] {
        let values = row.map(Self.inputValue)
        return model.trees.map { leaf(tree: $0, row: values) }
    }
}
