#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// Reads newline-delimited raw events (JSON lines) from a file, gzip-compressed or not, or from
/// standard input, one line at a time into a reused buffer (for `scorer score --events`).
///
/// Lines end at `\n` (a preceding `\r` is dropped); blank lines are skipped. A line longer than
/// `maxLineBytes` is returned truncated to that size plus one byte, so the featurizer reports it as
/// too large instead of the reader buffering without bound.
public final class EventLineReader {
    private let file: gzFile
    private let name: String
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)
    private var start = 0, end = 0
    private var endOfFile = false
    private let maxLineBytes: Int
    /// The 1-based line number of the last line returned.
    public private(set) var line = 0

    /// Opens `path` (`-` = standard input).
    ///
    /// - Throws: ``FeatureError/Code/io`` if it cannot be opened.
    public init(path: String, maxLineBytes: Int = 1 << 20) throws(FeatureError) {
        let opened = path == "-" ? gzdopen(dup(0), "rb") : gzopen(path, "rb")
        guard let opened else { throw .io("cannot open events '\(path)'") }
        gzbuffer(opened, 1 << 18)
        file = opened
        name = path == "-" ? "standard input" : path
        self.maxLineBytes = maxLineBytes
    }

    deinit { gzclose(file) }

    /// Reads the next non-blank line into `event` (without the line end); false at the end.
    ///
    /// - Throws: ``FeatureError/Code/io`` on a read or decompression error.
    public func next(into event: inout [UInt8]) throws(FeatureError) -> Bool {
        while true {
            event.removeAll(keepingCapacity: true)
            var sawLine = false
            while true {
                if start == end {
                    try refill()
                    if start == end { break }
                }
                let chunk = buffer[start..<end]
                if let newline = chunk.firstIndex(of: 0x0A) {
                    append(chunk[start..<newline], to: &event)
                    start = newline + 1
                    sawLine = true
                    break
                }
                append(chunk, to: &event)
                start = end
            }
            if !sawLine && event.isEmpty { return false }
            line += 1
            if event.last == 0x0D { event.removeLast() }
            if event.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            return true
        }
    }

    private func append(_ bytes: ArraySlice<UInt8>, to event: inout [UInt8]) {
        let room = maxLineBytes + 1 - event.count
        if room > 0 { event.append(contentsOf: bytes.prefix(room)) }
    }

    private func refill() throws(FeatureError) {
        guard !endOfFile else { return }
        start = 0
        switch readGzipChunk(file, into: &buffer) {
        case .failure(let failure):
            throw .io("cannot read events from \(name) after line \(line): \(failure.message)")
        case .success(let count):
            endOfFile = count == 0
            end = count
        }
    }
}
