import Testing
@testable import LoadSimulator

@Suite struct LoadSimulatorSmokeTests {
    @Test func moduleLoads() { #expect(Bool(true)) }
}
