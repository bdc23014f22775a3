import Testing
@testable import Features

@Suite struct FeaturesSmokeTests {
    @Test func moduleLoads() { #expect(Bool(true)) }
}
