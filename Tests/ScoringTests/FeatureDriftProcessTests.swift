import Foundation
import Testing

extension ScorerProcessTests {
    // MARK: - Feature drift

    /// `simulator --drift` shifts one event field: the feature made from it drifts (PSI > 0.25, and a
    /// warning is logged) while every other tracked feature stays below 0.1.
    @Test func simulatorDriftRaisesThatFeaturesPSIOnly() async throws {
        let cluster = try TestCluster(inputPartitions: 2)
        let scorer = try startScorer(cluster, name: "drift")
        #expect(await scorer.waitForLog("partitions assigned", timeout: .seconds(30)))
        #expect(scorer.log.contains("drift tracking"), "\(scorer.log)")
        let sent = 12_000
        let simulator = try ScorerProcess(
            ["--brokers", cluster.bootstrapServers] + cluster.commandLineOptions + [
                "--rate", "4000", "--count", "\(sent)", "--drift", "startCount7d:+10", "--json",
            ],
            name: "simulator-drift", directory: directory, executable: "simulator")
        #expect(await simulator.waitForExit(timeout: .seconds(60)) == 0, "\(simulator.log)")
        let deadline = ContinuousClock.now + .seconds(60)
        while try await eventsIn(scorer) < sent, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }

        let (body, _) = try await httpGet("http://127.0.0.1:\(try metricsPort(of: scorer))/metrics")
        var psi: [String: Double] = [:]
        for line in body.split(separator: "\n") where line.hasPrefix("scorer_feature_psi{") {
            let feature = try #require(line.split(separator: "feature=\"").last?.split(separator: "\"").first)
            psi[String(feature)] = Double(line.split(separator: " ").last ?? "")
        }
        #expect(psi.count == 17, "\(body)")
        let drifted = try #require(psi["start_count_7d"])
        #expect(drifted > 0.25)
        for (feature, value) in psi where feature != "start_count_7d" {
            #expect(value < 0.1, "\(feature): PSI \(value)")
        }
        #expect(body.contains("scorer_feature_missing_share{model=\"install-v1@"))
        #expect(await scorer.waitForLog("feature drift", timeout: .seconds(25)), "\(scorer.log.suffix(2000))")
        let warning = scorer.log.split(separator: "\n").first { $0.contains("feature drift") } ?? ""
        #expect(warning.contains("start_count_7d") && !warning.contains("start_count_1d"), "\(warning)")
        scorer.send(SIGTERM)
        #expect(await scorer.waitForExit(timeout: .seconds(30)) == 0)
    }
}
