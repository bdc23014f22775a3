import Dispatch

/// The compiled float64 side of a LightGBM model: leaf values aligned with the layout the trees
/// were compiled to (``PerfectForest`` leaf slots, or ``PackedNode`` indices), the input rewrites,
/// and the linear leaves.
///
/// LightGBM sums doubles: each tree's float64 leaf is added to a float64 sum per output, in tree
/// order, starting from 0; its thresholds are doubles compared `x <= t`. The kernels' routing is
/// shared (float32 bounds with the same decisions, ``LightGBMModel/leftBound(threshold:)``); only
/// the sums differ, so they are kept here, and results equal LightGBM's `predict` bit for bit.
struct Float64Parts: Sendable {
    /// Per leaf slot (perfect layout) or node (packed layout): the float64 leaf value.
    let leafValues: [Double]
    /// Per slot or node: the index of its linear model in ``linearModels``, or -1; empty without linear leaves.
    let linearIndex: [Int32]
    let linearModels: [LinearLeaf]
    let linearFeatures: [Int32]
    let linearCoefficients: [Double]
    /// The features whose inputs are rewritten, and how.
    let columnRules: [(feature: Int, rule: ColumnRule)]
    let averageDivisor: Double?
    let transform: LightGBMTransform
    /// Per tree: LightGBM's leaf index is the node id minus this.
    let leafIndexOffsets: [Int32]

    /// A leaf's linear model: `constant + Σ coefficient × x` over its features; the leaf's constant
    /// value when one of them is NaN.
    struct LinearLeaf: Sendable {
        let constant: Double
        let start: Int32
        let count: Int32
    }

    /// Aligns the semantics' per-node values with the compiled layout: `perfect`'s leaf slots, or
    /// the packed nodes starting at `packedRoots`.
    init(semantics: LightGBMSemantics, perfect: PerfectForest?, packedRoots: [UInt32], packedNodeCount: Int) {
        var slotNodes: [(slot: Int, tree: Int, node: Int)] = []
        if let perfect {
            for tree in semantics.nodeValues.indices {
                let start = Int(perfect.leafStarts[tree])
                for slot in start..<start + (1 << Int(perfect.depths[tree])) {
                    slotNodes.append((slot, tree, Int(perfect.leafNodeIDs[slot])))
                }
            }
        } else {
            for (tree, values) in semantics.nodeValues.enumerated() {
                for node in values.indices { slotNodes.append((Int(packedRoots[tree]) + node, tree, node)) }
            }
        }
        let slotCount = perfect?.leaves.count ?? packedNodeCount
        var values = [Double](repeating: 0, count: slotCount)
        var linearIndex = [Int32](), models = [LinearLeaf](), features = [Int32](), coefficients = [Double]()
        var modelOfLeaf = [Int: Int32]()  // (tree << 32 | leaf) -> model
        let hasLinear = semantics.linear.contains { $0 != nil }
        if hasLinear { linearIndex = [Int32](repeating: -1, count: slotCount) }
        for (slot, tree, node) in slotNodes {
            values[slot] = semantics.nodeValues[tree][node]
            let leaf = node - semantics.internalCounts[tree]
            guard let linear = semantics.linear[tree], leaf >= 0 else { continue }
            let key = tree << 32 | leaf
            if let model = modelOfLeaf[key] {
                linearIndex[slot] = model
                continue
            }
            let model = Int32(models.count)
            models.append(LinearLeaf(constant: linear.constants[leaf], start: Int32(features.count), count: Int32(linear.features[leaf].count)))
            features.append(contentsOf: linear.features[leaf])
            coefficients.append(contentsOf: linear.coefficients[leaf])
            modelOfLeaf[key] = model
            linearIndex[slot] = model
        }
        leafValues = values
        self.linearIndex = linearIndex
        linearModels = models
        linearFeatures = features
        linearCoefficients = coefficients
        columnRules = semantics.columnRules.enumerated().filter { !$0.element.isEmpty }.map { ($0.offset, $0.element) }
        averageDivisor = semantics.averageDivisor
        transform = semantics.transform
        leafIndexOffsets = semantics.internalCounts.map { Int32($0) }
    }

    /// Applies ``columnRules`` to whole rows of `featureCount` values.
    func rewrite(_ rows: inout [Float], featureCount: Int) {
        guard !columnRules.isEmpty, featureCount > 0 else { return }
        for start in stride(from: 0, to: rows.count - featureCount + 1, by: featureCount) {
            for (feature, rule) in columnRules { rows[start + feature] = rule.apply(rows[start + feature]) }
        }
    }

    /// Bytes of the float64 tables.
    var compiledBytes: Int {
        leafValues.count * 8 + linearIndex.count * 4 + linearModels.count * 16 + linearFeatures.count * 4 + linearCoefficients.count * 8
    }
}

extension ForestModel {
    // MARK: - Float64 entry points

    /// Whether this model sums in float64 (LightGBM models); then the float64 entry points give its
    /// exact results, and the Float32 ones round them.
    public var sumsInFloat64: Bool { float64 != nil }

    /// Scores rows into transformed predictions in float64: LightGBM's `predict()` bit for bit for
    /// LightGBM models; XGBoost models give their Float32 results widened.
    ///
    /// Same parameters as ``predict(rows:count:into:threads:)``.
    public func predict(
        rows: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Double>, threads: Int = 1
    ) throws {
        try scoreInFloat64(rows: rows, count: count, output: output, threads: threads, transformed: true)
    }

    /// Scores rows into raw scores in float64 (LightGBM's `predict(raw_score=True)`), `outputCount` per row.
    public func predictMargins(
        rows: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Double>, threads: Int = 1
    ) throws {
        try scoreInFloat64(rows: rows, count: count, output: output, threads: threads, transformed: false)
    }

    /// Convenience: float64 predictions of `rows.count / featureCount` rows.
    public func predictFloat64(_ rows: [Float], threads: Int = 1) throws -> [Double] {
        try scoreInFloat64(rows, threads: threads, transformed: true)
    }

    /// Convenience: float64 raw scores of `rows.count / featureCount` rows.
    public func predictMarginsFloat64(_ rows: [Float], threads: Int = 1) throws -> [Double] {
        try scoreInFloat64(rows, threads: threads, transformed: false)
    }

    private func scoreInFloat64(_ rows: [Float], threads: Int, transformed: Bool) throws -> [Double] {
        guard featureCount > 0, rows.count % featureCount == 0 else {
            throw ForestError.badInput("\(rows.count) values is not a whole number of rows of \(featureCount) features")
        }
        let count = rows.count / featureCount
        var output = [Double](repeating: 0, count: count * (transformed ? predictionCount : outputCount))
        try rows.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer {
                try scoreInFloat64(rows: input, count: count, output: $0, threads: threads, transformed: transformed)
            }
        }
        return output
    }

    private func scoreInFloat64(
        rows: UnsafeBufferPointer<Float>, count: Int, output: UnsafeMutableBufferPointer<Double>, threads: Int, transformed: Bool
    ) throws {
        let width = transformed ? predictionCount : outputCount
        guard count >= 0, rows.count >= count * featureCount, output.count >= count * width else {
            throw ForestError.badInput("\(count) rows need \(count * featureCount) input values and room for \(count * width) outputs, got \(rows.count) and \(output.count)")
        }
        guard count > 0, let rowBase = rows.baseAddress, let outBase = output.baseAddress else { return }
        guard let float64 else {
            // XGBoost: its Float32 results, widened.
            var narrow = [Float](repeating: 0, count: count * width)
            narrow.withUnsafeMutableBufferPointer {
                run(rows: rowBase, count: count, output: $0.baseAddress!, threads: threads, blockSize: Self.defaultBlockSize, transformed: transformed)
            }
            for index in 0..<count * width { outBase[index] = Double(narrow[index]) }
            return
        }
        let blockSize = Self.defaultBlockSize
        let workers = max(1, min(threads, (count + blockSize - 1) / blockSize))
        let pointers = Float64Pointers(rows: rowBase, output: outBase)
        let chunk = ((count + blockSize - 1) / blockSize + workers - 1) / workers * blockSize
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let range = worker * chunk..<min((worker + 1) * chunk, count)
            if !range.isEmpty {
                scoreFloat64(float64, rows: pointers.rows, range: range, output: pointers.output, width: width, transformed: transformed)
            }
        }
    }

    // MARK: - Scoring

    /// Scores the rows of `range` (indices into `rows` and `output`) through float64 sums, block by
    /// block, into Float32 (rounded) or Float64 outputs.
    func scoreFloat64<Output: BinaryFloatingPoint>(
        _ parts: Float64Parts, rows: UnsafePointer<Float>, range: Range<Int>, output: UnsafeMutablePointer<Output>,
        width: Int, transformed: Bool
    ) {
        let groups = outputCount, features = featureCount, blockSize = Self.defaultBlockSize
        withUnsafeTemporaryAllocation(of: Double.self, capacity: blockSize * groups) { sums in
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: blockSize) { positions in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: parts.columnRules.isEmpty ? 1 : blockSize * features) { rewritten in
            var start = range.lowerBound
            while start < range.upperBound {
                let count = min(blockSize, range.upperBound - start)
                let block = rows + start * features
                var walked = block
                if !parts.columnRules.isEmpty {
                    let copy = rewritten.baseAddress!
                    copy.update(from: block, count: count * features)
                    for row in 0..<count {
                        for (feature, rule) in parts.columnRules {
                            copy[row * features + feature] = rule.apply(copy[row * features + feature])
                        }
                    }
                    walked = UnsafePointer(copy)
                }
                sums.baseAddress!.update(repeating: 0, count: count * groups)
                accumulateFloat64(parts, walked: walked, raw: block, count: count, sums: sums.baseAddress!, positions: positions.baseAddress!)
                for row in 0..<count {
                    let rowSums = sums.baseAddress! + row * groups
                    if transformed {
                        if let divisor = parts.averageDivisor {
                            for group in 0..<groups { rowSums[group] /= divisor }
                        }
                        parts.transform.apply(rowSums, count: groups)
                    }
                    for column in 0..<width { output[(start + row) * width + column] = Output(rowSums[column]) }
                }
                start += count
            }
        }}}
    }

    /// Adds every tree's leaf (or linear leaf) to the float64 sums of `count` rows, in tree order.
    /// `walked` are the rows the kernels route (rewritten); linear leaves read the `raw` rows.
    private func accumulateFloat64(
        _ parts: Float64Parts, walked: UnsafePointer<Float>, raw: UnsafePointer<Float>, count: Int,
        sums: UnsafeMutablePointer<Double>, positions: UnsafeMutablePointer<UInt32>
    ) {
        let groups = outputCount
        parts.leafValues.withUnsafeBufferPointer { values in
        parts.linearIndex.withUnsafeBufferPointer { linearIndex in
            for tree in 0..<treeCount {
                leafSlots(tree: tree, rows: walked, count: count, into: positions)
                let out = sums + Int(treeGroups[tree])
                if linearIndex.isEmpty {
                    for row in 0..<count { out[row &* groups] += values[Int(positions[row])] }
                } else {
                    for row in 0..<count {
                        let slot = Int(positions[row])
                        let model = linearIndex[slot]
                        out[row &* groups] += model < 0 ? values[slot] : linearValue(parts, model: Int(model), fallback: values[slot], row: raw + row * featureCount)
                    }
                }
            }
        }}
    }

    /// `Tree::Predict` for a linear leaf: constant, then `+= coefficient × x` per feature in order
    /// (x as LightGBM reads it); the leaf's constant value if any x is NaN.
    private func linearValue(_ parts: Float64Parts, model: Int, fallback: Double, row: UnsafePointer<Float>) -> Double {
        let leaf = parts.linearModels[model]
        var value = leaf.constant
        for index in Int(leaf.start)..<Int(leaf.start + leaf.count) {
            let x = LightGBMReference.inputValue(row[Int(parts.linearFeatures[index])])
            if x.isNaN { return fallback }
            value += parts.linearCoefficients[index] * x
        }
        return value
    }

    /// The slot (perfect layout: index into its leaves; packed: node index) each of `count` rows
    /// reaches in `tree`, with the kernels' split rules.
    private func leafSlots(tree: Int, rows: UnsafePointer<Float>, count: Int, into positions: UnsafeMutablePointer<UInt32>) {
        if let perfect {
            if perfect.categoryWords.isEmpty {
                perfect.leafSlots(NumericStep.self, tree: tree, rows: rows, count: count, into: positions)
            } else {
                perfect.leafSlots(MixedStep.self, tree: tree, rows: rows, count: count, into: positions)
            }
            return
        }
        nodes.withUnsafeBufferPointer { nodes in
        categoryWords.withUnsafeBufferPointer { words in
            let root = treeRoots[tree], depth = Int(treeDepths[tree])
            for row in 0..<count { positions[row] = root }
            // Level by level: the rows' steps are independent, so the CPU overlaps them.
            for _ in 0..<depth {
                var row = rows
                for index in 0..<count {
                    positions[index] = hasCategoricalSplits
                        ? PackedMixedStep.step(nodes.baseAddress!, words.baseAddress, positions[index], row)
                        : PackedNumericStep.step(nodes.baseAddress!, nil, positions[index], row)
                    row += featureCount
                }
            }
        }}
    }
}

extension PerfectForest {
    /// The leaf slot (index into ``leaves``) each of `count` rows reaches in `tree`; four rows walk
    /// down together (independent load chains), like ``portableMargins(rows:rowCount:margins:)``.
    @inline(__always)
    func leafSlots<Rule: PerfectStepRule>(
        _ rule: Rule.Type, tree: Int, rows: UnsafePointer<Float>, count: Int, into positions: UnsafeMutablePointer<UInt32>
    ) {
        splits.withUnsafeBufferPointer { splitBuffer in
        thresholds.withUnsafeBufferPointer { thresholdBuffer in
        categoryWords.withUnsafeBufferPointer { wordBuffer in
            let splits = splitBuffer.baseAddress! + Int(nodeStarts[tree])
            let thresholds = thresholdBuffer.baseAddress! + Int(nodeStarts[tree])
            let words = wordBuffer.baseAddress
            let depth = Int(depths[tree]), leafStart = leafStarts[tree]
            var row = 0
            while row &+ 4 <= count {
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
                positions[row] = leafStart &+ p0
                positions[row &+ 1] = leafStart &+ p1
                positions[row &+ 2] = leafStart &+ p2
                positions[row &+ 3] = leafStart &+ p3
                row &+= 4
            }
            while row < count {
                let rowPointer = rows + row &* featureCount
                var position: UInt32 = 0
                for level in 0..<depth {
                    position = Rule.step(splits + ((1 &<< level) &- 1), thresholds + ((1 &<< level) &- 1), words, position, rowPointer)
                }
                positions[row] = leafStart &+ position
                row &+= 1
            }
        }}}
    }
}

/// The row and output pointers handed to the worker threads of one float64 scoring call.
///
/// Safe to send: the caller keeps both buffers alive until `concurrentPerform` returns, the rows
/// are only read, and every worker writes a disjoint range of output rows.
private struct Float64Pointers: @unchecked Sendable {
    let rows: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Double>
}
