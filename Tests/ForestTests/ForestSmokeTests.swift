import Testing
@testable import Forest

@Suite struct ForestSmokeTests {
    @Test func moduleLoads() { #expect(Bool(true)) }
}
