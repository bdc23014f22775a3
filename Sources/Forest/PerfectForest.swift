import Foundation
internal import ForestKernels

/// A forest with every tree stored as a perfect binary tree of its depth, in level order.
///
/// Node `j` of level `L` sits at `2^L - 1 + j`; its children are `2j` and `2j + 1` of level
/// `L + 1`, so a step computes the child instead of loading it, and the top levels of a tree fit in
/// a few vector registers (see `Sources/ForestKernels`). A leaf above the tree's depth is padded
/// with dummy splits whose both sides reach copies of that leaf, so every row walks exactly `depth`
/// steps and ends on a copy of the leaf XGBoost would reach (same value, same node id).
///
/// Per internal node 8 bytes (split, threshold), per leaf 8 bytes (value, XGBoost node id). A
/// categorical split sets ``categoricalFlag`` and keeps, in place of its threshold, the index of its
/// bitset in ``categoryWords`` (same table format as ``ForestModel/categoryWords``). A model is
/// compiled this way only when the padding keeps it within 16 bytes per stored node (see
/// ``init(definition:treeWeights:)``); otherwise ``ForestModel`` keeps its pointer-based
/// ``PackedNode`` layout.
struct PerfectForest: Sendable {
    /// Per node: feature index, with ``defaultLeftFlag`` set when missing values go left and
    /// ``categoricalFlag`` on categorical splits.
    let splits: [UInt32]
    /// Per node: go left iff `x < threshold`; categorical split: the bit pattern of its table's
    /// index in ``categoryWords``.
    let thresholds: [Float]
    /// Per categorical split: word count, then the bitset words of the categories that go right.
    /// Empty when the forest has no categorical split (the kernels then skip the categorical rule).
    let categoryWords: [UInt32]
    /// Per leaf: the leaf value.
    let leaves: [Float]
    /// Per leaf: the XGBoost node id of the leaf (for `pred_leaf`).
    let leafNodeIDs: [Int32]
    let nodeStarts: [UInt32]
    let leafStarts: [UInt32]
    let depths: [UInt32]
    let groups: [UInt32]
    let weights: [Float]?
    let baseMargins: [Float]
    let featureCount: Int

    static let defaultLeftFlag: UInt32 = 1 << 31
    static let categoricalFlag: UInt32 = 1 << 30
    static let featureMask: UInt32 = (1 << 30) - 1
    /// The vector kernel loads whole 8-lane vectors of a tree's top levels: arrays end with this
    /// much padding so the last tree's loads stay inside them.
    static let padding = 8
    /// Deeper trees keep the pointer layout (2^depth slots would be mostly padding).
    static let maximumDepth = 16

    /// Compiles `definition`, or returns nil when the model is not eligible: a tree deeper than
    /// ``maximumDepth``, padding beyond 16 bytes per stored node, or sizes beyond the kernel's
    /// 32-bit indices.
    init?(definition: ModelDefinition, treeWeights: [Float]?) {
        let trees = definition.trees
        guard definition.featureCount > 0, definition.featureCount < (1 << 24),
              trees.allSatisfy({ $0.depth <= Self.maximumDepth }) else { return nil }
        let storedNodes = trees.reduce(0) { $0 + $1.nodeCount }
        let paddedSlots = trees.reduce(0) { $0 + (2 << $1.depth) - 1 }
        guard paddedSlots * 8 <= storedNodes * 16, paddedSlots < Int(Int32.max) / 2 else { return nil }

        var splits = [UInt32](), thresholds = [Float](), leaves = [Float](), leafNodeIDs = [Int32]()
        var categoryWords = [UInt32]()
        splits.reserveCapacity(paddedSlots / 2 + Self.padding)
        thresholds.reserveCapacity(paddedSlots / 2 + Self.padding)
        leaves.reserveCapacity(paddedSlots / 2 + 1 + Self.padding)
        leafNodeIDs.reserveCapacity(paddedSlots / 2 + 1)
        var nodeStarts = [UInt32](), leafStarts = [UInt32](), depths = [UInt32]()
        for tree in trees {
            let depth = tree.depth
            let nodeStart = splits.count, leafStart = leaves.count
            nodeStarts.append(UInt32(nodeStart))
            leafStarts.append(UInt32(leafStart))
            depths.append(UInt32(depth))
            splits.append(contentsOf: repeatElement(0, count: (1 << depth) - 1))
            thresholds.append(contentsOf: repeatElement(0, count: (1 << depth) - 1))
            leaves.append(contentsOf: repeatElement(0, count: 1 << depth))
            leafNodeIDs.append(contentsOf: repeatElement(0, count: 1 << depth))
            // Depth-first fill: (XGBoost node, level, position in level).
            var pending: [(node: Int, level: Int, position: Int)] = [(0, 0, 0)]
            while let (node, level, position) = pending.popLast() {
                if level == depth {
                    leaves[leafStart + position] = tree.splitConditions[node]
                    leafNodeIDs[leafStart + position] = Int32(node)
                    continue
                }
                let slot = nodeStart + (1 << level) - 1 + position
                if tree.isLeaf(node) {
                    // Dummy split: both children continue to this same leaf.
                    pending.append((node, level + 1, 2 * position))
                    pending.append((node, level + 1, 2 * position + 1))
                    continue
                }
                splits[slot] = UInt32(tree.splitIndices[node]) | (tree.defaultLeft[node] ? Self.defaultLeftFlag : 0)
                if tree.isCategorical[node] {
                    splits[slot] |= Self.categoricalFlag
                    let offset = ForestModel.appendCategoryTable(tree.categories[Int32(node)] ?? [], to: &categoryWords)
                    // The AVX2 kernel gathers the table with signed 32-bit indices.
                    guard categoryWords.count < Int(Int32.max) else { return nil }
                    thresholds[slot] = Float(bitPattern: offset)
                } else {
                    thresholds[slot] = tree.splitConditions[node]
                }
                pending.append((Int(tree.leftChildren[node]), level + 1, 2 * position))
                pending.append((Int(tree.rightChildren[node]), level + 1, 2 * position + 1))
            }
        }
        splits.append(contentsOf: repeatElement(0, count: Self.padding))
        thresholds.append(contentsOf: repeatElement(0, count: Self.padding))
        leaves.append(contentsOf: repeatElement(0, count: Self.padding))
        self.splits = splits
        self.thresholds = thresholds
        self.categoryWords = categoryWords
        self.leaves = leaves
        self.leafNodeIDs = leafNodeIDs
        self.nodeStarts = nodeStarts
        self.leafStarts = leafStarts
        self.depths = depths
        self.groups = definition.treeGroups.map { UInt32($0) }
        self.weights = treeWeights
        self.baseMargins = definition.baseMargins
        self.featureCount = definition.featureCount
    }

    /// Bytes of the padded nodes and leaves (8 each, without the vector-load padding).
    var nodeBytes: Int { (splits.count + thresholds.count + leaves.count - 3 * Self.padding + leafNodeIDs.count) * 4 }

    /// Bytes of the compiled arrays: nodes, leaves, category tables and the per-tree tables.
    var compiledBytes: Int { nodeBytes + categoryWords.count * 4 + depths.count * (4 * 4 + (weights == nil ? 0 : 4)) }

    // MARK: - Vector kernel

    /// True when this process runs the AVX2 kernel (decided once): the CPU has AVX2 and the
    /// environment does not set `FOREST_KERNEL=portable` (which benchmarks the fallback, or rules
    /// the vector kernel out while debugging).
    static let vectorKernelAvailable: Bool =
        forest_avx2_available() != 0 && ProcessInfo.processInfo.environment["FOREST_KERNEL"] != "portable"

    /// Margins of `rowCount` rows with the AVX2 kernel. Only call when ``vectorKernelAvailable``.
    func vectorMargins(rows: UnsafePointer<Float>, rowCount: Int, margins: UnsafeMutablePointer<Float>) {
        let groupCount = baseMargins.count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groupCount * 64) { scratch in
            splits.withUnsafeBufferPointer { splits in
            thresholds.withUnsafeBufferPointer { thresholds in
            leaves.withUnsafeBufferPointer { leaves in
            nodeStarts.withUnsafeBufferPointer { nodeStarts in
            leafStarts.withUnsafeBufferPointer { leafStarts in
            depths.withUnsafeBufferPointer { depths in
            groups.withUnsafeBufferPointer { groups in
            baseMargins.withUnsafeBufferPointer { baseMargins in
            categoryWords.withUnsafeBufferPointer { categoryWords in
                let call = { (weights: UnsafePointer<Float>?) in
                    var model = forest_perfect_model(
                        splits: splits.baseAddress, thresholds: thresholds.baseAddress,
                        categoryWords: categoryWords.isEmpty ? nil : categoryWords.baseAddress, leaves: leaves.baseAddress,
                        nodeStarts: nodeStarts.baseAddress, leafStarts: leafStarts.baseAddress, depths: depths.baseAddress,
                        groups: groups.baseAddress, weights: weights, baseMargins: baseMargins.baseAddress,
                        treeCount: Int64(depths.count), groupCount: Int64(groupCount), featureCount: Int64(featureCount))
                    forest_avx2_margins(&model, rows, Int64(rowCount), margins, scratch.baseAddress)
                }
                if let weights = self.weights {
                    weights.withUnsafeBufferPointer { call($0.baseAddress) }
                } else {
                    call(nil)
                }
            }}}}}}}}}
        }
    }

    // MARK: - Portable kernel

    /// Margins of one block of rows in Swift: the fallback for CPUs without AVX2 and the oracle the
    /// vector kernel is tested against. Trees outer, rows inner, four rows walking down each tree
    /// together: four independent load chains for the CPU to overlap, positions in registers
    /// (BENCHMARKS.md, "Evaluator vs XGBoost", kernel history).
    ///
    /// A forest with categorical splits takes ``MixedStep`` (both decisions computed, one picked);
    /// a numerical one ``NumericStep``, so it pays nothing for the categorical rule.
    func portableMargins(rows: UnsafePointer<Float>, rowCount: Int, margins: UnsafeMutablePointer<Float>) {
        if categoryWords.isEmpty {
            portableMargins(NumericStep.self, rows: rows, rowCount: rowCount, margins: margins)
        } else {
            portableMargins(MixedStep.self, rows: rows, rowCount: rowCount, margins: margins)
        }
    }

    @inline(__always)
    private func portableMargins<Rule: PerfectStepRule>(
        _ rule: Rule.Type, rows: UnsafePointer<Float>, rowCount: Int, margins: UnsafeMutablePointer<Float>
    ) {
        let groupCount = baseMargins.count
        for row in 0..<rowCount {
            for group in 0..<groupCount { margins[row * groupCount + group] = baseMargins[group] }
        }
        splits.withUnsafeBufferPointer { splitBuffer in
        thresholds.withUnsafeBufferPointer { thresholdBuffer in
        leaves.withUnsafeBufferPointer { leafBuffer in
        categoryWords.withUnsafeBufferPointer { wordBuffer in
            let words = wordBuffer.baseAddress
            if rowCount == 1 {
                // One row: walk each tree straight down; consecutive trees are independent, so the
                // CPU overlaps their walks.
                for tree in 0..<depths.count {
                    let nodeStart = Int(nodeStarts[tree])
                    var position: UInt32 = 0
                    for level in 0..<Int(depths[tree]) {
                        let levelStart = nodeStart + (1 << level) - 1
                        position = Rule.singleRowStep(splitBuffer.baseAddress! + levelStart, thresholdBuffer.baseAddress! + levelStart, words, position, rows)
                    }
                    ForestModel.add(leafBuffer[Int(leafStarts[tree]) + Int(position)], to: margins + Int(groups[tree]), weight: weights?[tree])
                }
                return
            }
            for tree in 0..<depths.count {
                let splits = splitBuffer.baseAddress! + Int(nodeStarts[tree])
                let thresholds = thresholdBuffer.baseAddress! + Int(nodeStarts[tree])
                let leaves = leafBuffer.baseAddress! + Int(leafStarts[tree])
                let out = margins + Int(groups[tree])
                let weight = weights?[tree]
                let depth = Int(depths[tree])
                var row = 0
                // Four rows walk down together, positions in registers: four independent chains.
                while row &+ 4 <= rowCount {
                    let row0 = rows + row &* featureCount
                    let row1 = row0 + featureCount, row2 = row1 + featureCount, row3 = row2 + featureCount
                    var p0: UInt32 = 0, p1: UInt32 = 0, p2: UInt32 = 0, p3: UInt32 = 0
                    for level in 0..<depth {
                        let levelSplits = splits + ((1 &<< level) &- 1), levelThresholds = thresholds + ((1 &<< level) &- 1)
                        p0 = Rule.step(levelSplits, levelThresholds, words, p0, row0)
                        p1 = Rule.step(levelSplits, levelThresholds, words, p1, row1)
                        p2 = Rule.step(levelSplits, levelThresholds, words, p2, row2)
                        p3 = Rule.step(levelSplits, levelThresholds, words, p3, row3)
                    }
                    ForestModel.add(leaves[Int(p0)], to: out + row &* groupCount, weight: weight)
                    ForestModel.add(leaves[Int(p1)], to: out + (row &+ 1) &* groupCount, weight: weight)
                    ForestModel.add(leaves[Int(p2)], to: out + (row &+ 2) &* groupCount, weight: weight)
                    ForestModel.add(leaves[Int(p3)], to: out + (row &+ 3) &* groupCount, weight: weight)
                    row &+= 4
                }
                while row < rowCount {
                    let rowPointer = rows + row &* featureCount
                    var position: UInt32 = 0
                    for level in 0..<depth {
                        position = Rule.step(splits + ((1 &<< level) &- 1), thresholds + ((1 &<< level) &- 1), words, position, rowPointer)
                    }
                    ForestModel.add(leaves[Int(position)], to: out + row &* groupCount, weight: weight)
                    row &+= 1
                }
            }
        }}}}
    }

    /// The XGBoost node id of the leaf `tree` routes `row` to.
    func leafNodeID(tree: Int, row: UnsafePointer<Float>) -> Int32 {
        splits.withUnsafeBufferPointer { splits in
        thresholds.withUnsafeBufferPointer { thresholds in
        categoryWords.withUnsafeBufferPointer { words in
            var position: UInt32 = 0
            for level in 0..<Int(depths[tree]) {
                let levelStart = Int(nodeStarts[tree]) + (1 << level) - 1
                position = words.isEmpty
                    ? NumericStep.step(splits.baseAddress! + levelStart, thresholds.baseAddress! + levelStart, nil, position, row)
                    : MixedStep.step(splits.baseAddress! + levelStart, thresholds.baseAddress! + levelStart, words.baseAddress, position, row)
            }
            return leafNodeIDs[Int(leafStarts[tree]) + Int(position)]
        }}}
    }
}

// MARK: - Portable steps

/// One step down a perfect tree: from position `position` of a level (whose nodes start at
/// `splits`/`thresholds`) to the child's position in the next level. A protocol so that the
/// portable kernel is specialised per rule (static dispatch, no per-node indirection).
protocol PerfectStepRule {
    /// The step the batch walks take (branch-free).
    static func step(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32
    /// The step a single row's walk takes: same decision, may branch.
    static func singleRowStep(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32
}

/// Numerical splits only: `x < t` goes left, NaN goes to the default side. Branch-free for the
/// same reason as ``ForestModel/numericStepValue(_:_:)``.
enum NumericStep: PerfectStepRule {
    @inline(__always)
    static func step(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        let split = splits[Int(position)]
        let x = row[Int(split & PerfectForest.featureMask)]
        let less: UInt32 = x < thresholds[Int(position)] ? 1 : 0
        let missing: UInt32 = x.isNaN ? 1 : 0
        let goLeft = less | (missing & (split >> 31))
        return position &* 2 &+ (goLeft ^ 1)
    }

    @inline(__always)
    static func singleRowStep(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        step(splits, thresholds, words, position, row)
    }
}

/// Numerical or categorical splits, decided exactly as ``ForestModel/mixedStep(_:_:_:_:)``
/// (XGBoost's `GetNextNode`) and branch-free like it: NaN takes the default side; on a categorical
/// split a value that is negative, at least 2^24 or beyond the node's bitset goes left, otherwise
/// its category (the value truncated) goes right iff it is in the set. `words` must be the
/// forest's non-empty ``PerfectForest/categoryWords``; every load stays inside it (a numerical
/// split reads word 0, an out-of-range category its table's length word).
enum MixedStep: PerfectStepRule {
    @inline(__always)
    static func step(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        let split = splits[Int(position)]
        let goLeft = mixedSplitGoesLeft(
            x: row[Int(split & PerfectForest.featureMask)], threshold: thresholds[Int(position)], defaultLeft: split >> 31,
            isCategorical: split & PerfectForest.categoricalFlag != 0, words: words.unsafelyUnwrapped)
        return position &* 2 &+ (goLeft ^ 1)
    }

    /// One row: the branchy rule (like ``ForestModel/generalStep(_:_:_:_:)``), since a single row's
    /// walk has nothing to overlap and numerical splits then skip the categorical work
    /// (BENCHMARKS.md, "Production model with categorical splits", portable kernel at batch 1).
    @inline(__always)
    static func singleRowStep(
        _ splits: UnsafePointer<UInt32>, _ thresholds: UnsafePointer<Float>, _ words: UnsafePointer<UInt32>?,
        _ position: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        let split = splits[Int(position)]
        let threshold = thresholds[Int(position)]
        let x = row[Int(split & PerfectForest.featureMask)]
        let left = position &* 2, right = position &* 2 &+ 1
        if x.isNaN { return split & PerfectForest.defaultLeftFlag != 0 ? left : right }
        guard split & PerfectForest.categoricalFlag != 0 else { return x < threshold ? left : right }
        return categoryIsInSet(x, offset: Int(threshold.bitPattern), words: words.unsafelyUnwrapped) ? right : left
    }
}
