import Foundation
import Testing

@testable import Features

/// The hand-written scanner against Foundation's `JSONSerialization` on random and adversarial input:
/// both must accept and reject the same documents, and nothing may crash or hang.
@Suite struct JSONCursorTests {
    /// A spec whose event limit is large enough for the adversarial documents.
    static let bigSpec = try! FeatureSpec(
        features: [.init(name: "x", transform: .number(field: "x"))], maxEventBytes: 4 << 20)

    /// Whether the featurizer considers `bytes` valid JSON (any error other than not_json means the
    /// JSON itself was fine).
    static func scannerAccepts(_ bytes: [UInt8], _ featurizer: Featurizer) -> Bool {
        var row: [Float] = [0]
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(FeatureError) in try featurizer.featurize(raw, into: &row[0]) }
        }
        if case .failure(let error) = result { return error.code != .notJSON }
        return true
    }

    static func foundationAccepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
    }

    /// A random JSON value (no surrogate escapes, moderate numbers: the areas where Foundation and
    /// RFC 8259 / Python legitimately differ are tested separately).
    static func randomValue(_ rng: inout some RandomNumberGenerator, depth: Int) -> String {
        let pick = depth > 4 ? Int.random(in: 0..<5, using: &rng) : Int.random(in: 0..<7, using: &rng)
        switch pick {
        case 0: return ["true", "false", "null"].randomElement(using: &rng)!
        case 1: return String(Int.random(in: -1_000_000...1_000_000, using: &rng))
        case 2: return String(Double.random(in: -1e6...1e6, using: &rng))
        case 3, 4:
            let pieces = ["a", "é", "😀", "\\n", "\\\"", "\\\\", "\\u00e9", "\\/", " ", "x1", "\\t", "中"]
            return "\"" + (0..<Int.random(in: 0..<6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined() + "\""
        case 5:
            return "[" + (0..<Int.random(in: 0..<4, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            return "{" + (0..<Int.random(in: 0..<4, using: &rng)).map { k in "\"k\(k)\" : " + randomValue(&rng, depth: depth + 1) }
                .joined(separator: " ,") + "}"
        }
    }

    @Test func agreesWithFoundationOnRandomDocumentsAndTheirCorruptions() {
        let featurizer = Featurizer(spec: Self.bigSpec)
        var rng = SplitMix64(seed: 42)
        var disagreements: [String] = []
        for _ in 0..<3000 {
            let document = Array(("{\"id\":\"a\",\"v\":" + Self.randomValue(&rng, depth: 0) + "}").utf8)
            var variants = [document]
            for _ in 0..<4 {  // corruptions: flip, delete, insert, truncate
                var v = document
                let at = Int.random(in: 0..<v.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: v[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: v.remove(at: at)
                case 2: v.insert(Array("{}[]\",:\\ 0e-.tfn\u{01}".utf8).randomElement(using: &rng)!, at: at)
                default: v = Array(v[..<at])
                }
                variants.append(v)
            }
            for v in variants where Self.scannerAccepts(v, featurizer) != Self.foundationAccepts(v) {
                let text = String(decoding: v, as: UTF8.self)
                if Self.isKnownFoundationLeniency(text) { continue }
                disagreements.append(text)
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, e.g. \(disagreements.prefix(5))")
    }

    /// Where Foundation departs from RFC 8259 and Python's `json` (which the training side uses):
    /// it accepts a trailing comma before `}` or `]`, and rejects numbers beyond Double's range
    /// (RFC 8259 and Python accept them; they become infinity, then a missing value), and it treats a
    /// NUL byte as the end of the document.
    static func isKnownFoundationLeniency(_ text: String) -> Bool {
        text.contains(/,\s*[}\]]/) || text.contains(/[0-9][eE][+-]?0*[0-9]{3,}/) || text.contains("\u{0}")
    }

    @Test func trailingCommasAndHugeExponentsFollowRFC8259() {
        let featurizer = Featurizer(spec: Self.bigSpec)
        #expect(!Self.scannerAccepts(Array(#"{"id":"a","v":[1,]}"#.utf8), featurizer))
        #expect(!Self.scannerAccepts(Array(#"{"id":"a","v":1,}"#.utf8), featurizer))
        #expect(Self.scannerAccepts(Array(#"{"id":"a","x":1e999}"#.utf8), featurizer))
    }

    @Test func randomBytesNeitherCrashNorHang() {
        let featurizer = Featurizer(spec: Self.bigSpec)
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("{}[]\":,\\ 0123456789eE+-.truefalsn\u{80}\u{ff}\t\n".utf8) + [0xC3, 0xA9, 0xED, 0xF4, 0x00]
        for _ in 0..<5000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let text = String(decoding: bytes, as: UTF8.self)
            if Self.isKnownFoundationLeniency(text) { continue }
            #expect(Self.scannerAccepts(bytes, featurizer) == Self.foundationAccepts(bytes), "\(bytes)")
        }
    }

    @Test func oneMegabyteValueIsScannedOrRejectedBySize() throws {
        let big = "{\"id\":\"a\",\"x\":1,\"note\":\"" + String(repeating: "é0123456789", count: 100_000) + "\"}"
        let featurizer = Featurizer(spec: Self.bigSpec)
        let (row, _) = try featurizer.featurize(Array(big.utf8))
        #expect(row == [1])
        let small = Featurizer(spec: TestSupport.spec)
        #expect(throws: FeatureError.self) { try small.featurize(Array(big.utf8)) }
        do {
            _ = try small.featurize(Array(big.utf8))
        } catch {
            #expect(error.code == .tooLarge)
            #expect(error.description == "too large: the event has \(big.utf8.count) bytes, the limit is 65536")
        }
    }

    @Test func deepNestingIsRejectedWithoutRecursion() {
        let featurizer = Featurizer(spec: Self.bigSpec)
        for depth in [Featurizer.maxDepth - 1, Featurizer.maxDepth, 100_000, 1_000_000] {
            let doc = "{\"id\":\"a\",\"deep\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            let result = Result { () throws(FeatureError) in try featurizer.featurize(Array(doc.utf8)) }
            if depth < Featurizer.maxDepth {
                #expect((try? result.get()) != nil)
            } else {
                #expect(throws: FeatureError.self) { try result.get() }
                if case .failure(let error) = result {
                    #expect(error.code == .notJSON)
                    #expect(error.description.contains("nesting deeper than 512 levels"))
                }
            }
        }
        // Unterminated deep nesting and a deep non-object document.
        let open = Array(String(repeating: "[{\"a\":", count: 200_000).utf8)
        #expect(!Self.scannerAccepts(open, featurizer))
    }

    @Test func invalidUTF8IsRejected() {
        let featurizer = Featurizer(spec: Self.bigSpec)
        let bad: [[UInt8]] = [[0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
                              [0xC3], [0xE2, 0x82], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]]
        for sequence in bad {
            let doc = Array("{\"id\":\"a".utf8) + sequence + Array("\"}".utf8)
            #expect(!Self.scannerAccepts(doc, featurizer), "\(sequence)")
            #expect(!Self.foundationAccepts(doc), "\(sequence)")
        }
        let good: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xEF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF]]
        for sequence in good {
            #expect(Self.scannerAccepts(Array("{\"id\":\"a".utf8) + sequence + Array("\"}".utf8), featurizer))
        }
    }

    @Test func everyTruncationOfAnEventIsNotJSON() {
        let featurizer = Featurizer(spec: TestSupport.spec)
        let event = Array(TestSupport.sampleEvent.utf8)
        for length in 0..<event.count {
            let prefix = Array(event[..<length])
            let result = Result { () throws(FeatureError) in try featurizer.featurize(prefix) }
            guard case .failure(let error) = result else {
                Issue.record("prefix of \(length) bytes was accepted")
                continue
            }
            #expect(error.code == .notJSON)
        }
    }
}

/// A small deterministic generator so random tests repeat exactly.
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
