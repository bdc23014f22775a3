import Dispatch
import Foundation
internal import ForestKernels

/// A forest compiled for exact path-dependent TreeSHAP: XGBoost's `predict(pred_contribs=True)`,
/// the same Float32 operations in the same order (see ``ReferenceExplainer``), on flat arrays.
///
/// What does not depend on the row is computed once here instead of per row and node as XGBoost
/// does: every node's cover fractions (`cover(child) / cover(node)`), every tree's expected value
/// (the bias part), and where on the unique path a split's feature already sits (the path's
/// features are the same for every row; only its weights and "one" fractions differ). Nodes are
/// stored in pre-order, each tree's features listed, so a row touches only its trees' features.
struct TreeExplainer: Sendable {
    // MARK: Per node (pre-order, left subtree first, every tree's nodes after the previous tree's)

    /// Split feature, with ``PerfectForest/defaultLeftFlag`` and ``PerfectForest/categoricalFlag``.
    let splits: [UInt32]
    /// Threshold; categorical split: the bit pattern of its table's index in ``categoryWords``;
    /// leaf: the leaf value.
    let values: [Float]
    /// Absolute index of the left child (always the next node), -1 for a leaf.
    let lefts: [Int32]
    let rights: [Int32]
    /// `cover(left) / cover(node)` and `cover(right) / cover(node)`, as XGBoost divides them.
    let leftFractions: [Float]
    let rightFractions: [Float]
    /// For a split node: the index on its unique path of the element that already splits on its
    /// feature (XGBoost unwinds it), or -1.
    let repeats: [Int16]
    /// Edges from the root.
    let levels: [Int16]
    /// Where the node extends its parent's unique path (the path's length after the parent's
    /// unwinding); for a leaf, its number of path elements besides the root's.
    let extensionDepths: [Int16]
    /// The zero fraction of the element the node adds: its cover fraction times the unwound
    /// element's zero fraction (XGBoost's `hot/cold_zero_fraction * incoming_zero_fraction`).
    let extensionZeros: [Float]
    let isLeft: [UInt8]
    /// Leaves in the node's subtree.
    let leafCounts: [Int32]
    /// Category tables (``ForestModel/appendCategoryTable(_:to:)`` format).
    let categoryWords: [UInt32]

    // MARK: Per leaf (pre-order)

    /// `leafFeatures[leafFeatureStarts[l] ..< leafFeatureStarts[l + 1]]`: the features of leaf
    /// `l`'s unique path elements 1...depth (the same for every row).
    let leafFeatureStarts: [Int32]
    let leafFeatures: [Int32]

    // MARK: Per tree

    /// First node of each tree, then the node count.
    let nodeStarts: [Int32]
    /// First leaf of each tree, then the leaf count.
    let leafStarts: [Int32]
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
    let maximumLeaves: Int
    /// Most leaf path elements (sum of the leaves' extension depths) in one tree.
    let maximumTerms: Int

    /// Values per row: `outputCount × (featureCount + 1)`.
    var width: Int { outputCount * (featureCount + 1) }

    /// Compiles `definition`.
    ///
    /// - Throws: ``ForestError`` (`.unsupported`) when a tree has no covers (`sum_hessian`).
    init(definition: ModelDefinition) throws {
        var splits = [UInt32](), values = [Float](), lefts = [Int32](), rights = [Int32]()
        var leftFractions = [Float](), rightFractions = [Float](), repeats = [Int16]()
        var levels = [Int16](), extensionDepths = [Int16](), extensionZeros = [Float](), isLeft = [UInt8]()
        var categoryWords = [UInt32]()
        var leafFeatureStarts: [Int32] = [0], leafFeatures = [Int32]()
        var nodeStarts: [Int32] = [0], leafStarts: [Int32] = [0]
        var expectedValues = [Float](), featureStarts: [Int32] = [0], treeFeatures = [Int32]()
        var maximumLeaves = 0, maximumTerms = 0
        let nodeTotal = definition.trees.reduce(0) { $0 + $1.reachableNodes }
        guard nodeTotal < Int(Int32.max) / 2 else { throw ForestError.unsupported("the model has too many nodes to explain") }

        for (treeIndex, tree) in definition.trees.enumerated() {
            guard let covers = tree.covers else {
                throw ForestError.unsupported(
                    "tree \(treeIndex) has no node covers (XGBoost's sum_hessian), which TreeSHAP explanations need")
            }
            guard tree.depth < Int(Int16.max) else { throw ForestError.unsupported("tree \(treeIndex) is too deep to explain") }
            if let node = Self.reachableNodes(tree).first(where: { !(covers[$0].isFinite && covers[$0] >= 0) }) {
                // XGBoost 3.2 divides by them anyway; its newer TreeSHAP refuses them (survival:cox can write negative hessian sums).
                throw ForestError.unsupported(
                    "tree \(treeIndex), node \(node): cover (sum_hessian) \(covers[node]) is negative or not finite, so TreeSHAP cannot explain this model")
            }
            expectedValues.append(ReferenceExplainer.meanValue(tree: tree, covers: covers, node: 0))
            var features = Set<Int32>()
            let treeLeafStart = leafFeatures.count
            // Pre-order walk (left first) carrying the unique path's features and zero fractions,
            // which are the same for every row: XGBoost's recursion builds them identically.
            struct Pending {
                var node: Int, parentSlot: Int, isLeft: Bool, level: Int
                var zero: Float, feature: Int32
                var pathFeatures: [Int32], pathZeros: [Float]
            }
            var pending = [Pending(node: 0, parentSlot: -1, isLeft: false, level: 0, zero: 1, feature: -1, pathFeatures: [], pathZeros: [])]
            while let item = pending.popLast() {
                let slot = splits.count
                if item.parentSlot >= 0 {
                    if item.isLeft { lefts[item.parentSlot] = Int32(slot) } else { rights[item.parentSlot] = Int32(slot) }
                }
                let node = item.node
                levels.append(Int16(item.level))
                extensionDepths.append(Int16(item.pathFeatures.count))
                extensionZeros.append(item.zero)
                isLeft.append(item.isLeft ? 1 : 0)
                let pathFeatures = item.pathFeatures + [item.feature], pathZeros = item.pathZeros + [item.zero]
                lefts.append(-1)
                rights.append(-1)
                if tree.isLeaf(node) {
                    splits.append(0)
                    values.append(tree.splitConditions[node])
                    leftFractions.append(0)
                    rightFractions.append(0)
                    repeats.append(-1)
                    leafFeatures.append(contentsOf: pathFeatures.dropFirst())
                    leafFeatureStarts.append(Int32(leafFeatures.count))
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
                let leftFraction = covers[left] / covers[node], rightFraction = covers[right] / covers[node]
                splits.append(split)
                values.append(value)
                leftFractions.append(leftFraction)
                rightFractions.append(rightFraction)
                var childFeatures = pathFeatures, childZeros = pathZeros
                var incomingZero: Float = 1
                if let index = childFeatures.firstIndex(of: Int32(feature)) {
                    repeats.append(Int16(index))
                    incomingZero = childZeros[index]
                    childFeatures.remove(at: index)
                    childZeros.remove(at: index)
                } else {
                    repeats.append(-1)
                }
                pending.append(Pending(node: right, parentSlot: slot, isLeft: false, level: item.level + 1, zero: rightFraction * incomingZero,
                                       feature: feature, pathFeatures: childFeatures, pathZeros: childZeros))
                pending.append(Pending(node: left, parentSlot: slot, isLeft: true, level: item.level + 1, zero: leftFraction * incomingZero,
                                       feature: feature, pathFeatures: childFeatures, pathZeros: childZeros))
            }
            nodeStarts.append(Int32(splits.count))
            leafStarts.append(Int32(leafFeatureStarts.count - 1))
            maximumLeaves = max(maximumLeaves, Int(leafStarts[leafStarts.count - 1] - leafStarts[leafStarts.count - 2]))
            maximumTerms = max(maximumTerms, leafFeatures.count - treeLeafStart)
            treeFeatures.append(contentsOf: features.sorted())
            featureStarts.append(Int32(treeFeatures.count))
        }
        var leafCounts = [Int32](repeating: 0, count: splits.count)
        for node in stride(from: splits.count - 1, through: 0, by: -1) {
            leafCounts[node] = rights[node] < 0 ? 1 : leafCounts[node + 1] + leafCounts[Int(rights[node])]
        }
        self.splits = splits
        self.values = values
        self.lefts = lefts
        self.rights = rights
        self.leftFractions = leftFractions
        self.rightFractions = rightFractions
        self.repeats = repeats
        self.levels = levels
        self.extensionDepths = extensionDepths
        self.extensionZeros = extensionZeros
        self.isLeft = isLeft
        self.leafCounts = leafCounts
        self.categoryWords = categoryWords
        self.leafFeatureStarts = leafFeatureStarts
        self.leafFeatures = leafFeatures
        self.nodeStarts = nodeStarts
        self.leafStarts = leafStarts
        self.expectedValues = expectedValues
        self.groups = definition.treeGroups.map { Int32($0) }
        self.weights = definition.treeWeights
        self.featureStarts = featureStarts
        self.treeFeatures = treeFeatures
        self.featureCount = definition.featureCount
        self.outputCount = definition.outputCount
        self.baseMargins = definition.baseMargins
        self.maximumDepth = definition.trees.map(\.depth).max() ?? 0
        self.maximumLeaves = maximumLeaves
        self.maximumTerms = maximumTerms
    }

    /// The nodes reachable from the root of `tree`.
    static func reachableNodes(_ tree: TreeDefinition) -> [Int] {
        var nodes = [Int](), pending = [0]
        while let node = pending.popLast() {
            nodes.append(node)
            if !tree.isLeaf(node) { pending += [Int(tree.rightChildren[node]), Int(tree.leftChildren[node])] }
        }
        return nodes
    }

    /// Bytes of the compiled arrays.
    var compiledBytes: Int {
        splits.count * (4 * 8 + 2 * 3 + 1) + categoryWords.count * 4 + leafFeatures.count * 4 + leafFeatureStarts.count * 4
            + expectedValues.count * 24 + treeFeatures.count * 4
    }

    // MARK: - Explaining

    /// Rows per block of the vector kernel this process uses (16 with AVX-512, 8 with AVX2), or 0
    /// for the Swift walk (other CPUs, or `FOREST_KERNEL=portable`; `FOREST_KERNEL=avx2` keeps
    /// an AVX-512 CPU on the 8-lane kernel).
    static let vectorLanes: Int = {
        let lanes = Int(forest_shap_lanes())
        switch ProcessInfo.processInfo.environment["FOREST_KERNEL"] {
        case "portable": return 0
        case "avx2": return min(lanes, 8)
        default: return lanes
        }
    }()

    /// Deeper trees (more path elements per leaf than the kernel's fixed room) take the Swift walk.
    static let vectorMaximumDepth = 63

    /// The lanes ``explain(rows:count:output:threads:lanes:)`` uses by default for this model.
    var preferredLanes: Int { maximumDepth <= Self.vectorMaximumDepth ? Self.vectorLanes : 0 }

    /// Contributions of `count` rows into `output` (`count × width`, overwritten), split across
    /// `threads` workers by rows.
    ///
    /// - Parameter lanes: nil picks ``preferredLanes``; tests force 0 (the Swift walk), 8 or 16
    ///   (the vector kernels; 16 only on AVX-512 CPUs) to compare them.
    func explain(rows: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>, threads: Int, lanes: Int? = nil) {
        let lanes = lanes ?? preferredLanes
        precondition(lanes == 0 || (lanes <= Self.vectorLanes && maximumDepth <= Self.vectorMaximumDepth), "vector kernel not available")
        let workers = max(1, min(threads, count / 16))
        if workers == 1 {
            explain(rows: rows, range: 0..<count, output: output, lanes: lanes)
            return
        }
        // Whole vector blocks per worker.
        let block = max(lanes, 1)
        let chunk = ((count + workers - 1) / workers + block - 1) / block * block
        let buffers = ExplainBuffers(rows: rows, output: output)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = worker * chunk, end = min(start + chunk, count)
            if start < end { explain(rows: buffers.rows, range: start..<end, output: buffers.output, lanes: lanes) }
        }
    }

    /// One worker's rows with the vector kernel (`lanes` > 0) or the Swift walk.
    private func explain(rows: UnsafePointer<Float>, range: Range<Int>, output: UnsafeMutablePointer<Float>, lanes: Int) {
        if lanes > 0 {
            withKernelModel { model in
                let bytes = Int(forest_shap_scratch_bytes(model, Int32(lanes)))
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
                defer { scratch.deallocate() }
                forest_shap_contributions(model, Int32(lanes), rows + range.lowerBound * featureCount, Int64(range.count),
                                          output + range.lowerBound * width, scratch)
            }
            return
        }
        portableExplain(rows: rows, range: range, output: output)
    }

    /// Calls `body` with the C view of the arrays (valid only during the call).
    private func withKernelModel(_ body: (UnsafePointer<forest_shap_model>) -> Void) {
        splits.withUnsafeBufferPointer { splits in
        values.withUnsafeBufferPointer { values in
        rights.withUnsafeBufferPointer { rights in
        levels.withUnsafeBufferPointer { levels in
        extensionDepths.withUnsafeBufferPointer { extensionDepths in
        extensionZeros.withUnsafeBufferPointer { extensionZeros in
        isLeft.withUnsafeBufferPointer { isLeft in
        repeats.withUnsafeBufferPointer { repeats in
        leafCounts.withUnsafeBufferPointer { leafCounts in
        categoryWords.withUnsafeBufferPointer { categoryWords in
        leafFeatureStarts.withUnsafeBufferPointer { leafFeatureStarts in
        leafFeatures.withUnsafeBufferPointer { leafFeatures in
        nodeStarts.withUnsafeBufferPointer { nodeStarts in
        leafStarts.withUnsafeBufferPointer { leafStarts in
        expectedValues.withUnsafeBufferPointer { expectedValues in
        groups.withUnsafeBufferPointer { groups in
        featureStarts.withUnsafeBufferPointer { featureStarts in
        treeFeatures.withUnsafeBufferPointer { treeFeatures in
        baseMargins.withUnsafeBufferPointer { baseMargins in
            func call(_ weights: UnsafePointer<Float>?) {
                var model = forest_shap_model(
                    splits: splits.baseAddress, values: values.baseAddress, rights: rights.baseAddress, levels: levels.baseAddress,
                    extensionDepths: extensionDepths.baseAddress, extensionZeros: extensionZeros.baseAddress,
                    isLeft: isLeft.baseAddress, repeats: repeats.baseAddress, leafCounts: leafCounts.baseAddress,
                    categoryWords: categoryWords.isEmpty ? nil : categoryWords.baseAddress,
                    leafFeatureStarts: leafFeatureStarts.baseAddress, leafFeatures: leafFeatures.baseAddress,
                    nodeStarts: nodeStarts.baseAddress, leafStarts: leafStarts.baseAddress,
                    expectedValues: expectedValues.baseAddress, groups: groups.baseAddress, weights: weights,
                    featureStarts: featureStarts.baseAddress, treeFeatures: treeFeatures.baseAddress,
                    baseMargins: baseMargins.baseAddress,
                    treeCount: Int64(expectedValues.count), groupCount: Int64(outputCount), featureCount: Int64(featureCount),
                    maximumDepth: Int64(maximumDepth), maximumLeaves: Int64(maximumLeaves), maximumTerms: Int64(maximumTerms))
                body(&model)
            }
            if let weights = self.weights {
                weights.withUnsafeBufferPointer { call($0.baseAddress) }
            } else {
                call(nil)
            }
        }}}}}}}}}}}}}}}}}}}
    }

    /// The Swift walk for one worker's rows: scratch space once, then each row through every tree.
    private func portableExplain(rows: UnsafePointer<Float>, range: Range<Int>, output: UnsafeMutablePointer<Float>) {
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
                for tree in 0..<expectedValues.count {
                    Self.shap(nodes, root: Int(nodeStarts[tree]), row: x, phi: scratch.phi, scratch: scratch)
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
        /// A leaf's path sums in progress, per element.
        let next: UnsafeMutablePointer<Float>
        let total: UnsafeMutablePointer<Float>

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
            next = .allocate(capacity: stride)
            total = .allocate(capacity: stride)
        }

        func deallocate() {
            features.deallocate()
            zeros.deallocate()
            ones.deallocate()
            weights.deallocate()
            stack.deallocate()
            phi.deallocate()
            next.deallocate()
            total.deallocate()
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
                if depth >= 1 {
                    leafContributions(zeros: zeros, ones: ones, weights: weights, depth: depth, leaf: nodes.values[node],
                                      features: features, phi: phi, scratch: scratch)
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

    /// A leaf's contribution to each feature of its path: `UnwoundPathSum` of every element
    /// (see ``ReferenceExplainer/unwoundSum(_:depth:index:)``) times `(one - zero) * leaf`, added
    /// to `phi` in element order as XGBoost does. The elements' sums are independent chains of
    /// divisions; they advance together so the CPU overlaps them (one at a time, each step waits
    /// for the previous division).
    @inline(__always)
    static func leafContributions(
        zeros: UnsafeMutablePointer<Float>, ones: UnsafeMutablePointer<Float>, weights: UnsafeMutablePointer<Float>,
        depth: Int, leaf: Float, features: UnsafeMutablePointer<Int32>, phi: UnsafeMutablePointer<Float>, scratch: Scratch
    ) {
        let next = scratch.next, total = scratch.total
        for index in 1...depth {
            next[index] = weights[depth]
            total[index] = 0
        }
        let size = Float(depth + 1)
        var i = depth - 1
        while i >= 0 {
            let position = Float(i + 1), share = Float(depth - i) / size
            for index in 1...depth {
                let one = ones[index], zero = zeros[index]
                if one != 0 {
                    let part = next[index] * size / (position * one)
                    total[index] += part
                    next[index] = weights[i] - part * zero * share
                } else if zero != 0 {
                    total[index] += (weights[i] / zero) / share
                }
            }
            i -= 1
        }
        for index in 1...depth {
            phi[Int(features[index])] += total[index] * (ones[index] - zeros[index]) * leaf * 1
        }
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
