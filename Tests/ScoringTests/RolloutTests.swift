import Foundation
import Kafka
import ModelBundles
import TestBrokers
import Testing
@testable import Scoring

#if canImport(Glibc)
import Glibc
#endif

/// Model roll-outs against the development cluster over TCP: a shadow model scoring beside the
/// primary, a canary answering a sticky share of ids, bad bundles refused while the old models keep
/// serving, and identities that tell bundles apart.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RolloutTests {
    static let primaryPath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v1").path
    static let secondPath = ScorerProcess.packageRoot.appendingPathComponent("models/install-v2").path
    let suite = ScoringServiceTests()
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rollout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    // MARK: - Shadow

    /// Every event gets the primary's `p` and the shadow's `p_shadow`; the shadow's probabilities
    /// equal what `scorer score --events` prints with the shadow bundle, bit for bit.
    @Test func shadowScoresEveryEventExactlyAsOfflineScoringWithTheShadowBundle() async throws {
        let cluster = try TestCluster()
        let events = TestEvents.valid(2_000, prefix: "shadow")
        try await cluster.produce(events)
        let outputs = try await suite.withService(cluster, configure: { $0.shadowModelPath = Self.secondPath }) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            let variants = service.stats().variants
            #expect(variants.first { $0.variant == "shadow" }?.events == events.count, "\(variants)")
            #expect(variants.first { $0.variant == "primary" }?.events == events.count, "\(variants)")
            return outputs
        }
        #expect(outputs.count == events.count)
        #expect(outputs.allSatisfy { $0.isPrediction })
        let primary = try offlineP(bundle: Self.primaryPath, events: events)
        let shadow = try await scorerScoreP(bundle: Self.secondPath, events: events)
        let shadowLabel = OfflineScorer.label(Self.secondPath)
        let primaryLabel = OfflineScorer.label(Self.primaryPath)
        #expect(shadowLabel != primaryLabel)
        var differing = 0
        for output in outputs {
            let id = try #require(output.json["id"] as? String)
            #expect(output.json["model"] as? String == primaryLabel)
            #expect(output.json["shadow_model"] as? String == shadowLabel)
            #expect(output.json["variant"] == nil, "no canary, no variant field")
            #expect(output.printed("p") == primary[id], "p of \(id) is the primary's")
            #expect(output.printed("p_shadow") == shadow[id], "p_shadow of \(id) equals scorer score with the shadow bundle")
            if primary[id] != shadow[id] { differing += 1 }
        }
        // The two models really differ, so the comparison above could fail.
        #expect(differing > events.count / 2)
    }

    // MARK: - Canary and identity

    /// At 30 % the canary answers exactly the ids the published split picks, with its own `p` and
    /// identity; the canary here has the primary's name but other content, so the two `model`
    /// labels differ although the names are the same.
    @Test func canaryAnswersTheIdsTheSplitPicksAndSameNamedBundlesHaveDifferentLabels() async throws {
        let canary = try copy(Self.secondPath, as: "renamed-v2") { name, data in
            guard name == "card.json" else { return }
            var card = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            card["name"] = "install-v1"
            data = try JSONSerialization.data(withJSONObject: card)
        }
        let primaryLabel = OfflineScorer.label(Self.primaryPath)
        let canaryLabel = OfflineScorer.label(canary)
        #expect(primaryLabel.hasPrefix("install-v1@") && canaryLabel.hasPrefix("install-v1@"))
        #expect(primaryLabel != canaryLabel, "same name, different content: different identities")

        let cluster = try TestCluster()
        let events = TestEvents.valid(3_000, prefix: "canary")
        try await cluster.produce(events)
        let outputs = try await suite.withService(cluster, configure: {
            $0.canaryModelPath = canary
            $0.canaryPercent = 30
        }) { service in
            let outputs = try await cluster.readOutputs(atLeast: events.count, timeout: .seconds(60))
            let variants = service.stats().variants
            let canaryEvents = variants.first { $0.variant == "canary" }?.events ?? -1
            let primaryEvents = variants.first { $0.variant == "primary" }?.events ?? -1
            #expect(canaryEvents + primaryEvents == events.count, "\(variants)")
            return outputs
        }
        #expect(outputs.count == events.count)

        let split = CanarySplit(percent: 30)
        let primary = try offlineP(bundle: Self.primaryPath, events: events)
        let second = try offlineP(bundle: canary, events: events)
        var canaryCount = 0
        for output in outputs {
            let id = try #require(output.json["id"] as? String)
            let isCanary = split.isCanary(id: id)
            if isCanary { canaryCount += 1 }
            #expect(output.json["variant"] as? String == (isCanary ? "canary" : "primary"), "\(id)")
            #expect(output.json["model"] as? String == (isCanary ? canaryLabel : primaryLabel), "\(id)")
            #expect(output.printed("p") == (isCanary ? second[id] : primary[id]), "p of \(id) is its variant's model's")
            #expect(output.json["p_shadow"] == nil)
        }
        #expect(abs(Double(canaryCount) / Double(events.count) - 0.3) < 0.05, "\(canaryCount) of \(events.count)")
    }

    /// Two `scorer run` processes (two groups reading the same input) send every id to the same
    /// variant: the split depends on nothing but the id.
    @Test func theSameIdGetsTheSameVariantInTwoProcesses() async throws {
        let cluster = try TestCluster(inputPartitions: 2)
        let events = TestEvents.valid(2_000, prefix: "sticky")
        try await cluster.produce(events)
        var scorers: [ScorerProcess] = []
        for name in ["first", "second"] {
            scorers.append(try ScorerProcess(
                ["run", "--brokers", cluster.bootstrapServers] + cluster.commandLineOptions + [
                    "--group", "sticky-\(name)", "--model", Self.primaryPath, "--canary", Self.secondPath,
                    "--canary-percent", "25", "--metrics-port", "0", "--log-level", "info",
                ],
                name: name, directory: directory))
        }
        defer { for scorer in scorers { scorer.send(SIGKILL) } }
        let outputs = try await cluster.readOutputs(atLeast: 2 * events.count, timeout: .seconds(90))
        for scorer in scorers {
            scorer.send(SIGTERM)
            #expect(await scorer.waitForExit(timeout: .seconds(25)) == 0, "\(scorer.log)")
        }
        var variants: [String: [String]] = [:]
        for output in outputs where output.isPrediction {
            variants[output.json["id"] as? String ?? "?", default: []].append(output.json["variant"] as? String ?? "none")
        }
        #expect(variants.count == events.count)
        #expect(variants.values.allSatisfy { $0.count == 2 }, "each id answered once per process")
        let disagreeing = variants.filter { Set($0.value).count != 1 }
        #expect(disagreeing.isEmpty, "ids answered by different variants: \(disagreeing.prefix(5))")
        let canary = variants.values.filter { $0.first == "canary" }.count
        #expect(canary > 0 && canary < events.count, "both variants answer (\(canary) canary)")
    }

    // MARK: - Refusals

    /// Each bad bundle (non-finite values, a reference mismatch, outputs outside [0, 1]) is refused
    /// at reload, counted by role and reason in /metrics, and the old model keeps answering with
    /// its own probabilities; a bad canary leaves the primary and the old canary serving.
    @Test func badBundlesAreRefusedAtReloadAndTheOldModelsKeepServing() async throws {
        let primary = try copy(Self.primaryPath, as: "primary")
        let canary = try copy(Self.secondPath, as: "canary")
        let primaryLabel = OfflineScorer.label(primary)
        let canaryLabel = OfflineScorer.label(canary)
        let cluster = try TestCluster(inputPartitions: 1)
        try await suite.withService(cluster, modelPath: primary, watchInterval: .milliseconds(100), configure: {
            $0.canaryModelPath = canary
            $0.canaryPercent = 50
        }) { service in
            var expectedOutputs = 0
            var round = 0
            /// Produces a wave and checks every answer is the old models' (label and p).
            func checkStillServing() async throws {
                round += 1
                let wave = TestEvents.valid(200, prefix: "wave\(round)", seed: UInt64(round))
                try await cluster.produce(wave)
                expectedOutputs += wave.count
                let outputs = try await cluster.readOutputs(atLeast: expectedOutputs, timeout: .seconds(30))
                let mine = outputs.filter { ($0.key ?? "").hasPrefix("wave\(round)-") }
                #expect(mine.count == wave.count)
                let primaryP = try offlineP(bundle: Self.primaryPath, events: wave)
                let canaryP = try offlineP(bundle: Self.secondPath, events: wave)
                for output in mine {
                    let id = output.json["id"] as? String ?? "?"
                    let isCanary = output.json["variant"] as? String == "canary"
                    #expect(output.json["model"] as? String == (isCanary ? canaryLabel : primaryLabel))
                    #expect(output.printed("p") == (isCanary ? canaryP[id] : primaryP[id]), "round \(round), \(id)")
                }
            }
            try await checkStillServing()

            let cases: [(role: String, bundle: String, file: String, reason: String, edit: (inout String) -> Void)] = [
                ("primary", primary, "model.json", "non_finite", Self.firstThresholdInfinite),
                ("primary", primary, "reference.jsonl", "reference_mismatch", { text in
                    // One reference probability one ulp off.
                    let range = text.range(of: "\"p_bits\":")!
                    let end = text[range.upperBound...].firstIndex(where: { !$0.isNumber })!
                    let bits = UInt32(text[range.upperBound..<end])!
                    text.replaceSubrange(range.upperBound..<end, with: String(bits + 1))
                }),
                ("primary", primary, "model.json", "out_of_range", { text in
                    text = text.replacingOccurrences(of: "\"binary:logistic\"", with: "\"reg:squarederror\"")
                }),
                ("canary", canary, "model.json", "non_finite", Self.firstThresholdInfinite),
            ]
            var refused = 0
            for bad in cases {
                let file = URL(fileURLWithPath: bad.bundle).appendingPathComponent(bad.file)
                let original = try Data(contentsOf: file)
                var text = String(decoding: original, as: UTF8.self)
                bad.edit(&text)
                #expect(text.utf8.count != original.count || Data(text.utf8) != original, "the edit changed \(bad.file)")
                try Data(text.utf8).write(to: file)
                refused += 1
                #expect(await suite.eventually { service.stats().reloadsRejected == refused }, "\(bad.role) \(bad.reason) refused")
                let metrics = service.metrics.render()
                #expect(metrics.contains("scorer_model_refusals_total{reason=\"\(bad.reason)\",role=\"\(bad.role)\"}")
                    || metrics.contains("scorer_model_refusals_total{role=\"\(bad.role)\",reason=\"\(bad.reason)\"}"),
                    "refusal counted by role and reason: \(metrics.split(separator: "\n").filter { $0.contains("refusals") })")
                try await checkStillServing()
                // Put the good file back (the same content: it reloads as the same identity).
                try original.write(to: file)
                #expect(await suite.eventually { service.stats().reloadsAccepted >= refused })
            }
            #expect(service.stats().model == primaryLabel)
            try await checkStillServing()
        }
    }

    // MARK: - Start-up and offline refusals

    /// A bundle with infinite leaves or thresholds given at start-up, as the primary or as the
    /// shadow, stops `scorer run` with one error line naming the slot, the bundle and the bad value,
    /// before anything is consumed; `scorer score` refuses the same bundle with one line too.
    @Test func nonFiniteBundlesAreRefusedAtStartUpAndOffline() async throws {
        let infiniteLeaves = try copy(Self.primaryPath, as: "infinite-leaves") { file, data in
            guard file == "model.json" else { return }
            var text = String(decoding: data, as: UTF8.self)
            try Self.firstTreeLeavesInfinite(&text)
            data = Data(text.utf8)
        }
        let infiniteThreshold = try copy(Self.secondPath, as: "infinite-threshold") { file, data in
            guard file == "model.json" else { return }
            var text = String(decoding: data, as: UTF8.self)
            Self.firstThresholdInfinite(&text)
            data = Data(text.utf8)
        }
        let cluster = try TestCluster(inputPartitions: 1)
        let events = TestEvents.valid(50, prefix: "startup", seed: 7)
        try await cluster.produce(events)
        let cases: [(name: String, arguments: [String], expected: [String])] = [
            ("primary", ["--model", infiniteLeaves], ["model bundle '\(infiniteLeaves)' is invalid", "leaf value", "not finite"]),
            ("shadow", ["--model", Self.primaryPath, "--shadow", infiniteThreshold],
             ["shadow model bundle '\(infiniteThreshold)' is invalid", "not finite"]),
        ]
        for (name, arguments, expected) in cases {
            let scorer = try ScorerProcess(
                ["run", "--brokers", cluster.bootstrapServers] + cluster.commandLineOptions
                    + ["--no-metrics", "--startup-timeout", "10"] + arguments,
                name: "startup-non-finite-\(name)", directory: directory)
            #expect(await scorer.waitForExit(timeout: .seconds(30)) == 1, "\(name): exit status")
            let errorLines = scorer.log.split(separator: "\n").filter { $0.hasPrefix("error: ") }
            #expect(errorLines.count == 1, "\(name): one error line, got:\n\(scorer.log)")
            for fragment in expected {
                #expect(errorLines.first?.contains(fragment) == true, "\(name): '\(fragment)' in \(errorLines)")
            }
        }
        let outputs = try await cluster.readOutputs(atLeast: 0, timeout: .seconds(2))
        #expect(outputs.isEmpty, "a refused bundle published \(outputs.count) outputs")

        let input = directory.appendingPathComponent("startup-events.jsonl")
        try TestEvents.writeJSONLines(events, to: input)
        for bundle in [infiniteLeaves, infiniteThreshold] {
            let score = try ScorerProcess(["score", "--events", input.path, "--model", bundle], name: "score-non-finite", directory: directory)
            let status = await score.waitForExit(timeout: .seconds(30))
            #expect(status == 1, "scorer score's exit status with \(bundle)")
            // One line, the refusal: not a usage text (the command line itself was fine).
            let lines = score.log.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.hasPrefix("Error: --model: invalid model bundle") == true
                && lines.first?.contains("not finite") == true, "\(score.log)")
            #expect(!score.log.contains("\"p\""), "scorer score printed predictions with a refused bundle")
        }
    }

    // MARK: - Helpers

    /// Makes the first split threshold of the first tree +inf (`1e400` in the file).
    static func firstThresholdInfinite(_ text: inout String) {
        let start = text.range(of: "\"split_conditions\":[")!.upperBound
        let end = text[start...].firstIndex(where: { $0 == "," || $0 == "]" })!
        text.replaceSubrange(start..<end, with: "1e400")
    }

    /// Makes every leaf of the first tree +inf or -inf, alternately (`1e400` / `-1e400` in the
    /// file; XGBoost keeps a leaf's value in `split_conditions`).
    static func firstTreeLeavesInfinite(_ text: inout String) throws {
        let left = text.range(of: "\"left_children\":[")!
        let leftEnd = text[left.upperBound...].firstIndex(of: "]")!
        let children = text[left.upperBound..<leftEnd].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
        let start = text.range(of: "\"split_conditions\":[")!.upperBound
        let end = text[start...].firstIndex(of: "]")!
        var conditions = text[start..<end].split(separator: ",").map(String.init)
        try #require(conditions.count == children.count, "left_children and split_conditions of the first tree")
        var sign = ""
        for (node, child) in children.enumerated() where child == -1 {
            conditions[node] = sign + "1e400"
            sign = sign.isEmpty ? "-" : ""
        }
        text.replaceSubrange(start..<end, with: conditions.joined(separator: ","))
    }

    /// `p` of each event as the `scorer score --events` process prints it with `bundle`, by id.
    func scorerScoreP(bundle: String, events: [TestEvent]) async throws -> [String: String] {
        let input = directory.appendingPathComponent("events-\(UUID().uuidString).jsonl")
        let printed = directory.appendingPathComponent("predictions-\(UUID().uuidString).jsonl")
        try TestEvents.writeJSONLines(events, to: input)
        let score = try ScorerProcess(
            ["score", "--events", input.path, "--model", bundle, "--output", printed.path], name: "score", directory: directory)
        #expect(await score.waitForExit(timeout: .seconds(60)) == 0, "\(score.log)")
        var result: [String: String] = [:]
        for line in try String(contentsOf: printed, encoding: .utf8).split(separator: "\n") {
            let output = Output(topic: TestCluster.output, key: nil, value: Array(line.utf8), headers: [:])
            if let id = output.json["id"] as? String { result[id] = output.printed("p") }
        }
        #expect(result.count == events.count)
        return result
    }

    /// `p` of each event as `scorer score --events --model bundle` prints it, by id.
    func offlineP(bundle: String, events: [TestEvent]) throws -> [String: String] {
        let scorer = try OfflineScorer(bundlePath: bundle)
        var printed: [String: String] = [:]
        for event in events {
            guard let key = event.key, let value = event.value else { continue }
            printed[key] = scorer.printedP(value)
        }
        return printed
    }

    /// A copy of a bundle folder under this test's directory, each file passed through `edit`.
    func copy(_ bundle: String, as name: String, editing edit: (String, inout Data) throws -> Void = { _, _ in }) throws -> String {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: bundle) {
            var data = try Data(contentsOf: URL(fileURLWithPath: bundle).appendingPathComponent(file))
            try edit(file, &data)
            try data.write(to: folder.appendingPathComponent(file))
        }
        return folder.path
    }
}

extension Output {
    /// A top-level number field exactly as printed (`p`, `p_shadow`).
    func printed(_ field: String) -> String? {
        let text = String(decoding: value, as: UTF8.self)
        guard let range = text.range(of: "\"\(field)\":") else { return nil }
        return String(text[range.upperBound...].prefix { $0 != "," && $0 != "}" })
    }
}
