extension ForestModel {
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

/// How a row steps down one packed-layout tree (``ForestModel`` `walkPacked`): `step` in blocks of
/// rows, `singleRowStep` for one row (where a branchy rule is faster: nothing to overlap).
protocol PackedStepRule {
    static func step(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32
    static func singleRowStep(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32
}

/// Numerical splits only (no category tables).
enum PackedNumericStep: PackedStepRule {
    @inline(__always)
    static func step(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32 {
        ForestModel.numericStep(nodes, index, row)
    }
    @inline(__always)
    static func singleRowStep(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32 {
        ForestModel.numericStep(nodes, index, row)
    }
}

/// Numerical and categorical splits; `words` must be the model's non-empty category tables.
/// Blocks use the branch-free rule (faster on install-v1 rows: BENCHMARKS.md, "Production model
/// with categorical splits"); a single row the branchy `generalStep`, which predicts well when there is nothing to overlap.
enum PackedMixedStep: PackedStepRule {
    @inline(__always)
    static func step(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32 {
        ForestModel.mixedStep(nodes, words.unsafelyUnwrapped, index, row)
    }
    @inline(__always)
    static func singleRowStep(_ nodes: UnsafePointer<PackedNode>, _ words: UnsafePointer<UInt32>?, _ index: UInt32, _ row: UnsafePointer<Float>) -> UInt32 {
        ForestModel.generalStep(nodes, words, index, row)
    }
}

/// XGBoost's categorical test for a value that is not NaN, with branches: a value that is
/// negative, at least 2^24 (or ±inf) or beyond the split's bitset is not in the set; otherwise its
/// category (the value truncated) is looked up in the bitset at `words[offset]` (length word, then
/// the bit words). Shared by the packed and perfect-tree single-row steps.
@inline(__always)
func categoryIsInSet(_ x: Float, offset: Int, words: UnsafePointer<UInt32>) -> Bool {
    guard x >= 0, x < 16_777_216 else { return false }
    let category = Int(x)
    let word = category >> 5
    guard word < Int(words[offset]) else { return false }
    return (words[offset + 1 + word] >> UInt32(category & 31)) & 1 != 0
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
