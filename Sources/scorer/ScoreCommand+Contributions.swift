import ArgumentParser
import Forest

/// `scorer score --contribs` / `--top K`: TreeSHAP explanations instead of predictions.
struct ContributionOptions: ParsableArguments {
    @Flag(name: .long, help: ArgumentHelp(
        "Print TreeSHAP contributions instead of predictions (XGBoost's pred_contribs): per output, one per feature in model order, then the bias.",
        discussion: "With --features-csv, one CSV line per row. The values sum to the margin."))
    var contribs = false

    @Option(name: .long, help: ArgumentHelp(
        "Print each row's K largest contributions by absolute value, with feature names, as a JSON array per line (an array per output for multi-output models).",
        valueName: "K"))
    var top: Int?

    /// Whether explanations replace predictions.
    var isEnabled: Bool { contribs || top != nil }

    func validate() throws {
        if contribs && top != nil { throw ValidationError("give either --contribs or --top K, not both") }
        if let top, top < 1 { throw ValidationError("--top must be at least 1") }
    }

    /// Values computed per row for `model`.
    func width(_ model: ForestModel) -> Int { model.contributionCount }

    /// Fails with the model's one-line reason when it cannot explain.
    func check(_ model: ForestModel) throws {
        if let reason = model.explanationUnavailableReason { throw ValidationError("--\(contribs ? "contribs" : "top"): \(reason)") }
    }

    /// Writes the lines of `count` rows: their `contributions` (``width(_:)`` per row) as CSV, or
    /// the top K as JSON.
    func format(
        _ model: ForestModel, rows: UnsafeBufferPointer<Float>, contributions: UnsafeBufferPointer<Float>, count: Int,
        indices: inout [Int32], into text: inout String
    ) {
        let width = model.contributionCount
        guard let top else {
            for row in 0..<count {
                for column in 0..<width {
                    if column > 0 { text += "," }
                    text += contributions[row * width + column].description
                }
                text += "\n"
            }
            return
        }
        let columns = model.featureCount + 1
        for row in 0..<count {
            if model.outputCount > 1 { text += "[" }
            for output in 0..<model.outputCount {
                if output > 0 { text += "," }
                let start = row * width + output * columns
                let values = UnsafeBufferPointer(rebasing: contributions[start ..< start + model.featureCount])
                ContributionRanking.top(top, of: values, into: &indices)
                text += "["
                for (rank, feature) in indices.enumerated() {
                    if rank > 0 { text += "," }
                    let index = Int(feature)
                    text += "{\"feature\":"
                    text += jsonString(index < model.featureNames.count ? model.featureNames[index] : "f\(index)")
                    text += ",\"value\":"
                    text += jsonNumber(rows[row * model.featureCount + index])
                    text += ",\"contribution\":"
                    text += jsonNumber(values[index])
                    text += "}"
                }
                text += "]"
            }
            if model.outputCount > 1 { text += "]" }
            text += "\n"
        }
    }

    private func jsonNumber(_ value: Float) -> String { value.isFinite ? value.description : "null" }

    private func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += "\\u00" + String(scalar.value, radix: 16).leftPadded(to: 2)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

private extension String {
    func leftPadded(to length: Int) -> String { count >= length ? self : String(repeating: "0", count: length - count) + self }
}
