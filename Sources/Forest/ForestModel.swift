public import Foundation

/// A compiled, immutable tree ensemble (XGBoost or LightGBM), ready to score rows.
///
/// Load one with ``load(contentsOf:)`` (a `.json` or `.ubj` file written by XGBoost's
/// `Booster.save_model`, a LightGBM `model.txt`, or a model bundle folder holding either), then call
/// ``predict(rows:count:into:)`` or ``predictMargins(rows:count:into:)`` on row-major Float32
/// buffers (`NaN` = missing). Results are bit-identical to XGBoost 3.2's
/// `predict(output_margin=True)` for margins and to `predict()` for transformed outputs.
///
/// The model is immutable and `Sendable`: share one instance between threads and tasks, and swap
/// models between batches by replacing the reference.
///
/// Models are compiled to perfect trees (``PerfectForest``, numerical and categorical splits) and
/// scored by an AVX2 kernel on x86-64 CPUs that have it, by a portable Swift kernel elsewhere;
/// models with very deep or sparse trees keep a packed-node layout and its Swift kernel. Every kernel gives the
/// same bits; ``kernelDescription`` says which one runs.
public final class ForestModel: Sendable {
    /// Number of input columns each row must have (`num_feature`).
    public let featureCount: Int
    /// Number of margins per row: classes (multi-class), targets (multi-target) or 1.
    public let outputCount: Int
    /// The learning objective; decides the transform from margin to prediction.
    public let objective: Objective
    /// Feature names saved with the model (empty when the model was trained without names).
    public let featureNames: [String]
    /// Feature types saved with the model (`"q"`, `"float"`, `"int"`, `"c"` = categorical), or empty.
    public let featureTypes: [String]
    /// `base_score` as stored in the model (response space), one per output.
    public let baseScores: [Float]
    /// The initial margin of every output, before any tree (XGBoost's `ProbToMargin(base_score)`).
    public let baseMargins: [Float]
    /// Shape statistics for `scorer model inspect`.
    public let summary: Summary

    /// The forest in perfect-tree layout (the vector kernel's input), when eligible;
    /// then ``nodes`` and ``treeRoots`` are empty.
    let perfect: PerfectForest?
    let nodes: [PackedNode]
    let treeRoots: [UInt32]
    let treeDepths: [UInt32]
    let treeGroups: [UInt32]
    /// DART weights; nil when every tree has weight 1.
    let treeWeights: [Float]?
    /// Per categorical node: word count, then the bitset words of the categories that go right.
    let categoryWords: [UInt32]
    let hasCategoricalSplits: Bool
    /// TreeSHAP tables (``TreeExplainer``), or why the model cannot explain (no node covers).
    let explainer: Result<TreeExplainer, ForestError>
    /// LightGBM models: float64 leaves, input rewrites, linear leaves (`ForestModel+Float64.swift`).
    let float64: Float64Parts?

    /// Number of values per row that ``predict(rows:count:into:)`` writes: 1 for `multi:softmax`
    /// (the class index), ``outputCount`` otherwise.
    public var predictionCount: Int { objective.predictsClassIndex ? 1 : outputCount }
    /// Number of trees in the ensemble.
    public var treeCount: Int { treeGroups.count }

    /// Facts about the model's shape and size.
    public struct Summary: Sendable {
        /// `gbtree` or `dart`.
        public let booster: String
        /// Nodes reachable from the roots, over all trees.
        public let reachableNodes: Int
        /// Node entries stored (reachable plus pruned), over all trees.
        public let storedNodes: Int
        public let leaves: Int
        public let minimumDepth: Int
        public let maximumDepth: Int
        public let meanDepth: Double
        /// Split nodes that test a category set.
        public let categoricalSplits: Int
        /// Features used by at least one split.
        public let featuresUsed: Int
        /// XGBoost version that wrote the file, e.g. [3, 2, 0] (empty for LightGBM models).
        public let xgboostVersion: [Int]
        /// The file format: `XGBoost` or `LightGBM <version>` (e.g. `LightGBM v4`).
        public let format: String
        /// Bytes of the compiled nodes and category tables.
        public let compiledBytes: Int
    }

    // MARK: - Loading

    /// Loads and compiles a model.
    ///
    /// - Parameter url: an XGBoost `.json` or `.ubj` file, a LightGBM `model.txt`, or a folder
    ///   holding `model.json` or `model.txt` (a model bundle). The format is detected from the
    ///   content, not the extension.
    /// - Throws: ``ForestError`` naming the problem (file, byte offset, tree and node).
    public static func load(contentsOf url: URL) throws -> ForestModel {
        var fileURL = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            fileURL = url.appendingPathComponent("model.json")
            let text = url.appendingPathComponent("model.txt")
            if !FileManager.default.fileExists(atPath: fileURL.path), FileManager.default.fileExists(atPath: text.path) { fileURL = text }
        }
        let data: Data
        do {
            data = try Data(contentsOf: fileURL)
        } catch {
            throw ForestError.io("cannot read model \(fileURL.path): \(error.localizedDescription)")
        }
        do {
            return try ForestModel(serialized: [UInt8](data))
        } catch let error as ForestError {
            throw ForestError(code: error.code, message: "\(fileURL.path): \(error.message)")
        }
    }

    /// Loads and compiles a model from a file path (see ``load(contentsOf:)``).
    public static func load(path: String) throws -> ForestModel {
        try load(contentsOf: URL(fileURLWithPath: path))
    }

    /// Decodes and compiles a model from the bytes of an XGBoost `.json` or `.ubj` file or a
    /// LightGBM text model.
    ///
    /// - Throws: ``ForestError`` for malformed or unsupported models.
    public convenience init(serialized bytes: [UInt8]) throws {
        try self.init(definition: ForestModel.decodeDefinition(bytes))
    }

    static func decodeDefinition(_ bytes: [UInt8]) throws -> ModelDefinition {
        if LightGBMModel.looksLikeModel(bytes) { return try LightGBMModel.parse(bytes).definition() }
        return try ModelDecoder.decode(parseDocument(bytes))
    }

    static func parseDocument(_ bytes: [UInt8]) throws -> DocumentValue {
        var first = 0
        while first < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[first]) { first += 1 }
        guard first < bytes.count else { throw ForestError.syntax("empty model file", at: 0) }
        // Text JSON starts with '{' followed by whitespace or '"'; UBJSON's '{' is followed by a
        // length marker ('i', 'U', 'L', ...), '$', '#' or '}'.
        if bytes[first] == UInt8(ascii: "{") {
            var next = first + 1
            while next < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[next]) { next += 1 }
            if next >= bytes.count || bytes[next] == UInt8(ascii: "\"") || (next > first + 1 && bytes[next] == UInt8(ascii: "}")) {
                return try JSONReader.parse(bytes)
            }
            return try UBJSONReader.parse(bytes)
        }
        if bytes[first] == 0xEF { return try JSONReader.parse(bytes) }
        throw ForestError.syntax("not an XGBoost model: expected a JSON or UBJSON object", at: first)
    }

    // MARK: - Compiling

    init(definition: ModelDefinition) throws {
        featureCount = definition.featureCount
        outputCount = definition.outputCount
        objective = definition.objective
        featureNames = definition.featureNames
        featureTypes = definition.featureTypes
        baseScores = definition.baseScores
        baseMargins = definition.baseMargins
        let weights: [Float]? = definition.treeWeights.flatMap { $0.contains(where: { $0 != 1 }) ? $0 : nil }
        perfect = PerfectForest(definition: definition, treeWeights: weights)
        explainer = definition.lightGBM == nil
            ? TreeExplainer.compile(definition)
            : .failure(.unsupported("TreeSHAP explanations are not supported for LightGBM models"))

        var nodes = [PackedNode]()
        if perfect == nil { nodes.reserveCapacity(definition.trees.reduce(0) { $0 + $1.nodeCount }) }
        var roots = [UInt32](), depths = [UInt32]()
        var categoryWords = [UInt32]()
        var categoricalSplits = 0
        var usedFeatures = Set<Int32>()
        for (treeIndex, tree) in definition.trees.enumerated() where perfect == nil {
            let base = nodes.count
            guard base + tree.nodeCount < Int(UInt32.max) else {
                throw ForestError.unsupported("tree \(treeIndex): the model has more than 2^32 nodes")
            }
            roots.append(UInt32(base))
            depths.append(UInt32(tree.depth))
            for node in 0..<tree.nodeCount {
                let own = UInt32(base + node)
                if tree.isLeaf(node) {
                    nodes.append(PackedNode(value: tree.splitConditions[node], featureAndFlags: 0, left: own, right: own))
                    continue
                }
                let left = Int(tree.leftChildren[node]), right = Int(tree.rightChildren[node])
                // Unreachable (pruned) entries may hold anything: make them harmless self-loops.
                guard left >= 0, left < tree.nodeCount, right >= 0, right < tree.nodeCount,
                      tree.splitIndices[node] >= 0, Int(tree.splitIndices[node]) < definition.featureCount else {
                    nodes.append(PackedNode(value: 0, featureAndFlags: 0, left: own, right: own))
                    continue
                }
                var flags = UInt32(tree.splitIndices[node])
                if tree.defaultLeft[node] { flags |= PackedNode.defaultLeftFlag }
                var value = tree.splitConditions[node]
                if tree.isCategorical[node] {
                    categoricalSplits += 1
                    flags |= PackedNode.categoricalFlag
                    value = Float(bitPattern: Self.appendCategoryTable(tree.categories[Int32(node)] ?? [], to: &categoryWords))
                }
                usedFeatures.insert(tree.splitIndices[node])
                nodes.append(PackedNode(value: value, featureAndFlags: flags, left: UInt32(base + left), right: UInt32(base + right)))
            }
        }
        if perfect != nil {
            // The packing loop did not run: count the used features and categorical splits here.
            for tree in definition.trees {
                for node in 0..<tree.nodeCount where !tree.isLeaf(node) {
                    let left = Int(tree.leftChildren[node]), right = Int(tree.rightChildren[node])
                    guard left >= 0, left < tree.nodeCount, right >= 0, right < tree.nodeCount,
                          tree.splitIndices[node] >= 0, Int(tree.splitIndices[node]) < definition.featureCount else { continue }
                    usedFeatures.insert(tree.splitIndices[node])
                    if tree.isCategorical[node] { categoricalSplits += 1 }
                }
            }
        }
        self.nodes = nodes
        self.treeRoots = roots
        self.treeDepths = depths
        self.treeGroups = definition.treeGroups.map { UInt32($0) }
        self.treeWeights = weights
        self.categoryWords = categoryWords
        self.hasCategoricalSplits = categoricalSplits > 0
        var float64: Float64Parts?
        if let semantics = definition.lightGBM {
            float64 = Float64Parts(semantics: semantics, perfect: self.perfect, packedRoots: roots, packedNodeCount: nodes.count)
        }
        self.float64 = float64

        let treeDepthList = definition.trees.map(\.depth)
        summary = Summary(
            booster: definition.boosterName,
            reachableNodes: definition.trees.reduce(0) { $0 + $1.reachableNodes },
            storedNodes: definition.trees.reduce(0) { $0 + $1.nodeCount },
            leaves: definition.trees.reduce(0) { $0 + $1.leaves },
            minimumDepth: treeDepthList.min() ?? 0,
            maximumDepth: treeDepthList.max() ?? 0,
            meanDepth: treeDepthList.isEmpty ? 0 : Double(treeDepthList.reduce(0, +)) / Double(treeDepthList.count),
            categoricalSplits: categoricalSplits,
            featuresUsed: usedFeatures.count,
            xgboostVersion: definition.xgboostVersion,
            format: definition.lightGBM.map { "LightGBM \($0.version)" } ?? "XGBoost",
            compiledBytes: (float64?.compiledBytes ?? 0) + (perfect?.compiledBytes ?? (nodes.count * MemoryLayout<PackedNode>.stride + categoryWords.count * 4
                + roots.count * (4 * 3 + (weights == nil ? 0 : 4))))
        )
    }

    /// Appends the category table of one categorical split to `words`: the word count, then a
    /// bitset of `categories` (the codes that go right, sorted ascending, as the decoder checked).
    /// Returns the table's index in `words`.
    static func appendCategoryTable(_ categories: [Int32], to words: inout [UInt32]) -> UInt32 {
        let offset = UInt32(words.count)
        let wordCount = categories.last.map { Int($0) / 32 + 1 } ?? 0
        words.append(UInt32(wordCount))
        let start = words.count
        words.append(contentsOf: repeatElement(0, count: wordCount))
        for code in categories { words[start + Int(code) / 32] |= 1 << (UInt32(code) % 32) }
        return offset
    }
}
