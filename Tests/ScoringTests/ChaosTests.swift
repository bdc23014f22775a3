import Foundation
import Kafka
import TestBrokers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A bounded chaos run: three `scorer run` members share six partitions under a steady load
/// while members are killed with -9 (and stopped with SIGTERM) and restarted at once.
///
/// Asserts that nothing is missing, and that the group keeps scoring through every kill: with
/// cooperative-sticky the surviving members' partitions keep producing while the killed member
/// restarts. `benchmarks/group_chaos.sh` runs it longer (the same test, sized by `SCORER_CHAOS_*`
/// variables) and prints the figures of BENCHMARKS.md.
extension ScorerProcessTests {
    struct ChaosPlan {
        var partitions = 6
        var kills = 8
        var terms = 2
        /// Events per second, in chunks every 100 ms.
        var rate = 400
        var intervalSeconds = 6.0
        /// The mock's coordinator waits session timeout - 1 s in JoinGroup whenever a member is
        /// missing, and a killed member is only dropped after the session timeout: with 4 s, one
        /// kill takes ~11 s to settle, longer than the 6 s between kills, and the rebalances of
        /// successive kills overlapped (up to 35 s without partitions); with 3 s it settles in ~5 s.
        var sessionTimeout = 3
        /// `--assignor`; the flow assertions apply to cooperative-sticky only (the benchmark runs
        /// the eager ones for comparison).
        var assignor = "cooperative-sticky"

        static var fromEnvironment: ChaosPlan {
            var plan = ChaosPlan()
            let environment = ProcessInfo.processInfo.environment
            func read(_ name: String) -> Double? { environment["SCORER_CHAOS_\(name)"].flatMap(Double.init) }
            if let value = read("PARTITIONS") { plan.partitions = Int(value) }
            if let value = read("KILLS") { plan.kills = Int(value) }
            if let value = read("TERMS") { plan.terms = Int(value) }
            if let value = read("RATE") { plan.rate = Int(value) }
            if let value = read("INTERVAL") { plan.intervalSeconds = value }
            if let value = read("SESSION_TIMEOUT") { plan.sessionTimeout = Int(value) }
            if let value = environment["SCORER_CHAOS_ASSIGNOR"], !value.isEmpty { plan.assignor = value }
            return plan
        }
    }

    /// The partitions of a member's first assignment, as its log lists them ("" if none yet).
    static func firstAssignment(_ member: ScorerProcess) -> String {
        guard let line = member.log.split(separator: "\n").first(where: { $0.hasSuffix("partitions assigned") }),
              let start = line.range(of: "partitions=["), let end = line.range(of: " [Scoring]", range: start.upperBound..<line.endIndex)
        else { return "" }
        return String(line[start.upperBound..<end.lowerBound])
    }

    /// Prediction times (`scored_at`, ms) per input partition, sorted.
    static func predictionTimes(_ outputs: [Output]) -> [Int: [Int64]] {
        var times: [Int: [Int64]] = [:]
        for output in outputs where output.isPrediction {
            guard let partition = output.headers["source.partition"].flatMap(Int.init) else { continue }
            times[partition, default: []].append(output.timestampMs)
        }
        return times.mapValues { $0.sorted() }
    }

    /// Offset ranges of input partitions that have no prediction (what a failure report needs to
    /// tell a skipped run of events from a tail not scored yet).
    static func missingRanges(_ outputs: [Output], partitions: Int, total: Int) -> [Int: [ClosedRange<Int64>]] {
        var seen: [Int: Set<Int64>] = [:]
        var end: [Int: Int64] = [:]
        for output in outputs where output.isPrediction {
            guard let partition = output.headers["source.partition"].flatMap(Int.init),
                  let offset = output.headers["source.offset"].flatMap(Int64.init) else { continue }
            seen[partition, default: []].insert(offset)
            end[partition] = max(end[partition] ?? 0, offset + 1)
        }
        var ranges: [Int: [ClosedRange<Int64>]] = [:]
        for partition in 0..<partitions {
            let offsets = seen[partition] ?? []
            var start: Int64?
            for offset in 0..<(end[partition] ?? 0) {
                if offsets.contains(offset) {
                    if let first = start { ranges[partition, default: []].append(first...(offset - 1)) }
                    start = nil
                } else if start == nil {
                    start = offset
                }
            }
        }
        return ranges
    }

    /// The longest time without a prediction of `stamps` within `window` (edges included).
    static func longestGap(_ stamps: [Int64], within window: ClosedRange<Int64>) -> Int64 {
        var gap: Int64 = 0
        var previous = window.lowerBound
        for stamp in stamps where window.contains(stamp) {
            gap = max(gap, stamp - previous)
            previous = stamp
        }
        return max(gap, window.upperBound - previous)
    }

    // In the suite (~70 s). It was opt-in for a while: a CI run lost 5,483 of 25,600 events with
    // cooperative-sticky, because librdkafka 2.0.2's batch consume skipped messages of partitions
    // a member kept through an incremental rebalance (KafkaConsumer.poll, ProducerConsumerTests).
    @Test(
        .disabled(if: TestBroker.selected == .tansu, "kills members that may lead the group: Tansu's coordinator livelocks when the leader leaves (BENCHMARKS.md, crash_loop.sh)"))
    func chaosKillsAndRestartsLoseNothingAndSurvivorsKeepScoring() async throws {
        try await runChaos(ChaosPlan.fromEnvironment, exactlyOnce: false)
    }

    /// The same chaos with `--guarantee exactly-once`: read `read_committed`, every input has
    /// exactly one prediction. Each member slot keeps its `--instance-id` (so its transactional
    /// id) across restarts: a restart aborts what the killed process left open. On noida-db, the
    /// one broker here whose transactions hide aborted records (CI's third tier, ~75 s).
    @Test(.enabled(if: TestBroker.selected.rawValue == "noida", ScorerProcessTests.needsTransactions))
    func exactlyOnceChaosKillsAndRestartsAnswerEveryEventOnce() async throws {
        var plan = ChaosPlan.fromEnvironment
        // noida-db refuses session timeouts below 6 s (INVALID_SESSION_TIMEOUT, as Kafka's default
        // group.min.session.timeout.ms does).
        plan.sessionTimeout = max(plan.sessionTimeout, 6)
        // noida-db never evicts a member killed without leaving, and loses a joining member's
        // JoinGroup answer under cooperative-sticky (TestBroker): static members (each slot keeps
        // its --instance-id, which also names its transactional id) with range replace themselves
        // on restart instead.
        plan.assignor = "range"
        try await runChaos(plan, exactlyOnce: true)
    }

    func runChaos(_ plan: ChaosPlan, exactlyOnce: Bool) async throws {
        let rounds = plan.kills + plan.terms
        func extra(_ slot: Int) -> [String] {
            ["--assignor", plan.assignor] + (exactlyOnce ? ["--guarantee", "exactly-once", "--instance-id", "chaos-\(slot)"] : [])
        }
        // Predictions are ~300 bytes: with as many output partitions as input ones, the mock's
        // ~5 MB per partition holds every output until it is read back.
        let cluster = try TestCluster(inputPartitions: plan.partitions, outputPartitions: plan.partitions)
        var members: [ScorerProcess] = try (0..<3).map { try startScorer(cluster, name: "chaos-\($0)", sessionTimeout: plan.sessionTimeout, extra: extra($0)) }
        for member in members { #expect(await member.waitForLog("partitions assigned", timeout: .seconds(40)), "\(member.log)") }

        let streamSeconds = Double(rounds) * plan.intervalSeconds + 4
        let events = TestEvents.valid(Int(Double(plan.rate) * streamSeconds), prefix: "chaos")
        let chunk = max(1, plan.rate / 10)
        async let produced: Void = cluster.produceSteadily(events, chunk: chunk, pause: .milliseconds(100))
        try await Task.sleep(for: .seconds(2))

        // Static members (exactly-once: every slot keeps its --instance-id): what each slot held first.
        let slotPartitions = members.map(Self.firstAssignment)
        var restarts: [(slot: Int, member: ScorerProcess)] = []

        // Every (kills + terms) / terms-th round is a SIGTERM, the others kill -9; victims in turn.
        var stops: [(atMs: Int64, victim: Int, killed: Bool)] = []
        for round in 0..<rounds {
            let victim = round % members.count
            let killed = plan.terms == 0 || (round + 1) % (rounds / max(plan.terms, 1)) != 0
            let atMs = Self.nowMs()
            members[victim].send(killed ? SIGKILL : SIGTERM)
            let status = await members[victim].waitForExit(timeout: .seconds(30))
            if !killed { #expect(status == 0, "SIGTERM exits 0\n\(members[victim].log)") }
            stops.append((atMs, victim, killed))
            members[victim] = try startScorer(
                cluster, name: "chaos-\(victim)-\(round)", sessionTimeout: plan.sessionTimeout, extra: extra(victim))
            restarts.append((victim, members[victim]))
            let elapsed = Double(Self.nowMs() - atMs) / 1000
            try await Task.sleep(for: .milliseconds(Int(max(0, plan.intervalSeconds - elapsed) * 1000)))
        }
        try await produced

        if exactlyOnce {
            // Read once the group has committed every input (the outputs commit with them): on
            // noida-db a read_committed reader that is reading while the last transactions
            // commit can stop short of them for good, while a reader started afterwards reads
            // every output (BENCHMARKS.md, "Exactly-once").
            let producedAt = Self.nowMs()
            #expect(try await waitUntilCommitted(cluster, group: "scorer", events: events.count, timeout: .seconds(90)),
                    "the group did not commit every input within 90 s")
            print("chaos: exactly-once: every input committed within \(Self.nowMs() - producedAt) ms of the last event produced (checked every 500 ms)")
        }
        // Until every input is answered (inputs scored twice must not end the reading early).
        let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(90), settle: .seconds(2), distinct: true)
        let (missing, duplicates) = checkComplete(outputs, expected: events.count)
        let times = Self.predictionTimes(outputs)

        // Per stop: how many partitions kept producing (no gap of 2 s or more) until the next
        // stop, the longest gap among the best half, and when the victim's partitions resumed
        // (partitions that went quiet for >= 1 s right at the stop, and their first prediction after).
        var flowing: [Int] = []
        var survivorGaps: [Int64] = []
        var resumes: [Int64] = []
        for (index, stop) in stops.enumerated() {
            let end = index + 1 < stops.count ? stops[index + 1].atMs : stop.atMs + Int64(plan.intervalSeconds * 1000)
            let gaps = (0..<plan.partitions).map { Self.longestGap(times[$0] ?? [], within: stop.atMs...end) }.sorted()
            flowing.append(gaps.filter { $0 < 2_000 }.count)
            survivorGaps.append(gaps[plan.partitions / 2 - 1])
            guard stop.killed else { continue }
            var resume: Int64 = 0
            for stamps in times.values {
                guard let last = stamps.last(where: { $0 <= stop.atMs + 500 }), last >= stop.atMs - 500,
                      let next = stamps.first(where: { $0 > last }), next - last >= 1_000 else { continue }
                resume = max(resume, next - stop.atMs)
            }
            if resume > 0 { resumes.append(resume) }
        }
        // Seconds of the chaos in which the whole group produced no prediction at all.
        let chaosStart = stops.first!.atMs
        let chaosEnd = stops.last!.atMs + Int64(plan.intervalSeconds * 1000)
        var busySeconds = Set<Int64>()
        for stamps in times.values {
            for stamp in stamps where stamp >= chaosStart && stamp < chaosEnd { busySeconds.insert((stamp - chaosStart) / 1000) }
        }
        let chaosSeconds = (chaosEnd - chaosStart) / 1000
        let silentSeconds = chaosSeconds - Int64(busySeconds.filter { $0 < chaosSeconds }.count)
        func median(_ values: [Int64]) -> Int64 { values.isEmpty ? 0 : values.sorted()[values.count / 2] }
        print("chaos: \(exactlyOnce ? "exactly-once (read_committed)" : "at-least-once"), \(plan.partitions) partitions, \(plan.kills) kill -9 + \(plan.terms) SIGTERM every \(plan.intervalSeconds) s, session timeout \(plan.sessionTimeout) s, \(plan.assignor), \(plan.rate)/s; \(events.count) events, \(missing) missing, \(duplicates) scored twice")
        print("chaos: partitions producing without a 2 s gap per stop: \(flowing); longest gap of the better half of partitions per stop (ms): \(survivorGaps), median \(median(survivorGaps))")
        print("chaos: killed member's partitions resumed after (ms): \(resumes), median \(median(resumes)), max \(resumes.max() ?? 0)")
        print("chaos: seconds without any prediction: \(silentSeconds) of \(chaosSeconds)")

        #expect(missing == 0, "inputs without a prediction, per partition: \(Self.missingRanges(outputs, partitions: plan.partitions, total: events.count))")
        if exactlyOnce {
            #expect(duplicates == 0, "exactly-once: inputs with more than one committed prediction")
            let everything = try await cluster.readOutputs(atLeast: outputs.count, timeout: .seconds(30), settle: .seconds(1), readUncommitted: true)
            print("chaos: exactly-once: \(everything.count - outputs.count) outputs of aborted transactions, hidden from read_committed readers")
            if missing > 0 {
                // Where the missing answers are: written but hidden (in which output partition, at
                // which offset, next to which visible and hidden records), or never written.
                let seen = Set(outputs.filter(\.isPrediction).map(\.source))
                let visible = Set(outputs.map { "\($0.partition)@\($0.offset)" })
                let written = Set(everything.map { "\($0.partition)@\($0.offset)" })
                for output in everything where output.isPrediction && !seen.contains(output.source) {
                    // Around it in its output partition: v visible, h hidden, . no record (markers).
                    let around = (output.offset - 6...output.offset + 6).map { offset -> String in
                        let key = "\(output.partition)@\(offset)"
                        return visible.contains(key) ? "v" : written.contains(key) ? "h" : "."
                    }.joined()
                    print("chaos: hidden from read_committed: \(output.source) -> \(output.topic)[\(output.partition)]@\(output.offset) around \(around)")
                }
            }
        }
        // The group never stops as a whole: with cooperative-sticky the survivors' partitions
        // keep producing through most stops (eager rebalancing stops them all, 9 stops of 10 in
        // the range runs). Not asserted for every stop: librdkafka 2.0.2 drops a member's whole
        // assignment when a commit sent just after its rejoin meets the new generation
        // (ILLEGAL_GENERATION, rdkafka_cgrp.c; commits are held during the rebalances a member can
        // see, a rejoin started by a heartbeat can still race one), and a kill landing while the
        // mock's coordinator is still settling the previous one stalls the whole group.
        if plan.assignor == "cooperative-sticky" {
            #expect(flowing.filter { $0 >= 2 }.count * 10 >= flowing.count * 3, "stops through which at least 2 partitions kept producing: \(flowing)")
        }
        if exactlyOnce {
            // Static membership: a member restarted within the session timeout takes its own
            // partitions back without a rebalance, so the survivors' partitions never stop.
            let keptTheirs = restarts.filter { Self.firstAssignment($0.member) == slotPartitions[$0.slot] }.count
            print("chaos: static membership: \(keptTheirs) of \(restarts.count) restarts took their slot's partitions back")
            #expect(keptTheirs == restarts.count, "restarts that got other partitions than their slot's \(slotPartitions)")
            let survivorPartitions = plan.partitions - plan.partitions / members.count
            #expect(flowing.allSatisfy { $0 >= survivorPartitions }, "partitions producing without a 2 s gap per stop: \(flowing)")
        }
        for member in members { member.send(SIGTERM) }
        for member in members { #expect(await member.waitForExit(timeout: .seconds(30)) == 0, "\(member.log)") }
    }
}
