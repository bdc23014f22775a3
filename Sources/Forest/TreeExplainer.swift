import Dispatch

/// A forest compiled for exact path-dependent TreeSHAP: XGBoost's `predict(pred_contribs=True)`,
/// the same Float32 operations in the same order (see ``ReferenceExplainer``), on flat arrays.
///
/// What does not depend on the row is computed once here instead of per row and node as XGBoost
/// does: every node's cover fractions (`cover(child) / cover(node)`), every tree's expected value
/// (the bias part), and where on the unique path a split's feature already sits (the path's
/// features are the same for every row; only its weights and "one" fractions differ). Nodes are
/// stored in pre-order, each tree's features listed, so a row touches only its trees' features.
struct TreeExplainer: Sendable {
    // MARK: Per node (pre-order, every tree's nodes after the previous tree's)

    /// Split feature, with ``PerfectForest/defaultLeftFlag`` and ``PerfectForest/categoricalFlag``.
    let splits: [UInt32]
    /// Threshold; categorical split: the bit pattern of its table's index in ``categoryWords``;
    /// leaf: the leaf value.
    let values: [Float]
    /// Absolute index of the left child, -1 for a leaf.
    let lefts: [Int32]
    let rights: [Int32]
    /// `cover(left) / cover(node)` and `cover(right) / cover(node)`, as XGBoost divides them.
    let leftFractions: [Float]
    let rightFractions: [Float]
    /// For a split node: the index on its unique path of the element that already splits on its
    /// feature (XGBoost unwinds it), or -1.
    let repeats: [Int16]
    /// Category tables (``ForestModel/appendCategoryTable(_:to:)`` format).
    let categoryWords: [UInt32]

    // MARK: Per tree

    let roots: [Int32]
    /// The tree's expected value (cover-weighted mean of its leaves), XGBoost's bias term per tree.
    let expectedValues: [Float]
    let groups: [Int32]
    /// DART weights, nil for gbtree.
    let weights: [Float]?
    /// `treeFeatures[featureStarts[t] ..< featureStarts[t + 1]]`: the distinct features tree `t` splits on.
    let featureStarts: [Int32]
    let treeFeatures: [Int32]

    let featureCount: Int
    let outputCount: Int
    let baseMargins: [Float]
    /// Longest root-to-leaf path over all trees, in edges.
    let maximumDepth: Int

    /// Values per row: `outputCount × (featureCount + 1)`.
    var width: Int { outputCount * (featureCount + 1) }

    /// Compiles `definition`.
    ///
    /// - Throws: ``ForestError`` (`.unsupported`) when a tree has no covers (`sum_hessian`).
    init(definition: ModelDefinition) throws {
        var splits = [UInt32](), values = [Float](), lefts = [Int32](), rights = [Int32]()
        var leftFractions = [Float](), rightFractions = [Float](), repeats = [Int16]()
        var categoryWords = [UInt32]()
        var roots = [Int32](), expectedValues = [Float](), featureStarts: [Int32] = [0], treeFeatures = [Int32]()
        let nodeTotal = definition.trees.reduce(0) { $0 + $1.reachableNodes }
        guard nodeTotal < Int(Int32.max) else { throw ForestError.unsupported("the model has more than 2^31 nodes") }
        splits.reserveCapacity(nodeTotal)
        values.reserveCapacity(nodeTotal)
        lefts.reserveCapacity(nodeTotal)
        rights.reserveCapacity(nodeTotal)
        leftFractions.reserveCapacity(nodeTotal)
        rightFractions.reserveCapacity(nodeTotal)
        repeats.reserveCapacity(nodeTotal)

        for (treeIndex, tree) in definition.trees.enumerated() {
            guard let covers = tree.covers else {
                throw ForestError.unsupported(
                    "tree \(treeIndex) has no node covers (sum_hessian), which TreeSHAP needs; save the model with XGBoost >= 1.0 (save_model to .json or .ubj)")
            }
            guard tree.depth < Int(Int16.max) else { throw ForestError.unsupported("tree \(treeIndex) is too deep to explain") }
            roots.append(Int32(splits.count))
            expectedValues.append(ReferenceExplainer.meanValue(tree: tree, covers: covers, node: 0))
            var features = Set<Int32>()
            // Pre-order walk (left first) carrying the unique path's features, as XGBoost's walk builds it.
            struct Pending { var node: Int; var parentSlot: Int; var isLeft: Bool; var pathFeatures: [Int32] }
            var pending = [Pending(node: 0, parentSlot: -1, isLeft: true, pathFeatures: [-1])]
            while let item = pending.popLast() {
                let slot = splits.count
                if item.parentSlot >= 0 {
                    if item.isLeft { lefts[item.parentSlot] = Int32(slot) } else { rights[item.parentSlot] = Int32(slot) }
                }
                let node = item.node
                if tree.isLeaf(node) {
                    splits.append(0)
                    values.append(tree.splitConditions[node])
                    lefts.append(-1)
                    rights.append(-1)
                    leftFractions.append(0)
                    rightFractions.append(0)
                    repeats.append(-1)
                    continue
                }
                let feature = tree.splitIndices[node]
                features.insert(feature)
                var split = UInt32(feature) | (tree.defaultLeft[node] ? PerfectForest.defaultLeftFlag : 0)
                var value = tree.splitConditions[node]
                if tree.isCategorical[node] {
                    split |= PerfectForest.categoricalFlag
                    value = Float(bitPattern: ForestModel.appendCategoryTable(tree.categories[Int32(node)] ?? [], to: &categoryWords))
                }
                let left = Int(tree.leftChildren[node]), right = Int(tree.rightChildren[node])
                splits.append(split)
                values.append(value)
                lefts.append(-1)
                rights.append(-1)
                leftFractions.append(covers[left] / covers[node])
                rightFractions.append(covers[right] / covers[node])
                var childPath = item.pathFeatures
                if let index = childPath.firstIndex(of: feature) {
                    repeats.append(Int16(index))
                    childPath.remove(at: index)
                } else {
                    repeats.append(-1)
                }
                childPath.append(feature)
                pending.append(Pending(node: right, parentSlot: slot, isLeft: false, pathFeatures: childPath))
                pending.append(Pending(node: left, parentSlot: slot, isLeft: true, pathFeatures: childPath))
            }
            treeFeatures.append(contentsOf: features.sorted())
            featureStarts.append(Int32(treeFeatures.count))
        }
        self.splits = splits
        self.values = values
        self.lefts = lefts
        self.rights = rights
        self.leftFractions = leftFractions
        self.rightFractions = rightFractions
        self.repeats = repeats
        self.categoryWords = categoryWords
        self.roots = roots
        self.expectedValues = expectedValues
        self.groups = definition.treeGroups.map { Int32($0) }
        self.weights = definition.treeWeights
        self.featureStarts = featureStarts
        self.treeFeatures = treeFeatures
        self.featureCount = definition.featureCount
        self.outputCount = definition.outputCount
        self.baseMargins = definition.baseMargins
        self.maximumDepth = definition.trees.map(\.depth).max() ?? 0
    }

    /// Bytes of the compiled arrays.
    var compiledBytes: Int {
        splits.count * (4 * 6 + 2) + categoryWords.count * 4 + roots.count * 16 + treeFeatures.count * 4
    }

    // MARK: - Explaining

    /// Contributions of `count` rows into `output` (`count × width`, overwritten), split across
    /// `threads` workers by rows.
    func explain(rows: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>, threads: Int) {
        let workers = max(1, min(threads, count / 16))
        if workers == 1 {
            explain(rows: rows, range: 0..<count, output: output)
            return
        }
        let chunk = (count + workers - 1) / workers
        let buffers = ExplainBuffers(rows: rows, output: output)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = worker * chunk, end = min(start + chunk, count)
            if start < end { explain(rows: buffers.rows, range: start..<end, output: buffers.output) }
        }
    }

    /// One worker's rows: scratch space once, then each row through every tree.
    private func explain(rows: UnsafePointer<Float>, range: Range<Int>, output: UnsafeMutablePointer<Float>) {
        let stride = maximumDepth + 2
        let scratch = Scratch(stride: stride, featureCount: featureCount)
        defer { scratch.deallocate() }
        let columns = featureCount + 1
        splits.withUnsafeBufferPointer { splits in
        values.withUnsafeBufferPointer { values in
        lefts.withUnsafeBufferPointer { lefts in
        rights.withUnsafeBufferPointer { rights in
        leftFractions.withUnsafeBufferPointer { leftFractions in
        rightFractions.withUnsafeBufferPointer { rightFractions in
        repeats.withUnsafeBufferPointer { repeats in
        categoryWords.withUnsafeBufferPointer { words in
        treeFeatures.withUnsafeBufferPointer { treeFeatures in
            let nodes = Nodes(
                splits: splits.baseAddress!, values: values.baseAddress!, lefts: lefts.baseAddress!, rights: rights.baseAddress!,
                leftFractions: leftFractions.baseAddress!, rightFractions: rightFractions.baseAddress!,
                repeats: repeats.baseAddress!, words: words.baseAddress)
            for row in range {
                let x = rows + row * featureCount
                let out = output + row * width
                out.initialize(repeating: 0, count: width)
                for tree in 0..<roots.count {
                    Self.shap(nodes, root: Int(roots[tree]), row: x, phi: scratch.phi, scratch: scratch)
                    let weight = weights?[tree] ?? 1
                    let groupOut = out + Int(groups[tree]) * columns
                    for index in Int(featureStarts[tree])..<Int(featureStarts[tree + 1]) {
                        let feature = Int(treeFeatures[index])
                        groupOut[feature] += scratch.phi[feature] * weight
                        scratch.phi[feature] = 0
                    }
                    groupOut[featureCount] += expectedValues[tree] * weight
                }
                for group in 0..<outputCount { out[group * columns + featureCount] += baseMargins[group] }
            }
        }}}}}}}}}
    }

    /// Pointers to the node arrays for the duration of one call.
    struct Nodes {
        let splits: UnsafePointer<UInt32>
        let values: UnsafePointer<Float>
        let lefts: UnsafePointer<Int32>
        let rights: UnsafePointer<Int32>
        let leftFractions: UnsafePointer<Float>
        let rightFractions: UnsafePointer<Float>
        let repeats: UnsafePointer<Int16>
        let words: UnsafePointer<UInt32>?
    }

    /// Per-worker scratch: one unique path per recursion level (`stride` elements each), the
    /// walk's stack of pending children, and the tree's contributions (`phi`, kept all zero
    /// between trees).
    struct Scratch {
        let stride: Int
        let features: UnsafeMutablePointer<Int32>
        let zeros: UnsafeMutablePointer<Float>
        let ones: UnsafeMutablePointer<Float>
        let weights: UnsafeMutablePointer<Float>
        let stack: UnsafeMutablePointer<Pending>
        let phi: UnsafeMutablePointer<Float>

        init(stride: Int, featureCount: Int) {
            self.stride = stride
            let slots = stride * (stride + 1)
            features = .allocate(capacity: slots)
            zeros = .allocate(capacity: slots)
            ones = .allocate(capacity: slots)
            weights = .allocate(capacity: slots)
            stack = .allocate(capacity: 2 * stride + 2)
            phi = .allocate(capacity: featureCount + 1)
            phi.initialize(repeating: 0, count: featureCount + 1)
        }

        func deallocate() {
            features.deallocate()
            zeros.deallocate()
            ones.deallocate()
            weights.deallocate()
            stack.deallocate()
            phi.deallocate()
        }
    }

    /// A child waiting to be walked: XGBoost's recursive call's arguments.
    struct Pending {
        var node: Int32
        var level: Int32
        /// Unique path length of the parent (after its unwinding), where this child extends it.
        var depth: Int32
        var feature: Int32
        var zero: Float
        var one: Float
    }

    /// XGBoost's `TreeShap` for one tree and row (hot child before cold, as its recursion goes),
    /// with an explicit stack instead of recursion. Adds the tree's contributions to `phi`.
    @inline(__always)
    static func shap(_ nodes: Nodes, root: Int, row: UnsafePointer<Float>, phi: UnsafeMutablePointer<Float>, scratch: Scratch) {
        let stride = scratch.stride
        let stack = scratch.stack
        var top = 0
        stack[0] = Pending(node: Int32(root), level: 0, depth: 0, feature: -1, zero: 1, one: 1)
        top = 1
        while top > 0 {
            top -= 1
            let item = stack[top]
            let node = Int(item.node)
            let level = Int(item.level)
            var depth = Int(item.depth)
            let base = level * stride
            let features = scratch.features + base, zeros = scratch.zeros + base
            let ones = scratch.ones + base, weights = scratch.weights + base
            if level > 0 {
                let parent = base - stride
                (features).update(from: scratch.features + parent, count: depth)
                zeros.update(from: scratch.zeros + parent, count: depth)
                ones.update(from: scratch.ones + parent, count: depth)
                weights.update(from: scratch.weights + parent, count: depth)
            }
            extend(features: features, zeros: zeros, ones: ones, weights: weights, depth: depth,
                   zero: item.zero, one: item.one, feature: item.feature)
            let left = nodes.lefts[node]
            if left < 0 {
                let leaf = nodes.values[node]
                if depth >= 1 {
                    for index in 1...depth {
                        let weight = unwoundSum(zeros: zeros, ones: ones, weights: weights, depth: depth, index: index)
                        phi[Int(features[index])] += weight * (ones[index] - zeros[index]) * leaf * 1
                    }
                }
                continue
            }
            let split = nodes.splits[node]
            let feature = Int32(bitPattern: split & PerfectForest.featureMask)
            let goesLeft = Self.goesLeft(row[Int(feature)], split: split, value: nodes.values[node], words: nodes.words)
            let right = nodes.rights[node]
            let hot = goesLeft ? left : right, cold = goesLeft ? right : left
            let hotFraction = goesLeft ? nodes.leftFractions[node] : nodes.rightFractions[node]
            let coldFraction = goesLeft ? nodes.rightFractions[node] : nodes.leftFractions[node]
            var incomingZero: Float = 1, incomingOne: Float = 1
            let repeated = Int(nodes.repeats[node])
            if repeated >= 0 {
                incomingZero = zeros[repeated]
                incomingOne = ones[repeated]
                unwind(features: features, zeros: zeros, ones: ones, weights: weights, depth: depth, index: repeated)
                depth -= 1
            }
            let childLevel = Int32(level + 1), childDepth = Int32(depth + 1)
            stack[top] = Pending(node: cold, level: childLevel, depth: childDepth, feature: feature, zero: coldFraction * incomingZero, one: 0)
            stack[top + 1] = Pending(node: hot, level: childLevel, depth: childDepth, feature: feature, zero: hotFraction * incomingZero, one: incomingOne)
            top += 2
        }
    }

    /// XGBoost's split rule (`GetNextNode`): NaN takes the default side; numerical `x < t` goes
    /// left; categorical: a listed category goes right, anything else (invalid included) left.
    @inline(__always)
    static func goesLeft(_ x: Float, split: UInt32, value: Float, words: UnsafePointer<UInt32>?) -> Bool {
        if x.isNaN { return split & PerfectForest.defaultLeftFlag != 0 }
        if split & PerfectForest.categoricalFlag != 0, let words {
            return !categoryIsInSet(x, offset: Int(value.bitPattern), words: words)
        }
        return x < value
    }

    /// `ExtendPath` (see ``ReferenceExplainer/extend(_:depth:zero:one:feature:)``).
    @inline(__always)
    static func extend(
        features: UnsafeMutablePointer<Int32>, zeros: UnsafeMutablePointer<Float>, ones: UnsafeMutablePointer<Float>,
        weights: UnsafeMutablePointer<Float>, depth: Int, zero: Float, one: Float, feature: Int32
    ) {
        features[depth] = feature
        zeros[depth] = zero
        ones[depth] = one
        weights[depth] = depth == 0 ? 1 : 0
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            weights[i + 1] += one * weights[i] * Float(i + 1) / size
            weights[i] = zero * weights[i] * Float(depth - i) / size
            i -= 1
        }
    }

    /// `UnwindPath` (see ``ReferenceExplainer/unwind(_:depth:index:)``).
    @inline(__always)
    static func unwind(
        features: UnsafeMutablePointer<Int32>, zeros: UnsafeMutablePointer<Float>, ones: UnsafeMutablePointer<Float>,
        weights: UnsafeMutablePointer<Float>, depth: Int, index: Int
    ) {
        let one = ones[index], zero = zeros[index]
        var next = weights[depth]
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let saved = weights[i]
                weights[i] = next * size / (Float(i + 1) * one)
                next = saved - weights[i] * zero * Float(depth - i) / size
            } else {
                weights[i] = (weights[i] * size) / (zero * Float(depth - i))
            }
            i -= 1
        }
        var j = index
        while j < depth {
            features[j] = features[j + 1]
            zeros[j] = zeros[j + 1]
            ones[j] = ones[j + 1]
            j += 1
        }
    }

    /// `UnwoundPathSum` (see ``ReferenceExplainer/unwoundSum(_:depth:index:)``).
    @inline(__always)
    static func unwoundSum(
        zeros: UnsafeMutablePointer<Float>, ones: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
        depth: Int, index: Int
    ) -> Float {
        let one = ones[index], zero = zeros[index]
        var next = weights[depth]
        var total: Float = 0
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let part = next * size / (Float(i + 1) * one)
                total += part
                next = weights[i] - part * zero * (Float(depth - i) / size)
            } else if zero != 0 {
                total += (weights[i] / zero) / (Float(depth - i) / size)
            }
            i -= 1
        }
        return total
    }
}

/// The row and output pointers handed to the workers of one `explain` call.
///
/// Safe to send: the caller keeps both buffers alive until `concurrentPerform` returns, the rows
/// are only read, and every worker writes a disjoint range of output rows.
private struct ExplainBuffers: @unchecked Sendable {
    let rows: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
}

extension TreeExplainer {
    /// The explainer of `definition`, or the one-line reason it has none.
    static func compile(_ definition: ModelDefinition) -> Result<TreeExplainer, ForestError> {
        do {
            return .success(try TreeExplainer(definition: definition))
        } catch let error as ForestError {
            return .failure(error)
        } catch {
            return .failure(ForestError.unsupported("\(error)"))
        }
    }
}
