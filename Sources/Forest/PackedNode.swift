/// One tree node in the compiled model: 16 bytes, so four fit a cache line.
///
/// - `value`: the threshold of a numerical split, the leaf value of a leaf, or (categorical split)
///   the bit pattern of an offset into the model's category bitset table.
/// - `featureAndFlags`: the split feature in the low 30 bits, ``categoricalFlag`` and
///   ``defaultLeftFlag`` above it.
/// - `children`: absolute indices of the children in the model's node array, left in the low 32
///   bits and right in the high 32 bits, so the kernel picks one with a shift instead of a branch.
///   A leaf points both children at itself, so the kernel can walk every row a fixed number of
///   steps (the tree's depth) without testing for leaves: rows that reach a leaf early stay there.
struct PackedNode: Sendable {
    var value: Float
    var featureAndFlags: UInt32
    var children: UInt64

    init(value: Float, featureAndFlags: UInt32, left: UInt32, right: UInt32) {
        self.value = value
        self.featureAndFlags = featureAndFlags
        self.children = UInt64(left) | UInt64(right) << 32
    }

    @inline(__always) var left: UInt32 { UInt32(truncatingIfNeeded: children) }
    @inline(__always) var right: UInt32 { UInt32(truncatingIfNeeded: children >> 32) }

    static let featureMask: UInt32 = (1 << 30) - 1
    static let categoricalFlag: UInt32 = 1 << 30
    static let defaultLeftFlag: UInt32 = 1 << 31

    @inline(__always) var feature: Int { Int(featureAndFlags & Self.featureMask) }
    @inline(__always) var defaultsLeft: Bool { featureAndFlags & Self.defaultLeftFlag != 0 }
    @inline(__always) var isCategorical: Bool { featureAndFlags & Self.categoricalFlag != 0 }
}
