#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A LightGBM objective's `ConvertOutput`, in float64 as LightGBM computes it (glibc `exp` and
/// `log1p`, which LightGBM's Linux builds call too).
enum LightGBMTransform: Sendable, Hashable {
    /// Regression (L2, L1, Huber, Fair, quantile, MAPE), lambdarank, rank_xendcg, custom.
    case identity
    /// Regression with `sqrt` (`reg_sqrt=true`): `sign(x) * x * x`.
    case signedSquare
    /// binary: `1 / (1 + exp(-sigmoid * x))`.
    case sigmoid(Double)
    /// multiclassova: the sigmoid per class.
    case oneVersusAll(Double)
    /// multiclass: softmax over the classes.
    case softmax
    /// poisson, gamma, tweedie.
    case exponential
    /// cross_entropy: `1 / (1 + exp(-x))`.
    case crossEntropy
    /// cross_entropy_lambda: `log1p(exp(x))`.
    case crossEntropyLambda

    /// Transforms one row of raw scores in place.
    @inline(__always)
    func apply(_ values: UnsafeMutablePointer<Double>, count: Int) {
        switch self {
        case .identity:
            return
        case .signedSquare:
            for index in 0..<count {
                let x = values[index]
                let sign: Double = x > 0 ? 1 : (x < 0 ? -1 : 0)
                values[index] = sign * x * x
            }
        case .sigmoid(let scale), .oneVersusAll(let scale):
            for index in 0..<count { values[index] = 1 / (1 + exp(-scale * values[index])) }
        case .softmax:
            var largest = values[0]
            for index in 1..<max(count, 1) where !(values[index] < largest) { largest = values[index] }
            var sum: Double = 0
            for index in 0..<count {
                values[index] = exp(values[index] - largest)
                sum += values[index]
            }
            for index in 0..<count { values[index] /= sum }
        case .exponential:
            for index in 0..<count { values[index] = exp(values[index]) }
        case .crossEntropy:
            for index in 0..<count { values[index] = 1 / (1 + exp(-values[index])) }
        case .crossEntropyLambda:
            for index in 0..<count { values[index] = log1p(exp(values[index])) }
        }
    }

    /// Transforms Float32 raw scores: computed in float64 as LightGBM does, then rounded.
    func applyRounded(_ values: UnsafeMutablePointer<Float>, count: Int) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: max(count, 1)) { buffer in
            for index in 0..<count { buffer[index] = Double(values[index]) }
            apply(buffer.baseAddress!, count: count)
            for index in 0..<count { values[index] = Float(buffer[index]) }
        }
    }
}

extension Objective {
    /// A LightGBM objective from the model's `objective=` line (e.g. `binary sigmoid:1`,
    /// `multiclass num_class:3`, `regression sqrt`); nil text is a custom objective (raw output).
    ///
    /// - Throws: ``ForestError`` `.unsupported` for unknown objectives, `.invalidModel` for bad parameters.
    init(lightGBM text: String?, classCount: Int) throws {
        guard let text else {
            self.init(name: "custom", lightGBM: .identity)
            return
        }
        let tokens = text.split(separator: " ").map(String.init)
        guard let kind = tokens.first else { throw ForestError.invalid("objective= is empty") }
        func parameter(_ key: String) -> String? {
            tokens.dropFirst().first { $0.hasPrefix(key + ":") }.map { String($0.dropFirst(key.count + 1)) }
        }
        func sigmoid() throws -> Double {
            let scale = parameter("sigmoid").map(Self.lightGBMAtof) ?? -1
            guard scale > 0, scale.isFinite else { throw ForestError.invalid("objective '\(text)': sigmoid should be a positive number") }
            return scale
        }
        let square = tokens.contains("sqrt")
        let transform: LightGBMTransform
        switch kind {
        case "regression", "regression_l1", "fair", "quantile", "mape":
            transform = square ? .signedSquare : .identity
        case "huber", "lambdarank", "rank_xendcg", "custom":
            transform = .identity
        case "poisson", "gamma", "tweedie":
            transform = .exponential
        case "binary":
            transform = .sigmoid(try sigmoid())
        case "multiclass", "multiclassova":
            guard let declared = parameter("num_class").flatMap({ Int($0) }), declared == classCount else {
                throw ForestError.invalid("objective '\(text)': num_class should be \(classCount) (the model's num_class)")
            }
            transform = kind == "multiclass" ? .softmax : .oneVersusAll(try sigmoid())
        case "cross_entropy":
            transform = .crossEntropy
        case "cross_entropy_lambda":
            transform = .crossEntropyLambda
        default:
            throw ForestError.unsupported("LightGBM objective '\(kind)' is not supported")
        }
        self.init(name: text, lightGBM: transform)
    }

    /// LightGBM's `Common::Atof` (how it reads `sigmoid:`), digit by digit: not always the
    /// correctly rounded double, so parsed the same way here.
    static func lightGBMAtof(_ text: String) -> Double {
        var bytes = Array(text.utf8)[...]
        var sign = 1.0
        if bytes.first == UInt8(ascii: "-") { sign = -1; bytes = bytes.dropFirst() } else if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
        guard isDigit(bytes.first) || [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes.first) else { return .nan }
        var value = 0.0
        while isDigit(bytes.first) { value = value * 10 + Double(bytes.first! - 0x30); bytes = bytes.dropFirst() }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            var right = 0.0, digits = 0
            while isDigit(bytes.first) { right = Double(bytes.first! - 0x30) + right * 10; digits += 1; bytes = bytes.dropFirst() }
            value += right / lightGBMPow(10, digits)
        }
        var scale = 1.0, negativeExponent = false
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "-") { negativeExponent = true; bytes = bytes.dropFirst() } else if bytes.first == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            var exponent: UInt32 = 0
            while isDigit(bytes.first) { exponent = exponent &* 10 &+ UInt32(bytes.first! - 0x30); bytes = bytes.dropFirst() }
            exponent = min(exponent, 308)
            while exponent >= 50 { scale *= 1e50; exponent -= 50 }
            while exponent >= 8 { scale *= 1e8; exponent -= 8 }
            while exponent > 0 { scale *= 10; exponent -= 1 }
        }
        return sign * (negativeExponent ? value / scale : value * scale)
    }

    /// LightGBM's `Common::Pow` (squaring and cubing recursively), for ``lightGBMAtof(_:)``.
    private static func lightGBMPow(_ base: Double, _ power: Int) -> Double {
        if power < 0 { return 1 / lightGBMPow(base, -power) }
        if power == 0 { return 1 }
        if power % 2 == 0 { return lightGBMPow(base * base, power / 2) }
        if power % 3 == 0 { return lightGBMPow(base * base * base, power / 3) }
        return base * lightGBMPow(base, power - 1)
    }
}
