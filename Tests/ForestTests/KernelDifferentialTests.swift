import Foundation
import Testing
@testable import Forest

/// The fast batch kernel against the scalar reference evaluator, and its invariance to block size
/// and thread count, on random rows full of edge values.
@Suite struct KernelDifferentialTests {
    /// Deterministic rows mixing normal values, NaN, ±inf, ±0, split thresholds and their
    /// neighbours, and invalid category codes.
    static func edgeRows(for definition: ModelDefinition, count: Int, seed: UInt64) -> [Float] {
        var generator = SplitMix64(seed: seed)
        var thresholds = [Float]()
        for tree in definition.trees {
            for node in 0..<tree.nodeCount where !tree.isLeaf(node) && !tree.isCategorical[node] {
                thresholds.append(tree.splitConditions[node])
            }
        }
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, -1, -0.5, 0.7, 1.9, 33, 1e10, 16_777_216, 16_777_215, 100]
        var rows = [Float]()
        rows.reserveCapacity(count * definition.featureCount)
        for _ in 0..<count * definition.featureCount {
            let pick = generator.next() % 10
            switch pick {
            case 0: rows.append(specials[Int(generator.next() % UInt64(specials.count))])
            case 1...4 where !thresholds.isEmpty:
                let threshold = thresholds[Int(generator.next() % UInt64(thresholds.count))]
                rows.append([threshold, threshold.nextUp, threshold.nextDown][Int(generator.next() % 3)])
            case 5...6: rows.append(Float(generator.next() % 48))
            default: rows.append(Float(Double(generator.next() % 2_000_001) / 500_000 - 2))
            }
        }
        return rows
    }

    @Test("Fast kernel equals the reference evaluator", arguments: GoldenCase.all)
    func kernelMatchesReference(_ golden: GoldenCase) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(golden.models[0]))
        let model = try ForestModel(definition: definition)
        let reference = ReferenceEvaluator(definition: definition)
        let count = 301
        let rows = Self.edgeRows(for: definition, count: count, seed: 42)
        let margins = try model.predictMargins(rows)
        for row in 0..<count {
            let input = Array(rows[row * model.featureCount ..< (row + 1) * model.featureCount])
            let expected = reference.margins(row: input)
            let actual = Array(margins[row * model.outputCount ..< (row + 1) * model.outputCount])
            #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "\(golden.name) row \(row)")
        }
    }

    @Test("Results do not depend on block size or thread count", arguments: ["categorical_partition.json", "binary_numeric.ubj", "multi_softmax.json", "dart.json"])
    func blockAndThreadInvariance(_ file: String) throws {
        let definition = try ForestModel.decodeDefinition(Fixtures.bytes(file))
        let model = try ForestModel(definition: definition)
        let count = 517
        let rows = Self.edgeRows(for: definition, count: count, seed: 7)
        let baseline = try model.predict(rows)
        for blockSize in [1, 3, 4, 5, 64, 100, 1024] {
            for threads in [1, 2, 3] {
                var output = [Float](repeating: -1, count: count * model.predictionCount)
                rows.withUnsafeBufferPointer { input in
                    output.withUnsafeMutableBufferPointer { out in
                        model.run(rows: input.baseAddress!, count: count, output: out.baseAddress!, threads: threads, blockSize: blockSize, transformed: true)
                    }
                }
                #expect(output.map(\.bitPattern) == baseline.map(\.bitPattern), "block \(blockSize), threads \(threads)")
            }
        }
        #expect(try model.predict(rows, threads: 2).map(\.bitPattern) == baseline.map(\.bitPattern))
    }

    @Test func buffersOfTheWrongSizeAreRejected() throws {
        let model = try ForestModel.load(contentsOf: Fixtures.folder.appendingPathComponent("binary_numeric.json"))
        let rows = [Float](repeating: 0, count: model.featureCount * 4)
        var small = [Float](repeating: 0, count: 3)
        #expect(throws: ForestError.self) {
            try rows.withUnsafeBufferPointer { input in
                try small.withUnsafeMutableBufferPointer { try model.predict(rows: input, count: 4, into: $0) }
            }
        }
        #expect(throws: ForestError.self) { try model.predict([1, 2, 3]) }
        #expect(try model.predict([]) == [])
    }
}

/// A small deterministic generator so test inputs are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
