extension ForestModel {
    /// Walks one tree that may hold categorical splits for a block of rows, level by level (like
    /// the numerical kernel): every row takes one step per pass, so the steps of a pass are
    /// independent and overlap, and each step is branch-free (`mixedStep`).
    ///
    /// Hand-written hot path: categorical models whose trees are too sparse to pad to perfect trees
    /// run here (the production model, `models/install-v1`, now compiles to a ``PerfectForest`` and
    /// its kernels instead). Before that, install-v1 ran here; a row-by-
    /// row walk with a branchy step (`generalStep`) took 19% of the service's CPU in a profile of
    /// `benchmarks/service_vs_python.sh` (throughput part); see BENCHMARKS.md for the figures.
    @inline(__always)
    func walkMixed(
        _ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>, root: UInt32, depth: Int,
        rows: UnsafePointer<Float>, rowCount: Int, out: UnsafeMutablePointer<Float>, stride: Int, weight: Float?,
        positions: UnsafeMutablePointer<UInt32>
    ) {
        let features = featureCount
        if rowCount == 1 {
            // One row: the branchy step is faster (nothing to overlap, and its branches predict).
            var index = root
            for _ in 0..<depth { index = Self.generalStep(nodes, words, index, rows) }
            Self.add(nodes[Int(index)].value, to: out, weight: weight)
            return
        }
        for row in 0..<rowCount { positions[row] = root }
        for _ in 0..<depth {
            var rowPointer = rows
            for row in 0..<rowCount {
                positions[row] = Self.mixedStep(nodes, words, positions[row], rowPointer)
                rowPointer += features
            }
        }
        for row in 0..<rowCount {
            Self.add(nodes[Int(positions[row])].value, to: out + row &* stride, weight: weight)
        }
    }

    /// One step down a numerical or categorical split of the packed layout, deciding exactly as
    /// `generalStep` (XGBoost's `GetNextNode`) but branch-free (``mixedSplitGoesLeft``).
    @inline(__always)
    static func mixedStep(
        _ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>, _ index: UInt32, _ row: UnsafePointer<Float>
    ) -> UInt32 {
        let node = nodes[Int(index)]
        let flags = node.featureAndFlags
        let goLeft = mixedSplitGoesLeft(
            x: row[Int(flags & PackedNode.featureMask)], threshold: node.value, defaultLeft: flags >> 31,
            isCategorical: flags & PackedNode.categoricalFlag != 0, words: words)
        return UInt32(truncatingIfNeeded: node.children &>> UInt64((goLeft ^ 1) &<< 5))
    }
}

/// XGBoost's split rule (`GetNextNode`) as 1 (left) or 0 (right), computed without a data-dependent
/// branch: both the numerical and the categorical decision are made and one is selected, since
/// whether a node is categorical, and which way a row goes, mispredict often. Shared by the packed
/// (`ForestModel.mixedStep`) and perfect-tree (`MixedStep`) portable kernels.
///
/// Numerical: `x < threshold` goes left, NaN takes the default side. Categorical (`threshold`
/// holds the bit pattern of the split's offset into `words`): NaN takes the default side; a value
/// that is negative, at least 2^24 (or ±inf) or beyond the split's bitset goes left; otherwise its
/// category (the value truncated) goes right iff it is in the set. Every load stays inside
/// `words`: a numerical split reads word 0, an out-of-range category its table's length word.
@inline(__always)
func mixedSplitGoesLeft(x: Float, threshold: Float, defaultLeft: UInt32, isCategorical: Bool, words: UnsafePointer<UInt32>) -> UInt32 {
    let missing: UInt32 = x.isNaN ? 1 : 0
    let less: UInt32 = x < threshold ? 1 : 0
    let numericLeft = less | (missing & defaultLeft)

    let valid = x >= 0 && x < 16_777_216  // false for NaN and ±inf
    let category = Int(valid ? x : 0)
    let offset = isCategorical ? Int(threshold.bitPattern) : 0
    let word = category &>> 5
    let inRange = valid && word < Int(words[offset])
    let bits = words[offset &+ (inRange ? 1 &+ word : 0)]
    let inSet: UInt32 = inRange ? (bits &>> UInt32(truncatingIfNeeded: category & 31)) & 1 : 0
    let categoricalLeft = (missing & defaultLeft) | ((missing ^ 1) & (inSet ^ 1))
    return isCategorical ? categoricalLeft : numericLeft
}
