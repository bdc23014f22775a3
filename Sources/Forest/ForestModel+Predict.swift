import Dispatch

extension ForestModel {
    /// Rows per block in the batch kernel: trees outer, rows of one block inner, so a block's rows
    /// stay in L1 while every tree visits them (XGBoost's CPU predictor also uses 64).
    public static let defaultBlockSize = 64

    // MARK: - Public entry points

    /// Scores rows into transformed predictions (probabilities, class index, ...).
    ///
    /// - Parameters:
    ///   - rows: `count × featureCount` Float32 values, row-major; `NaN` means missing.
    ///   - count: number of rows.
    ///   - output: room for `count × predictionCount` values, row-major.
    ///   - threads: worker threads across row blocks; 1 (the default) scores on the calling thread.
    ///     Results do not depend on the thread count.
    /// - Throws: ``ForestError`` with code `.badInput` when a buffer is too small.
    public func predict(
        rows: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>, threads: Int = 1
    ) throws {
        try checkBuffers(rows: rows, count: count, output: output, width: predictionCount)
        guard count > 0, let rowBase = rows.baseAddress, let outBase = output.baseAddress else { return }
        run(rows: rowBase, count: count, output: outBase, threads: threads, blockSize: Self.defaultBlockSize, transformed: true)
    }

    /// Scores rows into raw margins (`output_margin=True`), `outputCount` per row.
    ///
    /// Same parameters as ``predict(rows:count:into:threads:)``; `output` needs `count × outputCount` values.
    public func predictMargins(
        rows: UnsafeBufferPointer<Float>, count: Int, into output: UnsafeMutableBufferPointer<Float>, threads: Int = 1
    ) throws {
        try checkBuffers(rows: rows, count: count, output: output, width: outputCount)
        guard count > 0, let rowBase = rows.baseAddress, let outBase = output.baseAddress else { return }
        run(rows: rowBase, count: count, output: outBase, threads: threads, blockSize: Self.defaultBlockSize, transformed: false)
    }

    /// Convenience: transformed predictions of `rows.count / featureCount` rows.
    public func predict(_ rows: [Float], threads: Int = 1) throws -> [Float] {
        let count = try rowCount(of: rows)
        var output = [Float](repeating: 0, count: count * predictionCount)
        try rows.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try predict(rows: input, count: count, into: $0, threads: threads) }
        }
        return output
    }

    /// Convenience: margins of `rows.count / featureCount` rows.
    public func predictMargins(_ rows: [Float], threads: Int = 1) throws -> [Float] {
        let count = try rowCount(of: rows)
        var output = [Float](repeating: 0, count: count * outputCount)
        try rows.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try predictMargins(rows: input, count: count, into: $0, threads: threads) }
        }
        return output
    }

    /// The leaf each tree routes each row to, as XGBoost node ids (`pred_leaf=True`), row-major
    /// `rowCount × treeCount`; for LightGBM models its leaf indices (`pred_leaf=True`).
    public func predictLeaves(_ rows: [Float]) throws -> [Int32] {
        var input = rows
        float64?.rewrite(&input, featureCount: featureCount)
        var leaves = try nodeIDsOfLeaves(input)
        if let offsets = float64?.leafIndexOffsets {
            for index in leaves.indices { leaves[index] -= offsets[index % offsets.count] }
        }
        return leaves
    }

    private func nodeIDsOfLeaves(_ rows: [Float]) throws -> [Int32] {
        let count = try rowCount(of: rows)
        var leaves = [Int32](repeating: 0, count: count * treeCount)
        if let perfect {
            rows.withUnsafeBufferPointer { input in
                for row in 0..<count {
                    for tree in 0..<treeCount {
                        leaves[row * treeCount + tree] = perfect.leafNodeID(tree: tree, row: input.baseAddress! + row * featureCount)
                    }
                }
            }
            return leaves
        }
        rows.withUnsafeBufferPointer { input in
            nodes.withUnsafeBufferPointer { nodes in
                categoryWords.withUnsafeBufferPointer { words in
                    for row in 0..<count {
                        let rowPointer = input.baseAddress! + row * featureCount
                        for tree in 0..<treeCount {
                            var index = treeRoots[tree]
                            for _ in 0..<treeDepths[tree] {
                                index = Self.generalStep(nodes.baseAddress!, words.baseAddress, index, rowPointer)
                            }
                            leaves[row * treeCount + tree] = Int32(index - treeRoots[tree])
                        }
                    }
                }
            }
        }
        return leaves
    }

    private func rowCount(of rows: [Float]) throws -> Int {
        if featureCount == 0 { return 0 }
        guard rows.count % featureCount == 0 else {
            throw ForestError.badInput("\(rows.count) values is not a whole number of rows of \(featureCount) features")
        }
        return rows.count / featureCount
    }

    private func checkBuffers(rows: UnsafeBufferPointer<Float>, count: Int, output: UnsafeMutableBufferPointer<Float>, width: Int) throws {
        guard count >= 0 else { throw ForestError.badInput("negative row count \(count)") }
        guard rows.count >= count * featureCount else {
            throw ForestError.badInput("\(count) rows need \(count * featureCount) input values, got \(rows.count)")
        }
        guard output.count >= count * width else {
            throw ForestError.badInput("\(count) rows need room for \(count * width) outputs, got \(output.count)")
        }
    }

    // MARK: - Driver

    /// Which batch kernel scores a block of rows.
    enum Kernel: Sendable {
        /// The AVX2 kernel over the perfect-tree layout (``PerfectForest``).
        case vector
        /// The Swift kernels: over the perfect-tree layout when the model has one, otherwise over
        /// ``PackedNode``s (very deep or sparse trees). The fallback and the oracle.
        case portable
    }

    /// The kernel ``predict(rows:count:into:threads:)`` uses: the vector kernel when the model has
    /// a perfect-tree layout and this CPU has AVX2, otherwise the portable one.
    var preferredKernel: Kernel {
        perfect != nil && float64 == nil && PerfectForest.vectorKernelAvailable ? .vector : .portable
    }

    /// The batch kernel and node layout this model uses on this machine, for `scorer model inspect`
    /// and start-up logs: `"avx2, perfect trees"` (the fast path), `"portable, perfect trees"` (no
    /// AVX2, or `FOREST_KERNEL=portable`) or `"portable, packed nodes"` (trees
    /// too deep or sparse to pad to perfect trees).
    public var kernelDescription: String {
        let sums = float64 == nil ? "" : ", float64 sums"
        guard perfect != nil else { return "portable, packed nodes" + sums }
        return (preferredKernel == .vector ? "avx2, perfect trees" : "portable, perfect trees") + sums
    }

    /// Scores `count` rows, split across `threads` workers by whole row blocks.
    ///
    /// - Parameter kernel: nil picks ``preferredKernel``; tests force `.portable` to compare the two.
    ///   `.vector` is only valid when ``preferredKernel`` is `.vector`.
    func run(
        rows: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>, threads: Int, blockSize: Int,
        transformed: Bool, kernel: Kernel? = nil
    ) {
        let kernel = kernel ?? preferredKernel
        precondition(kernel == .portable || preferredKernel == .vector, "the vector kernel is not available for this model or CPU")
        let width = transformed ? predictionCount : outputCount
        let workers = max(1, min(threads, (count + blockSize - 1) / blockSize))
        if workers == 1 {
            score(rows: rows, range: 0..<count, output: output, width: width, blockSize: blockSize, transformed: transformed, kernel: kernel)
            return
        }
        let blocksPerWorker = ((count + blockSize - 1) / blockSize + workers - 1) / workers
        let chunk = blocksPerWorker * blockSize
        let buffers = DisjointBuffers(rows: rows, output: output)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let start = worker * chunk
            let end = min(start + chunk, count)
            if start < end {
                score(rows: buffers.rows, range: start..<end, output: buffers.output, width: width, blockSize: blockSize, transformed: transformed, kernel: kernel)
            }
        }
    }

    /// Scores the rows of `range` block by block; `output` is indexed by absolute row.
    func score(
        rows: UnsafePointer<Float>, range: Range<Int>, output: UnsafeMutablePointer<Float>, width: Int, blockSize: Int,
        transformed: Bool, kernel: Kernel
    ) {
        if let float64 {
            return scoreFloat64(float64, rows: rows, range: range, output: output, width: width, transformed: transformed)
        }
        let groups = outputCount
        if width == groups {
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(start + blockSize, range.upperBound)
                accumulateMargins(rows: rows + start * featureCount, rowCount: end - start, margins: output + start * groups, kernel: kernel)
                if transformed {
                    for row in start..<end { _ = objective.transformRow(output + row * groups, count: groups) }
                }
                start = end
            }
            return
        }
        // multi:softmax: margins of one block in scratch space, then the class index per row.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: blockSize * groups) { scratch in
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(start + blockSize, range.upperBound)
                accumulateMargins(rows: rows + start * featureCount, rowCount: end - start, margins: scratch.baseAddress!, kernel: kernel)
                for row in start..<end {
                    let rowMargins = scratch.baseAddress! + (row - start) * groups
                    _ = objective.transformRow(rowMargins, count: groups)
                    output[row * width] = rowMargins[0]
                }
                start = end
            }
        }
    }

    // MARK: - Kernels

    /// Margins of one block of rows: base margin, then every tree in order, in Float32.
    ///
    /// Hand-written hot path. Trees outer, rows inner; each row walks exactly `depth` steps (leaves
    /// loop to themselves), so the loop has no data-dependent branch, and the rows of a block step
    /// through a tree level by level so their steps overlap, which is what makes this layout fast
    /// (BENCHMARKS.md, "Evaluator vs XGBoost"). Models compiled to a ``PerfectForest`` go to
    /// its AVX2 kernel (`kernel == .vector`) or its portable Swift kernel instead.
    func accumulateMargins(rows: UnsafePointer<Float>, rowCount: Int, margins: UnsafeMutablePointer<Float>, kernel: Kernel) {
        if let perfect {
            if kernel == .vector {
                perfect.vectorMargins(rows: rows, rowCount: rowCount, margins: margins)
            } else {
                perfect.portableMargins(rows: rows, rowCount: rowCount, margins: margins)
            }
            return
        }
        let groups = outputCount
        for row in 0..<rowCount {
            for group in 0..<groups { margins[row * groups + group] = baseMargins[group] }
        }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: max(rowCount, 1)) { positionBuffer in
        nodes.withUnsafeBufferPointer { nodeBuffer in
            categoryWords.withUnsafeBufferPointer { wordBuffer in
                let positions = positionBuffer.baseAddress!
                let nodes = nodeBuffer.baseAddress!
                let words = wordBuffer.baseAddress
                for tree in 0..<treeRoots.count {
                    let root = treeRoots[tree]
                    let depth = Int(treeDepths[tree])
                    let out = margins + Int(treeGroups[tree])
                    let weight = treeWeights?[tree]
                    if hasCategoricalSplits, let words {
                        walkPacked(PackedMixedStep.self, nodes, words, root: root, depth: depth, rows: rows, rowCount: rowCount, out: out, stride: groups, weight: weight, positions: positions)
                    } else {
                        walkPacked(PackedNumericStep.self, nodes, nil, root: root, depth: depth, rows: rows, rowCount: rowCount, out: out, stride: groups, weight: weight, positions: positions)
                    }
                }
            }
        }
        }
    }

    /// Walks one tree of the packed layout for a block of rows, level by level: every row takes one
    /// step per pass, so the steps of a pass are independent and the CPU overlaps dozens of them (a
    /// node-then-feature load chain per step would otherwise leave it idle). `positions` holds each
    /// row's node. `Rule` is the split rule, specialised per call site (no dispatch per node).
    @inline(__always)
    private func walkPacked<Rule: PackedStepRule>(
        _ rule: Rule.Type, _ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, root: UInt32, depth: Int,
        rows: UnsafePointer<Float>, rowCount: Int, out: UnsafeMutablePointer<Float>, stride: Int, weight: Float?,
        positions: UnsafeMutablePointer<UInt32>
    ) {
        let features = featureCount
        if rowCount == 1 {
            var index = root
            for _ in 0..<depth { index = Rule.singleRowStep(nodes, words, index, rows) }
            Self.add(nodes[Int(index)].value, to: out, weight: weight)
            return
        }
        for row in 0..<rowCount { positions[row] = root }
        for _ in 0..<depth {
            var rowPointer = rows
            for row in 0..<rowCount {
                positions[row] = Rule.step(nodes, words, positions[row], rowPointer)
                rowPointer += features
            }
        }
        for row in 0..<rowCount {
            Self.add(nodes[Int(positions[row])].value, to: out + row &* stride, weight: weight)
        }
    }

    /// XGBoost adds `leaf` (gbtree) or `leaf * weight` (DART) to the running Float32 margin.
    @inline(__always)
    static func add(_ leaf: Float, to margin: UnsafeMutablePointer<Float>, weight: Float?) {
        if let weight {
            margin.pointee += leaf * weight
        } else {
            margin.pointee += leaf
        }
    }

    /// One step down a numerical split. Missing (NaN) is folded into the comparison: `x < t` is
    /// false for NaN, so NaN goes right unless the node defaults left.
    ///
    /// Branch-free on purpose: the direction is data-dependent and mispredicts half the time, so
    /// the child is picked with a shift instead of a conditional jump (BENCHMARKS.md, "Evaluator
    /// vs XGBoost", has both).
    @inline(__always)
    static func numericStep(_ nodes: UnsafePointer<PackedNode>, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32 {
        numericStepValue(nodes[Int(index)], row[Int(nodes[Int(index)].featureAndFlags & PackedNode.featureMask)])
    }

    /// One step down a numerical or categorical split (XGBoost's `GetNextNode`).
    @inline(__always)
    static func generalStep(
        _ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        let node = nodes[Int(index)]
        let x = row[node.feature]
        guard node.isCategorical, let words else { return numericStepValue(node, x) }
        if x.isNaN { return node.defaultsLeft ? node.left : node.right }
        return categoryIsInSet(x, offset: Int(node.value.bitPattern), words: words) ? node.right : node.left
    }

    @inline(__always)
    static func numericStepValue(_ node: PackedNode, _ x: Float) -> UInt32 {
        let less: UInt32 = x < node.value ? 1 : 0
        let missing: UInt32 = x.isNaN ? 1 : 0
        let goLeft = less | (missing & (node.featureAndFlags >> 31))
        // Shift 0 keeps the left child (low half), shift 32 brings down the right child.
        return UInt32(truncatingIfNeeded: node.children &>> UInt64((goLeft ^ 1) &<< 5))
    }
}

/// The row and output pointers handed to the worker threads of one `run` call.
///
/// Safe to send: the caller of `run` keeps both buffers alive until `concurrentPerform` returns,
/// the rows are only read, and every worker writes a disjoint range of output rows.
private struct DisjointBuffers: @unchecked Sendable {
    let rows: UnsafePointer<Float>
    let output: UnsafeMutablePointer<Float>
}
