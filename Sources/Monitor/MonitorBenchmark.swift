import Foundation

/// Measures the monitor's join and metrics on one thread, without Kafka: predictions as the scorer
/// writes them (two models, a 20 % canary) and an outcome for each, 10,000 messages later.
public enum MonitorBenchmark {
    /// One round's result.
    public struct Round: Sendable {
        public var predictions: Int
        public var seconds: Double
        public var predictionsPerSecond: Double { Double(predictions) / seconds }
    }

    /// Runs `rounds` rounds over `count` predictions (and as many outcomes) spread over 12 partitions,
    /// publishing a snapshot every 50,000 predictions as the service does every second at that rate.
    public static func run(count: Int, rounds: Int) -> [Round] {
        var predictions: [(key: [UInt8], value: [UInt8])] = []
        var outcomes: [(key: [UInt8], value: [UInt8])] = []
        let start: Int64 = 1_700_000_000_000
        var state: UInt64 = 16
        func random() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        for index in 0..<count {
            let id = String(format: "%024x", index &* 2_654_435_761)
            let canary = index % 5 == 0
            let p = Float(exp(-6 + 5 * random()))
            let installed = random() < Double(p)
            let model = canary ? #""model":"install-biased@e3317948","variant":"canary""# : #""model":"install-v1@9276a478","variant":"primary""#
            let ts = start + Int64(index / 50)
            predictions.append((Array(id.utf8), Array(#"{"id":"\#(id)","p":\#(p),\#(model),"scored_at":\#(ts),"event_ts":\#(ts)}"#.utf8)))
            outcomes.append((Array(id.utf8), Array(#"{"id":"\#(id)","installed":\#(installed),"ts":\#(ts + 2000)}"#.utf8)))
        }
        return (0..<rounds).map { _ in
            let monitor = OutcomeMonitor(settings: MonitorSettings(joinWindowMs: 3_600_000))
            let began = DispatchTime.now().uptimeNanoseconds
            for index in 0..<(count + 10_000) {
                if index < count {
                    let message = predictions[index]
                    message.key.withUnsafeBytes { key in
                        message.value.withUnsafeBytes { value in
                            monitor.prediction(partition: index % 12, key: key, value: value, timestampMs: start + Int64(index / 50))
                        }
                    }
                }
                let late = index - 10_000
                if late >= 0 {
                    let message = outcomes[late]
                    message.key.withUnsafeBytes { key in
                        message.value.withUnsafeBytes { value in
                            monitor.outcome(partition: late % 12, key: key, value: value, timestampMs: start + Int64(late / 50) + 2000)
                        }
                    }
                }
                if index % 50_000 == 49_999 { _ = monitor.snapshot(nowMs: start + Int64(index / 50)) }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            precondition(monitor.counters.joined == count, "the benchmark's joins went wrong")
            return Round(predictions: count, seconds: seconds)
        }
    }
}
