#if canImport(Glibc)
import Glibc
#endif
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
        let input: FileHandle
        if csvPath == "-" {
            input = FileHandle.standardInput
        } else {
            guard let handle = FileHandle(forReadingAtPath: csvPath) else {
                throw CommandFailure("cannot read feature rows from \(csvPath)")
            }
            input = handle
        }
        let sink = try FeatureRowOutput(path: output)
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        var reader = FeatureRowReader(input: input, featureCount: forest.featureCount)
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
                        try forest.contributions(rows: input, count: count, into: out, threads: threads)
                    } else if forest.sumsInFloat64 {
                        try exact.withUnsafeMutableBufferPointer { out in
                            if margin {
                                try forest.predictMargins(rows: input, count: count, into: out, threads: threads)
                            } else {
                                try forest.predict(rows: input, count: count, into: out, threads: threads)
                            }
                        }
                    } else if margin {
                        try forest.predictMargins(rows: input, count: count, into: out, threads: threads)
                    } else {
                        try forest.predict(rows: input, count: count, into: out, threads: threads)
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

/// Reads rows of Float32 from a headerless CSV stream, naming the line and column of any problem.
/// Reads the input in blocks of 1 MiB (memory does not grow with the file) and parses numbers in
/// place with `strtod` (correctly rounded, like Swift's `Double(_:)`), then rounds to Float32.
private struct FeatureRowReader {
    let input: FileHandle
    let featureCount: Int
    /// Unparsed input: bytes `position..<end`, followed by a 0 byte (`strtod` stops there at the latest).
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var position = 0
    private var end = 0
    private var endOfInput = false
    private var line = 0

    init(input: FileHandle, featureCount: Int) {
        self.input = input
        self.featureCount = featureCount
    }

    /// Appends the next line's values to `rows`; returns false at the end of the input.
    mutating func appendNextRow(to rows: inout [Float]) throws -> Bool {
        // The next newline, reading more input until there is one (or the input ends).
        var newline = position
        while true {
            while newline < end, buffer[newline] != UInt8(ascii: "\n") { newline += 1 }
            if newline < end || endOfInput { break }
            newline -= position
            try refill()
            newline += position
        }
        guard position < end else { return false }
        line += 1
        var lineEnd = newline
        if lineEnd > position, buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
        var column = 0
        var fieldStart = position
        var index = position
        while true {
            if index == lineEnd || buffer[index] == UInt8(ascii: ",") {
                column += 1
                guard column <= featureCount else {
                    throw CommandFailure("line \(line): more than \(featureCount) columns; the model has \(featureCount) features")
                }
                rows.append(try parseField(fieldStart, index, column: column))
                if index == lineEnd { break }
                fieldStart = index + 1
            }
            index += 1
        }
        guard column == featureCount else {
            throw CommandFailure("line \(line): \(column) columns; the model has \(featureCount) features")
        }
        position = min(newline + 1, end)
        return true
    }

    /// Moves the unparsed bytes to the front and reads more after them (growing the buffer only
    /// for a line longer than it).
    private mutating func refill() throws {
        let pending = end - position
        if position > 0 {
            let from = position
            buffer.withUnsafeMutableBufferPointer { b in
                _ = memmove(b.baseAddress!, b.baseAddress! + from, pending)
            }
            position = 0
            end = pending
        }
        if buffer.count - end < 65_537 { buffer += [UInt8](repeating: 0, count: buffer.count) }
        let room = buffer.count - end - 1
        let data = try input.read(upToCount: room) ?? Data()
        if data.isEmpty { endOfInput = true }
        let at = end
        buffer.withUnsafeMutableBufferPointer { b in
            _ = data.copyBytes(to: UnsafeMutableBufferPointer(rebasing: b[at ..< at + data.count]))
        }
        end += data.count
        buffer[end] = 0
    }

    private func parseField(_ start: Int, _ stop: Int, column: Int) throws -> Float {
        var lower = start, upper = stop
        while lower < upper, buffer[lower] == UInt8(ascii: " ") || buffer[lower] == UInt8(ascii: "\t") { lower += 1 }
        while upper > lower, buffer[upper - 1] == UInt8(ascii: " ") || buffer[upper - 1] == UInt8(ascii: "\t") { upper -= 1 }
        if lower == upper { return .nan }
        // Parse as Double, then round to Float: what numpy does when a float64 column becomes float32.
        let parsed: Double? = buffer.withUnsafeBufferPointer { b in
            let first = b.baseAddress! + lower
            // Hexadecimal floats are not CSV numbers (strtod would take them).
            var digits = first
            if digits.pointee == UInt8(ascii: "-") || digits.pointee == UInt8(ascii: "+") { digits += 1 }
            if digits.pointee == UInt8(ascii: "0"), digits[1] | 0x20 == UInt8(ascii: "x") { return nil }
            var stopped: UnsafeMutablePointer<CChar>?
            let value = first.withMemoryRebound(to: CChar.self, capacity: upper - lower) { strtod($0, &stopped) }
            guard let stopped, UnsafeRawPointer(stopped) == UnsafeRawPointer(b.baseAddress! + upper) else { return nil }
            return value
        }
        guard let value = parsed else {
            throw CommandFailure("line \(line), column \(column): '\(String(decoding: buffer[lower..<upper], as: UTF8.self))' is not a number")
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
