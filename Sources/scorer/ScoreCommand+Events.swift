#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Features
import Forest
import Foundation
import ModelBundles

extension ScoreCommand {
    /// Scores raw impression events into prediction JSON lines, through the same featurizer,
    /// evaluator and ``PredictionEncoder`` as the service, so each line is what the service would
    /// publish for that event (except `scored_at`, the wall clock).
    ///
    /// Input: JSON lines (plain or gzip; `-` = stdin), or the simulator's `.csv`/`.csv.gz` test
    /// data. `event_ts` is the event's own `timestamp` field in ms (the service writes the Kafka
    /// message timestamp there; the simulator stamps messages with that same time). An event that
    /// cannot be featurized is reported on stderr with its line and reason (the service would
    /// dead-letter it) and scoring continues; the exit status is then 1. Events are read on this
    /// thread and scored in chunks on `--threads` workers (``ParallelEventScorer``); lines come
    /// out in input order.
    func scoreEvents(path: String) throws {
        let bundle: ModelBundle
        do {
            bundle = try ModelBundle.load(path: model)
        } catch {
            throw CommandFailure("--model: \(error.description)")
        }
        let source: EventSource
        do {
            source = try EventSource(path: path)
        } catch {
            throw ValidationError("--events: \(error.description)")
        }
        if benchmarkParse {
            try FeaturizerBenchmark(bundle: bundle, source: source).run()
            return
        }
        let sink = try EventOutput(path: output)
        let scorer = ParallelEventScorer(bundle: bundle, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let (scored, rejected) = try scorer.run(source: source, path: path) { lines, messages in
            if !messages.isEmpty { FileHandle.standardError.write(Data(messages.utf8)) }
            try sink.write(lines)
        }
        try sink.close()
        if rejected > 0 {
            FileHandle.standardError.write(Data("scored \(scored) events; \(rejected) rejected (reasons above)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Events from JSON lines or from the simulator's CSV test data, with the line of each.
final class EventSource {
    private let lines: EventLineReader?
    private let csv: TestDataReader?

    init(path: String) throws(FeatureError) {
        if path.hasSuffix(".csv") || path.hasSuffix(".csv.gz") {
            csv = try TestDataReader(path: path)
            lines = nil
        } else {
            lines = try EventLineReader(path: path)
            csv = nil
        }
    }

    /// The next event into `event`, returning its line number, or nil at the end.
    func next(into event: inout [UInt8]) throws(FeatureError) -> Int? {
        if let csv { return try csv.next(into: &event)?.line }
        guard let lines, try lines.next(into: &event) else { return nil }
        return lines.line
    }
}

/// Standard output or a file, written in large chunks.
private final class EventOutput {
    private let handle: FileHandle
    private let isFile: Bool

    init(path: String?) throws {
        guard let path, path != "-" else {
            handle = FileHandle.standardOutput
            isFile = false
            return
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("--output: cannot create \(path)")
        }
        self.handle = handle
        isFile = true
    }

    func write(_ bytes: some DataProtocol) throws {
        try handle.write(contentsOf: bytes)
    }

    func close() throws {
        if isFile { try handle.close() }
    }
}

// MARK: - Parse-speed benchmark

/// `scorer score --events FILE --benchmark-parse` (hidden): events per second of the featurizer
/// per core against Foundation decoding the same events, interleaved in one run, medians of 7 rounds.
///
/// The featurizer does the full job (validate, extract, compute every feature into a row); the
/// baselines only parse: `JSONSerialization` into a dictionary plus reading the fields the spec uses,
/// and `JSONDecoder` into a `Codable` struct of the DESIGN.md schema. Single thread.
struct FeaturizerBenchmark {
    let bundle: ModelBundle
    let source: EventSource

    func run() throws {
        var events: [[UInt8]] = []
        var event: [UInt8] = []
        while events.count < 20_000, try source.next(into: &event) != nil { events.append(event) }
        guard !events.isEmpty else { throw ValidationError("--events: no events to benchmark") }
        let datas = events.map { Data($0) }
        let meanBytes = events.reduce(0) { $0 + $1.count } / events.count
        let featurizer = bundle.makeFeaturizer()
        let fields = [bundle.spec.idField] + bundle.spec.fields.map(\.name)
        var row = [Float](repeating: 0, count: featurizer.featureCount)
        var sink = 0

        func ours() -> Double {
            timed {
                row.withUnsafeMutableBufferPointer { out in
                    for e in events {
                        e.withUnsafeBytes { raw in
                            if (try? featurizer.featurize(raw, into: out.baseAddress!)) != nil { sink &+= 1 }
                        }
                    }
                }
            }
        }
        func serialization() -> Double {
            timed {
                for d in datas {
                    guard let object = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else { continue }
                    for f in fields where object[f] is String || object[f] is NSNumber { sink &+= 1 }
                }
            }
        }
        func decoder() -> Double {
            let decoder = JSONDecoder()
            return timed {
                for d in datas where (try? decoder.decode(ImpressionEvent.self, from: d)) != nil { sink &+= 1 }
            }
        }
        // Thread CPU time, not wall time: the figure is events per second of one core, which stays
        // meaningful on a shared, loaded machine (wall time would also count time spent descheduled).
        func timed(_ body: () -> Void) -> Double {
            let start = threadCPUSeconds()
            body()
            return Double(events.count) / (threadCPUSeconds() - start)
        }

        _ = (ours(), serialization(), decoder())  // warm-up
        var a: [Double] = [], b: [Double] = [], c: [Double] = []
        for _ in 0..<7 {
            a.append(ours())
            b.append(serialization())
            c.append(decoder())
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let (ma, mb, mc) = (median(a), median(b), median(c))
        print("events: \(events.count), mean size \(meanBytes) bytes, \(featurizer.featureCount) features, 1 thread, thread CPU time, 7 interleaved rounds (medians)")
        print(String(format: "featurizer (validate + all features): %10.0f events/s per core  (%.0f MB/s)", ma, ma * Double(meanBytes) / 1e6))
        print(String(format: "JSONSerialization (parse + fields):    %10.0f events/s  -> featurizer is %.1fx", mb, ma / mb))
        print(String(format: "JSONDecoder (Codable struct):          %10.0f events/s  -> featurizer is %.1fx", mc, ma / mc))
        if sink == 0 { print("(no event was valid)") }
    }
}

private func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// The DESIGN.md impression schema, for the `JSONDecoder` baseline.
private struct ImpressionEvent: Decodable {
    var id: String
    var timestamp: String?
    var campaignId: String?
    var platform: String?
    var softwareVersion: String?
    var sourceGameId: Int?
    var country: String?
    var startCount: Int?
    var viewCount: Int?
    var clickCount: Int?
    var installCount: Int?
    var lastStart: String?
    var startCount1d: Int?
    var startCount7d: Int?
    var connectionType: String?
    var deviceType: String?
}
