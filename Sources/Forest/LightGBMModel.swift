/// A LightGBM text model (`model.txt`, as written by `Booster.save_model`), parsed and validated,
/// in LightGBM's own terms: float64 thresholds compared `x <= t`, missing types, categorical
/// bitsets, leaves numbered by LightGBM's leaf index.
///
/// This is what ``LightGBMReference`` walks (LightGBM's decision rule line by line) and what
/// `LightGBMModel+Compile.swift` turns into a ``ModelDefinition`` for the shared kernels.
/// Validation is as strict as the XGBoost decoder's: array lengths, child references (every node
/// and leaf reached exactly once from the root), feature indices, category tables, `tree_sizes`,
/// and non-finite numbers (a leaf value or linear coefficient of ±inf or NaN, a NaN threshold) are
/// refused with a message naming the tree and node.
struct LightGBMModel: Sendable {
    /// `version=` of the file, e.g. `v4`.
    var version: String
    var classCount: Int
    /// Trees per boosting round: the number of outputs (classes for multi-class, otherwise 1).
    var treesPerIteration: Int
    var featureCount: Int
    /// The `objective=` line (e.g. `binary sigmoid:1`); nil when the file has none (custom objective).
    var objectiveText: String?
    /// `average_output` (random forest mode): transformed predictions divide the sums by the rounds.
    var averageOutput: Bool
    var featureNames: [String]
    /// Per feature: `[min:max]` (numerical), a `:`-separated category list, or `none`.
    var featureInfos: [String]
    var trees: [Tree]

    var iterationCount: Int { trees.count / treesPerIteration }

    /// One tree in LightGBM's arrays: internal nodes `0..<leafCount - 1`; a child reference `c >= 0`
    /// is internal node `c`, `c < 0` is leaf `~c`.
    struct Tree: Sendable {
        var leafCount: Int
        var splitFeatures: [Int32]
        var thresholds: [Double]
        var decisionTypes: [UInt8]
        var leftChildren: [Int32]
        var rightChildren: [Int32]
        var leafValues: [Double]
        /// Per categorical split (indexed by the split's threshold): the categories that go left.
        var categorySets: [[Int32]]
        /// Linear leaves (`linear_tree=true`): per leaf a constant plus coefficients of raw features.
        var linear: Linear?
        /// Longest root-to-leaf path, in edges.
        var depth: Int

        var internalCount: Int { leafCount - 1 }

        struct Linear: Sendable {
            var constants: [Double]
            var features: [[Int32]]
            var coefficients: [[Double]]
        }

        // Decision type bits (LightGBM's `kCategoricalMask`, `kDefaultLeftMask`, missing type in bits 2-3).
        func isCategorical(_ node: Int) -> Bool { decisionTypes[node] & 1 != 0 }
        func defaultLeft(_ node: Int) -> Bool { decisionTypes[node] & 2 != 0 }
        func missingType(_ node: Int) -> MissingType { MissingType(rawValue: (decisionTypes[node] >> 2) & 3)! }
    }

    /// How a numerical split treats missing values (LightGBM's `MissingType`).
    enum MissingType: UInt8, Sendable {
        /// NaN is read as 0.
        case none = 0
        /// Zero (|x| <= 1e-35) and NaN take the default direction.
        case zero = 1
        /// NaN takes the default direction.
        case nan = 2
    }

    /// LightGBM's `kZeroThreshold` (the float 1e-35 as a double): inputs with |x| <= this are read
    /// as 0 (the C API drops them from the row, which is zero-filled).
    static let zeroThreshold = Double(Float(1e-35))
    /// Category codes are float32 inputs converted to integers; the kernels' bitsets reach 2^24.
    static let categoryLimit = 1 << 24
    /// Feature indices must fit the packed node's 30-bit field.
    static let maximumFeatureCount = 1 << 30

    // MARK: - Detecting

    /// Whether `bytes` look like a LightGBM text model (first line `tree`).
    static func looksLikeModel(_ bytes: [UInt8]) -> Bool {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        let head = Array(bytes[start..<min(bytes.count, start + 5)])
        return head.starts(with: Array("tree\n".utf8)) || head.starts(with: Array("tree\r".utf8))
    }

    // MARK: - Parsing

    /// Parses and validates a LightGBM text model.
    ///
    /// - Throws: ``ForestError`` naming the line, tree and node of the first problem.
    static func parse(_ bytes: [UInt8]) throws -> LightGBMModel {
        var lines = LineReader(bytes)
        guard let first = lines.next(), first.text == "tree" else {
            throw ForestError.syntax("not a LightGBM model: the first line should be 'tree'", at: 0)
        }
        // Header: key=value lines up to the first "Tree=".
        var header = [String: String]()
        var firstTreeOffset: Int?
        while let line = lines.next() {
            if line.text.hasPrefix("Tree=") {
                firstTreeOffset = line.offset
                lines.pushBack(line)
                break
            }
            if line.text == "end of trees" { lines.pushBack(line); break }
            guard !line.text.isEmpty else { continue }
            let (key, value) = splitKeyValue(line.text)
            header[key] = value
        }
        func required(_ key: String) throws -> String {
            guard let value = header[key] else { throw ForestError.invalid("model.txt header has no '\(key)='") }
            return value
        }
        func integer(_ key: String) throws -> Int {
            let text = try required(key)
            guard let value = Int(text) else { throw ForestError.invalid("model.txt header: \(key)=\(text) is not an integer") }
            return value
        }
        let classCount = try integer("num_class")
        let treesPerIteration = header["num_tree_per_iteration"] == nil ? classCount : try integer("num_tree_per_iteration")
        _ = try integer("label_index")
        let maxFeature = try integer("max_feature_idx")
        guard (1...65_536).contains(classCount), (1...65_536).contains(treesPerIteration) else {
            throw ForestError.invalid("num_class \(classCount) / num_tree_per_iteration \(treesPerIteration) out of range")
        }
        guard maxFeature >= 0, maxFeature < maximumFeatureCount - 1 else {
            throw ForestError.invalid("max_feature_idx \(maxFeature) is out of range")
        }
        let featureCount = maxFeature + 1
        let featureNames = try required("feature_names").split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard featureNames.count == featureCount else {
            throw ForestError.invalid("feature_names has \(featureNames.count) names for \(featureCount) features")
        }
        let featureInfos = try required("feature_infos").split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard featureInfos.count == featureCount else {
            throw ForestError.invalid("feature_infos has \(featureInfos.count) entries for \(featureCount) features")
        }
        var treeSizes: [Int]?
        if let sizes = header["tree_sizes"] {
            treeSizes = try sizes.split(separator: " ").map {
                guard let size = Int($0), size > 0 else { throw ForestError.invalid("tree_sizes entry '\($0)' is not a positive integer") }
                return size
            }
        }

        var trees = [Tree]()
        var treeOffsets = [Int]()
        while let line = lines.next() {
            if line.text.isEmpty { continue }
            if line.text == "end of trees" { break }
            guard line.text.hasPrefix("Tree=") else {
                throw ForestError.invalid("line \(line.number): expected 'Tree=\(trees.count)' or 'end of trees', found '\(line.text.prefix(40))'")
            }
            guard line.text == "Tree=\(trees.count)" else {
                throw ForestError.invalid("line \(line.number): '\(line.text)' out of order, expected 'Tree=\(trees.count)'")
            }
            treeOffsets.append(line.offset)
            var fields = [String: (text: Substring, line: Int)]()
            while let field = lines.next(), !field.text.isEmpty {
                let (key, value) = splitKeyValue(field.text)
                fields[key] = (Substring(value), field.number)
            }
            trees.append(try parseTree(fields, index: trees.count, featureCount: featureCount))
        }
        guard !trees.isEmpty else { throw ForestError.invalid("model.txt holds no trees") }
        guard trees.count % treesPerIteration == 0 else {
            throw ForestError.invalid("\(trees.count) trees is not a whole number of rounds of \(treesPerIteration) (num_tree_per_iteration)")
        }
        if let treeSizes {
            // LightGBM finds tree i at the sum of the sizes before it: they must agree with the text.
            guard treeSizes.count == trees.count, let start = firstTreeOffset else {
                throw ForestError.invalid("tree_sizes has \(treeSizes.count) entries for \(trees.count) trees")
            }
            var offset = start
            for (tree, size) in treeSizes.enumerated() {
                guard treeOffsets[tree] == offset else {
                    throw ForestError.invalid(tree: tree, "starts at byte \(treeOffsets[tree]) but tree_sizes puts it at byte \(offset)")
                }
                offset += size
            }
        }

        return LightGBMModel(
            version: header["version"] ?? "", classCount: classCount, treesPerIteration: treesPerIteration,
            featureCount: featureCount, objectiveText: header["objective"], averageOutput: header["average_output"] != nil,
            featureNames: featureNames, featureInfos: featureInfos, trees: trees)
    }

    private static func splitKeyValue(_ text: String) -> (String, String) {
        guard let equals = text.firstIndex(of: "=") else { return (text, "") }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    private static func parseTree(_ fields: [String: (text: Substring, line: Int)], index tree: Int, featureCount: Int) throws -> Tree {
        func field(_ key: String) throws -> (text: Substring, line: Int) {
            guard let value = fields[key] else { throw ForestError.invalid(tree: tree, "missing '\(key)='") }
            return value
        }
        func integer(_ key: String) throws -> Int {
            let (text, _) = try field(key)
            guard let value = Int(text) else { throw ForestError.invalid(tree: tree, "\(key)=\(text) is not an integer") }
            return value
        }
        func numbers<T>(_ key: String, count: Int, _ convert: (Substring) -> T?) throws -> [T] {
            let (text, _) = try field(key)
            let items = text.split(separator: " ")
            guard items.count == count else {
                throw ForestError.invalid(tree: tree, "\(key) has \(items.count) entries, expected \(count)")
            }
            return try items.enumerated().map { position, item in
                guard let value = convert(item) else { throw ForestError.invalid(tree: tree, "\(key) entry \(position) '\(item)' is not a valid number") }
                return value
            }
        }
        func reals(_ key: String, count: Int) throws -> [Double] {
            let values = try numbers(key, count: count) { Double($0) }
            if let position = values.firstIndex(where: { !$0.isFinite }) {
                throw ForestError.nonFinite(tree: tree, "\(key) entry \(position) (\(values[position])) is not finite")
            }
            return values
        }
        // LightGBM writes `inf` for a split that sends every number left and only NaN right
        // (`-inf` would send only -inf left); NaN is never a threshold.
        func thresholds(count: Int) throws -> [Double] {
            let values = try numbers("threshold", count: count) { Double($0) }
            if let position = values.firstIndex(where: \.isNaN) {
                throw ForestError.invalid(tree: tree, node: position, "threshold \(values[position]) is not a number")
            }
            return values
        }

        let leafCount = try integer("num_leaves")
        guard leafCount >= 1, leafCount < Int(Int32.max) / 2 else {
            throw ForestError.invalid(tree: tree, "num_leaves \(leafCount) is out of range")
        }
        let categoricalCount = try integer("num_cat")
        guard categoricalCount >= 0, categoricalCount < leafCount else {
            throw ForestError.invalid(tree: tree, "num_cat \(categoricalCount) is out of range for \(leafCount) leaves")
        }
        let leafValues = try reals("leaf_value", count: leafCount)
        var isLinear = false
        if fields["is_linear"] != nil {
            let flag = try integer("is_linear")
            guard flag == 0 || flag == 1 else { throw ForestError.invalid(tree: tree, "is_linear=\(flag) is neither 0 nor 1") }
            isLinear = flag == 1
        }
        let internalCount = leafCount - 1
        var result = Tree(
            leafCount: leafCount, splitFeatures: [], thresholds: [], decisionTypes: [], leftChildren: [], rightChildren: [],
            leafValues: leafValues, categorySets: [], linear: nil, depth: 0)
        if isLinear {
            result.linear = try parseLinear(fields, tree: tree, leafCount: leafCount, featureCount: featureCount, reals: reals, numbers: { key, count in
                try numbers(key, count: count) { Int32($0) }
            })
        }
        guard internalCount > 0 else { return result }

        result.splitFeatures = try numbers("split_feature", count: internalCount) { Int32($0) }
        result.thresholds = try thresholds(count: internalCount)
        result.decisionTypes = try numbers("decision_type", count: internalCount) { UInt8($0) }
        result.leftChildren = try numbers("left_child", count: internalCount) { Int32($0) }
        result.rightChildren = try numbers("right_child", count: internalCount) { Int32($0) }
        if categoricalCount > 0 {
            let boundaries = try numbers("cat_boundaries", count: categoricalCount + 1) { Int($0) }
            guard boundaries[0] == 0, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw ForestError.invalid(tree: tree, "cat_boundaries should start at 0 and never decrease")
            }
            let words = try numbers("cat_threshold", count: boundaries.last!) { UInt32($0) }
            for set in 0..<categoricalCount {
                var categories = [Int32]()
                for word in boundaries[set]..<boundaries[set + 1] where words[word] != 0 {
                    for bit in 0..<32 where words[word] >> UInt32(bit) & 1 != 0 {
                        let category = (word - boundaries[set]) * 32 + bit
                        guard category < categoryLimit else {
                            throw ForestError.unsupported("tree \(tree): categorical split \(set) lists category \(category); categories of 2^24 and more are not supported")
                        }
                        categories.append(Int32(category))
                    }
                }
                result.categorySets.append(categories)
            }
        }

        // Every node: valid decision type, feature, threshold; children walked from the root so
        // that each internal node and each leaf is reached exactly once (no cycles, no sharing).
        var seenNodes = [Bool](repeating: false, count: internalCount)
        var seenLeaves = [Bool](repeating: false, count: leafCount)
        var stack: [(node: Int32, depth: Int)] = [(0, 0)]
        var depth = 0
        while let (reference, nodeDepth) = stack.popLast() {
            depth = max(depth, nodeDepth)
            if reference < 0 {
                let leaf = Int(~reference)
                guard !seenLeaves[leaf] else { throw ForestError.invalid(tree: tree, "leaf \(leaf) is reached twice") }
                seenLeaves[leaf] = true
                continue
            }
            let node = Int(reference)
            guard !seenNodes[node] else {
                throw ForestError.invalid(tree: tree, node: node, "reached twice from the root (cycle or shared child)")
            }
            seenNodes[node] = true
            let type = result.decisionTypes[node]
            guard type & ~0x0F == 0, (type >> 2) & 3 != 3 else {
                throw ForestError.invalid(tree: tree, node: node, "decision_type \(type) has unknown bits")
            }
            let feature = result.splitFeatures[node]
            guard feature >= 0, Int(feature) < featureCount else {
                throw ForestError.invalid(tree: tree, node: node, "split feature \(feature) is out of range 0..<\(featureCount)")
            }
            if result.isCategorical(node) {
                let set = result.thresholds[node]
                guard set >= 0, set < Double(categoricalCount), set == set.rounded(.towardZero) else {
                    throw ForestError.invalid(tree: tree, node: node, "categorical split names category set \(set), not one of 0..<\(categoricalCount)")
                }
            }
            for (side, child) in [("left", result.leftChildren[node]), ("right", result.rightChildren[node])] {
                guard child >= 0 ? Int(child) < internalCount : Int(~child) < leafCount else {
                    throw ForestError.invalid(tree: tree, node: node, "\(side) child \(child) is out of range (\(internalCount) nodes, \(leafCount) leaves)")
                }
            }
            stack.append((result.rightChildren[node], nodeDepth + 1))
            stack.append((result.leftChildren[node], nodeDepth + 1))
        }
        if let node = seenNodes.firstIndex(of: false) {
            throw ForestError.invalid(tree: tree, node: node, "is not reachable from the root")
        }
        if let leaf = seenLeaves.firstIndex(of: false) {
            throw ForestError.invalid(tree: tree, "leaf \(leaf) is not reachable from the root")
        }
        result.depth = depth
        return result
    }

    private static func parseLinear(
        _ fields: [String: (text: Substring, line: Int)], tree: Int, leafCount: Int, featureCount: Int,
        reals: (String, Int) throws -> [Double], numbers: (String, Int) throws -> [Int32]
    ) throws -> Tree.Linear {
        // As LightGBM reads them: absent leaf_const means zeros, absent num_features no coefficients.
        let constants = fields["leaf_const"] == nil ? [Double](repeating: 0, count: leafCount) : try reals("leaf_const", leafCount)
        var features = [[Int32]](repeating: [], count: leafCount)
        var coefficients = [[Double]](repeating: [], count: leafCount)
        if fields["num_features"] != nil {
            let counts = try numbers("num_features", leafCount)
            guard counts.allSatisfy({ $0 >= 0 }) else { throw ForestError.invalid(tree: tree, "num_features has a negative entry") }
            let total = counts.reduce(0) { $0 + Int($1) }
            let flatFeatures = fields["leaf_features"] == nil ? [] : try numbers("leaf_features", total)
            let flatCoefficients = fields["leaf_coeff"] == nil ? [] : try reals("leaf_coeff", total)
            guard !flatFeatures.isEmpty || total == 0, !flatCoefficients.isEmpty || total == 0 else {
                throw ForestError.invalid(tree: tree, "linear leaves have num_features but no leaf_features or leaf_coeff")
            }
            var start = 0
            for leaf in 0..<leafCount {
                let end = start + Int(counts[leaf])
                features[leaf] = Array(flatFeatures[start..<end])
                coefficients[leaf] = Array(flatCoefficients[start..<end])
                for feature in features[leaf] where feature < 0 || Int(feature) >= featureCount {
                    throw ForestError.invalid(tree: tree, "linear leaf \(leaf) uses feature \(feature), out of range 0..<\(featureCount)")
                }
                start = end
            }
        }
        return Tree.Linear(constants: constants, features: features, coefficients: coefficients)
    }
}

// MARK: - Lines

/// The lines of a text file with their 1-based numbers and byte offsets (`\r\n` accepted).
private struct LineReader {
    struct Line {
        let text: String
        let number: Int
        let offset: Int
    }

    private let bytes: [UInt8]
    private var position = 0
    private var number = 0
    private var pushedBack: Line?

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    mutating func pushBack(_ line: Line) { pushedBack = line }

    mutating func next() -> Line? {
        if let line = pushedBack {
            pushedBack = nil
            return line
        }
        guard position < bytes.count else { return nil }
        let start = position
        var end = start
        while end < bytes.count, bytes[end] != 0x0A { end += 1 }
        position = end + 1
        var textEnd = end
        if textEnd > start, bytes[textEnd - 1] == 0x0D { textEnd -= 1 }
        number += 1
        return Line(text: String(decoding: bytes[start..<textEnd], as: UTF8.self), number: number, offset: start)
    }
}
