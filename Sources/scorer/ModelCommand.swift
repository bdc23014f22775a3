import ArgumentParser
import Forest
import Foundation
import ModelBundles

/// `scorer model`: look inside a model and measure how fast this machine scores it.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Inspect an XGBoost or LightGBM model or measure its scoring speed.",
        subcommands: [InspectModelCommand.self, BenchModelCommand.self]
    )
}

/// `scorer model inspect PATH`.
struct InspectModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's objective, trees, depth, features, categorical splits and size.",
        usage: "scorer model inspect models/install-v1\n  scorer model inspect model.ubj",
        discussion: """
        PATH is an XGBoost model saved by Booster.save_model (.json or .ubj), a LightGBM text model \
        (model.txt), or a model bundle folder. The model is fully validated, exactly as the scorer \
        loads it; a bundle is also proven (features.json against the model, reference.jsonl replayed \
        bit for bit) and its identity printed: name@hash, the label its predictions carry.
        """
    )

    @Argument(help: ArgumentHelp("An XGBoost .json/.ubj model, a LightGBM model.txt, or a model bundle folder.", valueName: "PATH"))
    var path: String

    func run() throws {
        var isDirectory: ObjCBool = false
        let isBundle = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        var lines = [String]()
        let model: ForestModel
        var bundleModelFile: String?
        if isBundle {
            let bundle: ModelBundle
            do {
                bundle = try ModelBundle.load(path: path)
            } catch {
                FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                throw ExitCode(1)
            }
            model = bundle.model
            bundleModelFile = bundle.modelFile
            lines.append("bundle:            \(path)")
            lines.append("identity:          \(bundle.identity) (sha256 of \(bundle.modelFile) + features.json: \(bundle.identity.hash))")
            lines.append("reference events:  " + (bundle.referenceEventCount > 0
                ? "\(bundle.referenceEventCount) reproduced bit for bit"
                : "none (reference.jsonl missing: the bundle cannot prove it reproduces \(bundle.modelFile == ModelBundle.File.model ? "XGBoost" : "LightGBM"))"))
        } else {
            model = try ForestModel.load(path: path)
        }
        let summary = model.summary
        lines.append("model:             \(isBundle ? path + "/" + (bundleModelFile ?? ModelBundle.File.model) : path)")
        if !summary.xgboostVersion.isEmpty {
            lines.append("xgboost version:   \(summary.xgboostVersion.map(String.init).joined(separator: "."))")
        }
        lines.append("objective:         \(model.objective.name)")
        lines.append("booster:           \(summary.booster)")
        lines.append("outputs:           \(model.outputCount) margin(s) per row, \(model.predictionCount) prediction(s) per row")
        if model.sumsInFloat64 {
            lines.append("base score:        none (LightGBM adds the initial score to the first trees' leaves; sums in float64)")
        } else {
            lines.append("base score:        \(model.baseScores.map(\.description).joined(separator: ", ")) (margin \(model.baseMargins.map(\.description).joined(separator: ", ")))")
        }
        lines.append("trees:             \(model.treeCount)")
        lines.append("nodes:             \(summary.reachableNodes) reachable (\(summary.leaves) leaves), \(summary.storedNodes) stored")
        lines.append("depth:             min \(summary.minimumDepth), mean \(String(format: "%.2f", summary.meanDepth)), max \(summary.maximumDepth)")
        lines.append("categorical splits: \(summary.categoricalSplits)")
        lines.append("size in memory:    \(summary.compiledBytes) bytes (\(String(format: "%.1f", Double(summary.compiledBytes) / Double(max(summary.storedNodes, 1)))) bytes per stored node, tables included)")
        lines.append("kernel:            \(model.kernelDescription)")
        lines.append("features:          \(model.featureCount) (\(summary.featuresUsed) used by splits)")
        for index in 0..<model.featureCount {
            let name = index < model.featureNames.count ? model.featureNames[index] : "f\(index)"
            let type = index < model.featureTypes.count ? model.featureTypes[index] : "q"
            lines.append("  \(index)\t\(name)\t\(type == "c" ? "categorical" : "numeric (\(type))")")
        }
        print(lines.joined(separator: "\n"))
    }
}

/// `scorer model bench PATH`: rows per second at several batch sizes.
struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure this machine's scoring speed for a model at several batch sizes.",
        usage: "scorer model bench models/install-v1 --batch-sizes 1,256,4096",
        discussion: """
        Scores rows in batches (windows sliding over the row set) for at least --seconds per batch \
        size and prints rows/s and ns per row per tree. Rows come from --rows (raw little-endian \
        float32, row-major, one value per model feature) or are random with 3% missing. \
        benchmarks/evaluator_vs_xgboost.py drives this with --interactive to measure side by side \
        with XGBoost: each stdin line "BATCH SECONDS" is answered by one line "BATCH ROWS_PER_SECOND".
        """
    )

    @Argument(help: ArgumentHelp("An XGBoost .json/.ubj model, a LightGBM model.txt, or a model bundle folder.", valueName: "PATH"))
    var path: String

    @Option(help: ArgumentHelp("Raw float32 rows (row-major); default: random rows.", valueName: "FILE"))
    var rows: String?

    @Option(help: "Comma-separated batch sizes.")
    var batchSizes: String = "1,16,256,4096,65536"

    @Option(help: "Minimum measuring time per batch size, in seconds.")
    var seconds: Double = 0.5

    @Option(help: "Worker threads across row blocks.")
    var threads: Int = 1

    @Flag(help: "Answer \"BATCH SECONDS\" lines from stdin (for side-by-side benchmark drivers).")
    var interactive = false

    @Flag(help: "Measure TreeSHAP contributions (scorer score --contribs) instead of predictions.")
    var contribs = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard batchSizes.split(separator: ",").allSatisfy({ Int($0).map { $0 > 0 } ?? false }) else {
            throw ValidationError("--batch-sizes must be positive integers separated by commas, e.g. 1,256,4096")
        }
    }

    func run() throws {
        let model = try ForestModel.load(path: path)
        if contribs, let reason = model.explanationUnavailableReason { throw ValidationError(reason) }
        let data = try loadRows(model: model)
        let rowCount = data.count / max(model.featureCount, 1)
        guard rowCount > 0 else { throw ValidationError("no rows to score") }
        if interactive {
            while let line = readLine() {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let batch = Int(parts[0]), batch > 0, let time = Double(parts[1]) else {
                    FileHandle.standardOutput.write(Data("error: expected 'BATCH SECONDS'\n".utf8))
                    continue
                }
                let rate = measure(model: model, rows: data, rowCount: rowCount, batch: batch, seconds: time)
                FileHandle.standardOutput.write(Data("\(batch) \(rate)\n".utf8))
            }
            return
        }
        print("batch\trows/s\tns/row/tree")
        for batch in batchSizes.split(separator: ",").compactMap({ Int($0) }) {
            let rate = measure(model: model, rows: data, rowCount: rowCount, batch: batch, seconds: seconds)
            let nsPerRowTree = 1e9 / rate / Double(max(model.treeCount, 1))
            print("\(batch)\t\(Int(rate))\t\(String(format: "%.2f", nsPerRowTree))")
        }
    }

    private func loadRows(model: ForestModel) throws -> [Float] {
        if let rows {
            guard let data = FileManager.default.contents(atPath: rows) else { throw ValidationError("cannot read \(rows)") }
            let stride = model.featureCount * 4
            guard stride > 0, data.count % stride == 0 else {
                throw ValidationError("\(rows): \(data.count) bytes is not a whole number of rows of \(model.featureCount) float32 values")
            }
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        var generator = SystemRandomNumberGenerator()
        return (0..<65_536 * model.featureCount).map { _ in
            Double.random(in: 0..<1, using: &generator) < 0.03 ? .nan : Float.random(in: -3...3, using: &generator)
        }
    }

    /// Rows per second scoring `batch` rows per call, cycling through `rows`, for at least `seconds`.
    private func measure(model: ForestModel, rows: [Float], rowCount: Int, batch: Int, seconds: Double) -> Double {
        let width = contribs ? model.contributionCount : model.predictionCount
        var output = [Float](repeating: 0, count: batch * width)
        var source = rows
        if rowCount < batch {
            // Repeat the rows so one batch fits.
            while source.count < batch * model.featureCount { source += rows }
        }
        let available = source.count / model.featureCount
        let clock = ContinuousClock()
        var scored = 0
        var start = 0
        let began = clock.now
        var elapsed = Duration.zero
        source.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                repeat {
                    for _ in 0..<max(1, (contribs ? 64 : 4096) / batch) {
                        if start + batch > available { start = 0 }
                        let window = UnsafeBufferPointer(rebasing: input[(start * model.featureCount)...])
                        if contribs {
                            try? model.contributions(rows: window, count: batch, into: out, threads: threads)
                        } else {
                            try? model.predict(rows: window, count: batch, into: out, threads: threads)
                        }
                        start += batch
                        scored += batch
                    }
                    elapsed = clock.now - began
                } while elapsed < .seconds(seconds)
            }
        }
        let measured = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Double(scored) / measured
    }
}
