/// One tree node in the compiled model: 16 bytes, so four fit a cache line.
///
/// - `value`: the threshold of a numerical split, the leaf value of a leaf, or (categorical split)
///   the bit pattern of an offset into the model's category bitset table.
/// - `featureAndFlags`: the split feature in the low 30 bits, ``categoricalFlag`` and
///   ``defaultLeftFlag`` above it.
/// - `left` / `right`: absolute indices of the children in the model's node array. A leaf points
///   both children at itself, so the kernel can walk every row a fixed number of steps (the tree's
///   depth) without testing for leaves: rows that reach a leaf early simply stay there.
struct PackedNode: Sendable {
    var value: Float
    var featureAndFlags: UInt32
    var left: UInt32
    var right: UInt32

    static let featureMask: UInt32 = (1 << 30) - 1
    static let categoricalFlag: UInt32 = 1 << 30
    static let defaultLeftFlag: UInt32 = 1 << 31

    @inline(__always) var feature: Int { Int(featureAndFlags & Self.featureMask) }
    @inline(__always) var defaultsLeft: Bool { featureAndFlags & Self.defaultLeftFlag != 0 }
    @inline(__always) var isCategorical: Bool { featureAndFlags & Self.categoricalFlag != 0 }
}
