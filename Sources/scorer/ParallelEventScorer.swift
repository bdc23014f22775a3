import Features
import Forest
import Foundation
import ModelBundles

/// `scorer score --events` on several threads: the calling thread reads (and decompresses) events
/// into chunks and writes finished chunks in input order; `threads` workers featurize, score and
/// encode a chunk each.
///
/// Memory stays constant: at most two chunks per worker exist, reused in a ring (a slot is read
/// into again only after its previous output was written). The output does not depend on the
/// thread count, except `scored_at` (each chunk takes the clock once).
final class ParallelEventScorer {
    /// Events per chunk: large enough that hand-overs cost nothing, small enough to stay in cache.
    static let chunkSize = 2048

    private let bundle: ModelBundle
    private let encoder: PredictionEncoder
    private let threads: Int
    private let queue = ChunkQueue()

    init(bundle: ModelBundle, threads: Int) {
        self.bundle = bundle
        encoder = PredictionEncoder(model: bundle.identity.description)
        self.threads = threads
    }

    /// Scores every event of `source`, handing each chunk's output (prediction lines) and the
    /// featurizer's complaints (one line each) to `write` in input order. Returns the numbers of
    /// events scored and rejected.
    func run(source: EventSource, path: String, write: (ArraySlice<UInt8>, String) throws -> Void) throws -> (scored: Int, rejected: Int) {
        let workers = (0..<threads).map { index in
            ChunkWorker(bundle: bundle, encoder: encoder, queue: queue, path: path, name: "score-\(index)")
        }
        defer {
            queue.close()
            for worker in workers { worker.join() }
        }
        let ring = (0..<2 * threads).map { _ in EventChunk() }
        var next = 0  // sequence number of the next chunk to read
        var written = 0  // sequence number of the next chunk to write
        var scored = 0, rejected = 0
        var event: [UInt8] = []
        func writeOldest() throws {
            let chunk = ring[written % ring.count]
            queue.waitUntilDone(chunk)
            try write(chunk.output[0..<chunk.outputCount], chunk.messages)
            scored += chunk.scored
            rejected += chunk.rejected
            written += 1
        }
        var finished = false
        while !finished {
            if next - written == ring.count { try writeOldest() }
            let chunk = ring[next % ring.count]
            chunk.reset()
            while chunk.count < Self.chunkSize {
                guard let line = try source.next(into: &event) else {
                    finished = true
                    break
                }
                chunk.append(event, line: line)
            }
            guard chunk.count > 0 else { break }
            queue.submit(chunk)
            next += 1
        }
        while written < next { try writeOldest() }
        return (scored, rejected)
    }
}

/// Events read for one worker, and what the worker made of them.
///
/// `@unchecked Sendable`: one thread at a time uses a chunk; ``ChunkQueue`` hands it from the reader
/// to a worker and back under its lock, which orders the writes of one before the reads of the other.
final class EventChunk: @unchecked Sendable {
    /// The events, back to back, and where each starts.
    var bytes: [UInt8] = []
    var starts: [Int] = []
    var lines: [Int] = []
    /// Prediction lines (filled by the worker): the first `outputCount` bytes of `output`.
    var output: [UInt8] = []
    var outputCount = 0
    /// One line per rejected event: `path:line: reason`.
    var messages = ""
    var scored = 0
    var rejected = 0
    /// Set by the worker when `output` is complete (read and written under the queue's lock).
    var done = false

    var count: Int { starts.count }

    func reset() {
        bytes.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        outputCount = 0
        messages = ""
        scored = 0
        rejected = 0
    }

    func append(_ event: [UInt8], line: Int) {
        starts.append(bytes.count)
        bytes.append(contentsOf: event)
        lines.append(line)
    }
}

/// Chunks waiting for a worker, and the completion of each.
final class ChunkQueue: @unchecked Sendable {
    // `@unchecked Sendable`: `pending` and `closed` (and the chunks' `done`) are only touched with
    // `condition` locked.
    private let condition = NSCondition()
    private var pending: [EventChunk] = []
    private var closed = false

    func submit(_ chunk: EventChunk) {
        condition.withLock {
            chunk.done = false
            pending.append(chunk)
            condition.broadcast()
        }
    }

    /// The next chunk to score, or nil once the queue is closed and empty.
    func take() -> EventChunk? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !closed { condition.wait() }
        return pending.isEmpty ? nil : pending.removeFirst()
    }

    func finish(_ chunk: EventChunk) {
        condition.withLock {
            chunk.done = true
            condition.broadcast()
        }
    }

    func waitUntilDone(_ chunk: EventChunk) {
        condition.lock()
        defer { condition.unlock() }
        while !chunk.done { condition.wait() }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}

/// One scoring thread with its own featurizer and buffers.
final class ChunkWorker: @unchecked Sendable {
    // `@unchecked Sendable`: after `init` hands it to its thread, only that thread touches the
    // scratch state; `join` only waits on the semaphore.
    private let bundle: ModelBundle
    private let encoder: PredictionEncoder
    private let queue: ChunkQueue
    private let path: String
    private let featurizer: Featurizer
    private var batch: FeatureBatch
    private var probabilities: [Float]
    private let finished = DispatchSemaphore(value: 0)

    init(bundle: ModelBundle, encoder: PredictionEncoder, queue: ChunkQueue, path: String, name: String) {
        self.bundle = bundle
        self.encoder = encoder
        self.queue = queue
        self.path = path
        featurizer = bundle.makeFeaturizer()
        batch = FeatureBatch(featureCount: featurizer.featureCount, capacity: ParallelEventScorer.chunkSize)
        probabilities = [Float](repeating: 0, count: ParallelEventScorer.chunkSize)
        let thread = Thread { [self] in
            while let chunk = queue.take() {
                score(chunk)
                queue.finish(chunk)
            }
            finished.signal()
        }
        thread.name = name
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// Waits for the thread to end (after the queue is closed).
    func join() { finished.wait() }

    private func score(_ chunk: EventChunk) {
        batch.removeAll()
        var kept: [Int] = []  // the event index of each row
        kept.reserveCapacity(chunk.count)
        chunk.bytes.withUnsafeBytes { all in
            for index in 0..<chunk.count {
                let end = index + 1 < chunk.count ? chunk.starts[index + 1] : chunk.bytes.count
                let event = UnsafeRawBufferPointer(rebasing: all[chunk.starts[index]..<end])
                switch batch.append(event, using: featurizer) {
                case .success:
                    kept.append(index)
                case .failure(let error):
                    chunk.rejected += 1
                    chunk.messages += "\(path):\(chunk.lines[index]): \(error.description)\n"
                }
            }
        }
        let count = batch.count
        guard count > 0 else { return }
        batch.rows.withUnsafeBufferPointer { rows in
            probabilities.withUnsafeMutableBufferPointer { p in
                // Buffers sized for a whole chunk: the evaluator's size check cannot fail.
                try! bundle.model.predict(rows: rows, count: count, into: UnsafeMutableBufferPointer(rebasing: p[0..<count]))
            }
        }
        let scoredAt = Int64(Date().timeIntervalSince1970 * 1000)
        var bound = 0
        for info in batch.events { bound += encoder.maxCount(idLength: info.idEnd - info.idStart) + 1 }
        if chunk.output.count < bound { chunk.output = [UInt8](repeating: 0, count: bound + bound / 2) }
        var written = 0
        chunk.bytes.withUnsafeBytes { all in
            chunk.output.withUnsafeMutableBufferPointer { out in
                for row in 0..<count {
                    let index = kept[row]
                    let end = index + 1 < chunk.count ? chunk.starts[index + 1] : chunk.bytes.count
                    let info = batch.events[row]
                    written += encoder.write(
                        event: UnsafeRawBufferPointer(rebasing: all[chunk.starts[index]..<end]), info: info, p: probabilities[row],
                        scoredAt: scoredAt, eventTimestamp: info.timestampMillis, to: out.baseAddress! + written)
                    out[written] = 0x0A
                    written += 1
                }
            }
        }
        chunk.outputCount = written
        chunk.scored = count
    }
}
