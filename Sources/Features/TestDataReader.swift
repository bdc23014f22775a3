import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// Reads the simulator's test data (`simulator/data/test_data.csv.gz`, or a plain `.csv`) and turns
/// each CSV row into the raw JSON impression event the training pipeline featurized.
///
/// CSV follows Python's `csv` module (excel dialect): comma separated, `"` quoting with `""` inside
/// quotes, quoted fields may span lines, `\n`, `\r\n` or `\r` ends a record, blank lines are skipped.
/// A row becomes `{"column":value,...}` in header order without the label column: an empty cell is
/// `null`, a cell of a number column that is a JSON number is written verbatim, anything else is a
/// JSON string. The rules mirror `csv_row_to_event` in models/train/featurize.py; a test checks the
/// bytes are identical.
public final class TestDataReader {
    /// The columns whose cells are written as JSON numbers: the DESIGN.md integer fields.
    public static let defaultNumberColumns: Set<String> = [
        "sourceGameId", "startCount", "viewCount", "clickCount", "installCount", "startCount1d", "startCount7d",
    ]

    /// The header's column names.
    public private(set) var header: [String]
    /// The index of the label column (`install`) in ``header``, if present.
    public private(set) var labelColumn: Int?

    private let file: gzFile
    private let path: String
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var endOfFile = false
    private var cells: [Range<Int>] = []  // current record's cells, into `cellBytes`
    private var cellBytes: [UInt8] = []
    private var keyPrefixes: [[UInt8]] = []  // `"column":` per column
    private var isNumberColumn: [Bool] = []
    private var line = 1

    /// Opens `path` (gzip or plain text) and reads the header row.
    ///
    /// - Parameters:
    ///   - numberColumns: columns whose numeric cells become JSON numbers.
    ///   - labelColumn: the column that holds the label (excluded from the events).
    /// - Throws: ``FeatureError/Code/io`` if the file cannot be opened or has no header.
    public init(path: String, numberColumns: Set<String> = defaultNumberColumns, labelColumn labelName: String = "install") throws(FeatureError) {
        guard let file = gzopen(path, "rb") else { throw .io("cannot open test data '\(path)'") }
        gzbuffer(file, 1 << 18)
        self.file = file
        self.path = path
        buffer = [UInt8](repeating: 0, count: 1 << 18)
        header = []
        labelColumn = nil
        guard try nextRecord() else {
            gzclose(file)
            throw .io("test data '\(path)' is empty (no header row)")
        }
        let names = cells.map { String(decoding: cellBytes[$0], as: UTF8.self) }
        header = names
        self.labelColumn = names.firstIndex(of: labelName)
        keyPrefixes = names.map { name in
            var key: [UInt8] = []
            appendJSONString(name.utf8, to: &key)
            return key + [0x3A]
        }
        isNumberColumn = names.map(numberColumns.contains)
    }

    deinit { gzclose(file) }

    /// Reads the next row into `event` (replacing its content) and returns its label (nil if the
    /// label cell is not a non-negative integer), or returns nil at the end of the file.
    ///
    /// - Throws: ``FeatureError/Code/io`` if the file is corrupt (gzip error).
    public func next(into event: inout [UInt8]) throws(FeatureError) -> Row? {
        guard try nextRecord() else { return nil }
        event.removeAll(keepingCapacity: true)
        event.append(0x7B)
        var label: Int?
        var first = true
        for (column, range) in zip(keyPrefixes.indices, cells) {
            if column == labelColumn {
                label = Self.nonNegativeInteger(cellBytes[range])
                continue
            }
            if !first { event.append(0x2C) }
            first = false
            event.append(contentsOf: keyPrefixes[column])
            let cell = cellBytes[range]
            if cell.isEmpty {
                event.append(contentsOf: "null".utf8)
            } else if isNumberColumn[column], Self.isJSONNumber(cell) {
                event.append(contentsOf: cell)
            } else {
                appendJSONString(cell, to: &event)
            }
        }
        event.append(0x7D)
        return Row(label: label, line: line)
    }

    /// One data row's metadata.
    public struct Row: Sendable, Equatable {
        /// The label (e.g. 1 = installed), if the row has a valid one.
        public let label: Int?
        /// The line where the row ended (1-based, for messages).
        public let line: Int
    }

    /// Reads every remaining row: the events and their labels.
    public func readAll() throws(FeatureError) -> (events: [[UInt8]], labels: [Int?]) {
        var events: [[UInt8]] = [], labels: [Int?] = []
        var event: [UInt8] = []
        while let row = try next(into: &event) {
            events.append(event)
            labels.append(row.label)
        }
        return (events, labels)
    }

    // MARK: - CSV records

    /// Parses the next non-blank record into `cells`; false at the end of the file.
    private func nextRecord() throws(FeatureError) -> Bool {
        if simpleRecord() { return true }
        while true {
            cells.removeAll(keepingCapacity: true)
            cellBytes.removeAll(keepingCapacity: true)
            var cellStart = 0
            var state = State.startField
            var sawAnything = false
            while true {
                if start == end {
                    try refill()
                    if start == end {  // end of file
                        if sawAnything {
                            cells.append(cellStart..<cellBytes.count)
                            return true
                        }
                        return false
                    }
                }
                let b = buffer[start]
                start += 1
                sawAnything = true
                if b == 0x0A { line += 1 }
                switch state {
                case .startField, .inField:
                    if b == 0x22 && state == .startField {
                        state = .inQuoted
                    } else if b == 0x2C {
                        cells.append(cellStart..<cellBytes.count)
                        cellStart = cellBytes.count
                        state = .startField
                    } else if b == 0x0A || b == 0x0D {
                        if b == 0x0D { try skipLineFeed() }
                        if cells.isEmpty && cellBytes.isEmpty && state == .startField { break }  // blank line
                        cells.append(cellStart..<cellBytes.count)
                        return true
                    } else {
                        cellBytes.append(b)
                        state = .inField
                    }
                case .inQuoted:
                    if b == 0x22 { state = .quoteInQuoted } else { cellBytes.append(b) }
                case .quoteInQuoted:
                    if b == 0x22 {
                        cellBytes.append(b)
                        state = .inQuoted
                    } else if b == 0x2C {
                        cells.append(cellStart..<cellBytes.count)
                        cellStart = cellBytes.count
                        state = .startField
                    } else if b == 0x0A || b == 0x0D {
                        if b == 0x0D { try skipLineFeed() }
                        cells.append(cellStart..<cellBytes.count)
                        return true
                    } else {
                        cellBytes.append(b)  // lenient, like Python: text after a closing quote is kept
                        state = .inField
                    }
                }
                if state == .startField, sawAnything, cells.isEmpty, cellBytes.isEmpty, b == 0x0A || b == 0x0D {
                    sawAnything = false  // a blank line: keep looking for a record
                }
            }
        }
    }

    private enum State { case startField, inField, inQuoted, quoteInQuoted }

    /// The common record in one pass: a whole, non-blank line in the buffer without quotes or a
    /// lone `\r`. Its bytes are copied at once and split at the commas (the byte-by-byte state
    /// machine of ``nextRecord()`` gives the same cells, several times slower); anything else is
    /// left to it. Returns whether it took a record.
    private func simpleRecord() -> Bool {
        guard start < end else { return false }
        return buffer.withUnsafeBufferPointer { b -> Bool in
            let base = UnsafeRawPointer(b.baseAddress!)
            guard let newline = memchr(base + start, 0x0A, end - start) else { return false }
            let lineEnd = base.distance(to: UnsafeRawPointer(newline))
            var contentEnd = lineEnd
            if contentEnd > start, b[contentEnd - 1] == 0x0D { contentEnd -= 1 }
            let count = contentEnd - start
            guard count > 0, memchr(base + start, 0x22, count) == nil, memchr(base + start, 0x0D, count) == nil else { return false }
            cells.removeAll(keepingCapacity: true)
            cellBytes.removeAll(keepingCapacity: true)
            cellBytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[start..<contentEnd]))
            cellBytes.withUnsafeBufferPointer { line in
                let first = UnsafeRawPointer(line.baseAddress!)
                var cellStart = 0
                while let comma = memchr(first + cellStart, 0x2C, count - cellStart) {
                    let position = first.distance(to: UnsafeRawPointer(comma))
                    cells.append(cellStart..<position)
                    cellStart = position + 1
                }
                cells.append(cellStart..<count)
            }
            start = lineEnd + 1
            line += 1
            return true
        }
    }

    private func skipLineFeed() throws(FeatureError) {
        if start == end { try refill() }
        if start < end, buffer[start] == 0x0A {
            start += 1
            line += 1
        }
    }

    private func refill() throws(FeatureError) {
        guard !endOfFile else { return }
        start = 0
        switch readGzipChunk(file, into: &buffer) {
        case .failure(let failure):
            throw .io("cannot read test data '\(path)' near line \(line): \(failure.message)")
        case .success(let count):
            endOfFile = count == 0
            end = count
        }
    }

    // MARK: - Cell rules

    static func isJSONNumber(_ cell: ArraySlice<UInt8>) -> Bool {
        cell.withUnsafeBufferPointer { b in
            guard let base = b.baseAddress, !b.isEmpty else { return false }
            var cursor = JSONCursor(p: base, n: b.count, i: 0, stack: UnsafeMutablePointer(bitPattern: 8)!, maxDepth: 0)
            guard base[0] == 0x2D || base[0] &- 0x30 < 10 else { return false }
            do { _ = try cursor.scanNumber() } catch { return false }
            return cursor.i == b.count
        }
    }

    static func nonNegativeInteger(_ cell: ArraySlice<UInt8>) -> Int? {
        guard !cell.isEmpty, cell.count <= 18, cell.allSatisfy({ $0 &- 0x30 < 10 }) else { return nil }
        return cell.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
