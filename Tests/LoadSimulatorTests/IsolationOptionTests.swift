import ArgumentParser
import Testing
@testable import LoadSimulator
@testable import simulator

/// `simulator --isolation`: which answers `--measure` reads (the measurer's `isolation.level`).
@Suite struct IsolationOptionTests {
    @Test func readCommittedIsTheDefaultAndHelpSaysWhy() throws {
        let parsed = try Simulator.parse(["--measure"])
        #expect(parsed.measureIsolation == .readCommitted)
        let help = Simulator.helpMessage(columns: 10_000)
        #expect(help.contains("--isolation <level>"))
        #expect(help.contains("read-committed (the default, as librdkafka's"), "\(help)")
        #expect(help.contains("read-uncommitted"))
    }

    @Test(arguments: MeasureSettings.Isolation.allCases)
    func eachLevelParsesAndMapsToLibrdkafka(_ level: MeasureSettings.Isolation) throws {
        let parsed = try Simulator.parse(["--measure", "--isolation", level.rawValue])
        #expect(parsed.measureIsolation == level)
        #expect(level.isolationLevel == (level == .readCommitted ? "read_committed" : "read_uncommitted"))
    }

    @Test func anUnknownLevelIsRefused() {
        for bad in ["read_committed", "serializable"] {
            let error = #expect(throws: (any Error).self) { try Simulator.parse(["--isolation", bad]) }
            let message = error.map { Simulator.message(for: $0) } ?? ""
            #expect(message.contains("read-committed, read-uncommitted") && message.contains(bad), "\(message)")
        }
    }

    @Test func isolationLevelThroughDashXIsRefusedWithTheOptionToUse() {
        let error = #expect(throws: (any Error).self) { try Simulator.parse(["-X", "isolation.level=read_uncommitted"]) }
        let message = error.map { Simulator.message(for: $0) } ?? ""
        #expect(message.contains("--isolation"), "\(message)")
    }
}
