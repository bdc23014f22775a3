import Testing
@testable import Scoring

@Suite struct ScoringSmokeTests {
    @Test func moduleLoads() { #expect(Bool(true)) }
}
