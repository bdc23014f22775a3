import ArgumentParser
import Forest
import Foundation

extension ScoreCommand {
    /// Scores a headerless CSV of feature rows: one row per line, one column per model feature,
    /// an empty field or `nan` = missing. Prints one line per row (multi-output: comma-separated),
    /// each number in the shortest form that round-trips a Float32, or a Float64 for models that sum
    /// in float64 (LightGBM), so the values can be compared bit for bit with the library's.
    func scoreFeatureRows(csvPath: String) throws {
        let forest = try ForestModel.load(path: model)
        if explanation.isEnabled { try explanation.check(forest) }
        let input: Data
        if csvPath == "-" {
            input = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let data = FileManager.default.contents(atPath: csvPath) else {
                throw CommandFailure("cannot read feature rows from \(csvPath)")
            }
            input = data
        }
        let sink = try FeatureRowOutput(path: output)
        var reader = FeatureRowReader(bytes: [UInt8](input), featureCount: forest.featureCount)
        let batchSize = 4096
        var rows = [Float]()
        rows.reserveCapacity(batchSize * forest.featureCount)
        let width = explanation.isEnabled ? explanation.width(forest) : margin ? forest.outputCount : forest.predictionCount
        var indices = [Int32]()
        var results = [Float](repeating: 0, count: batchSize * width)
        var exact = [Double](repeating: 0, count: forest.sumsInFloat64 ? batchSize * width : 0)
        var text = ""
        while true {
            rows.removeAll(keepingCapacity: true)
            var count = 0
            while count < batchSize, try reader.appendNextRow(to: &rows) { count += 1 }
            if count == 0 { break }
            try rows.withUnsafeBufferPointer { input in
                try results.withUnsafeMutableBufferPointer { out in
                    if explanation.isEnabled {
                        try forest.contributions(rows: input, count: count, into: out)
                    } else if forest.sumsInFloat64 {
                        try exact.withUnsafeMutableBufferPointer { out in
                            if margin {
                                try forest.predictMargins(rows: input, count: count, into: out)
                            } else {
                                try forest.predict(rows: input, count: count, into: out)
                            }
                        }
                    } else if margin {
                        try forest.predictMargins(rows: input, count: count, into: out)
                    } else {
                        try forest.predict(rows: input, count: count, into: out)
                    }
                }
            }
            text.removeAll(keepingCapacity: true)
            if explanation.isEnabled {
                rows.withUnsafeBufferPointer { input in
                    results.withUnsafeBufferPointer { values in
                        explanation.format(forest, rows: input, contributions: values, count: count, indices: &indices, into: &text)
                    }
                }
                sink.write(text)
                continue
            }
            for row in 0..<count {
                for column in 0..<width {
                    if column > 0 { text += "," }
                    text += forest.sumsInFloat64 ? exact[row * width + column].description : results[row * width + column].description
                }
                text += "\n"
            }
            sink.write(text)
        }
        try sink.close()
    }
}

/// Reads rows of Float32 from headerless CSV bytes, naming the line and column of any problem.
private struct FeatureRowReader {
    let bytes: [UInt8]
    let featureCount: Int
    private var position = 0
    private var line = 0

    init(bytes: [UInt8], featureCount: Int) {
        self.bytes = bytes
        self.featureCount = featureCount
    }

    /// Appends the next line's values to `rows`; returns false at the end of the input.
    mutating func appendNextRow(to rows: inout [Float]) throws -> Bool {
        guard position < bytes.count else { return false }
        line += 1
        var end = position
        while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
        var lineEnd = end
        if lineEnd > position, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        var column = 0
        var fieldStart = position
        var index = position
        while true {
            if index == lineEnd || bytes[index] == UInt8(ascii: ",") {
                column += 1
                guard column <= featureCount else {
                    throw CommandFailure("line \(line): more than \(featureCount) columns; the model has \(featureCount) features")
                }
                rows.append(try parseField(fieldStart..<index, column: column))
                if index == lineEnd { break }
                fieldStart = index + 1
            }
            index += 1
        }
        guard column == featureCount else {
            throw CommandFailure("line \(line): \(column) columns; the model has \(featureCount) features")
        }
        position = end + 1
        return true
    }

    private func parseField(_ range: Range<Int>, column: Int) throws -> Float {
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, bytes[lower] == UInt8(ascii: " ") || bytes[lower] == UInt8(ascii: "\t") { lower += 1 }
        while upper > lower, bytes[upper - 1] == UInt8(ascii: " ") || bytes[upper - 1] == UInt8(ascii: "\t") { upper -= 1 }
        if lower == upper { return .nan }
        let text = String(decoding: bytes[lower..<upper], as: UTF8.self)
        if text.lowercased() == "nan" { return .nan }
        // Parse as Double, then round to Float: what numpy does when a float64 column becomes float32.
        guard let value = Double(text), !text.hasPrefix("0x"), !text.hasPrefix("-0x") else {
            throw CommandFailure("line \(line), column \(column): '\(text)' is not a number")
        }
        return Float(value)
    }
}

/// Standard output or a file, written in large chunks.
private final class FeatureRowOutput {
    private let handle: FileHandle
    private let ownsHandle: Bool

    init(path: String?) throws {
        guard let path, path != "-" else {
            handle = FileHandle.standardOutput
            ownsHandle = false
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandFailure("cannot write to \(path)")
        }
        self.handle = handle
        ownsHandle = true
    }

    func write(_ text: String) {
        handle.write(Data(text.utf8))
    }

    func close() throws {
        if ownsHandle { try handle.close() }
    }
}
