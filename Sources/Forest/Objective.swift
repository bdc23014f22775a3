#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An XGBoost learning objective, as far as prediction cares: how the stored `base_score` becomes a
/// margin, and how a margin becomes the user-facing prediction.
///
/// The arithmetic follows XGBoost's `ProbToMargin` and `PredTransform` in float32, with the C
/// library's `expf`/`logf` (Swift's `exp(Float)` on Linux is glibc's `expf`), which reproduces
/// `Booster.predict()` bit for bit.
public struct Objective: Sendable, Hashable, CustomStringConvertible {
    /// The objective's XGBoost name, e.g. `binary:logistic`.
    public let name: String
    let transform: Transform
    let baseScoreLink: BaseScoreLink

    /// How a margin becomes a prediction.
    enum Transform: Sendable, Hashable {
        case identity
        case sigmoid
        case exponential
        case hinge
        case softprob
        case softmax
        /// A LightGBM objective's transform (float64; `Objective+LightGBM.swift`).
        case lightGBM(LightGBMTransform)
    }

    /// How the stored `base_score` (response space) becomes the initial margin.
    enum BaseScoreLink: Sendable, Hashable {
        case identity
        case logit
        case log
    }

    public var description: String { name }

    /// Whether predictions are one class index per row (`multi:softmax`) instead of one value per output.
    public var predictsClassIndex: Bool { transform == .softmax }

    /// Looks up an objective by its XGBoost name.
    ///
    /// - Throws: `ForestError` with code `.unsupported` for names this evaluator does not know.
    public init(name: String) throws {
        self.name = name
        switch name {
        case "binary:logistic", "reg:logistic":
            (transform, baseScoreLink) = (.sigmoid, .logit)
        case "binary:logitraw":
            (transform, baseScoreLink) = (.identity, .identity)
        case "binary:hinge":
            (transform, baseScoreLink) = (.hinge, .identity)
        case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
             "reg:absoluteerror", "reg:quantileerror":
            (transform, baseScoreLink) = (.identity, .identity)
        case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
            (transform, baseScoreLink) = (.exponential, .log)
        case "multi:softprob":
            (transform, baseScoreLink) = (.softprob, .identity)
        case "multi:softmax":
            (transform, baseScoreLink) = (.softmax, .identity)
        case _ where name.hasPrefix("rank:"):
            (transform, baseScoreLink) = (.identity, .identity)
        default:
            throw ForestError.unsupported("objective '\(name)' is not supported")
        }
    }

    /// A LightGBM objective named by its `objective=` line.
    init(name: String, lightGBM transform: LightGBMTransform) {
        self.name = name
        self.transform = .lightGBM(transform)
        baseScoreLink = .identity
    }

    /// The initial margin for a stored base score (XGBoost's `ProbToMargin`).
    func margin(fromBaseScore score: Float) -> Float {
        switch baseScoreLink {
        case .identity:
            return score
        case .logit:
            // XGBoost 3.x clamps to [1e-6, 1 - 1e-6] before the logit.
            let epsilon: Float = 1e-6
            let clamped = min(max(score, epsilon), 1 - epsilon)
            return -logf(1 / clamped - 1)
        case .log:
            return logf(score)
        }
    }

    /// Transforms one row of margins in place; returns how many values the row now holds (1 for
    /// `multi:softmax`, the margin count otherwise). `values` must hold at least one element.
    @inline(__always)
    func transformRow(_ values: UnsafeMutablePointer<Float>, count: Int) -> Int {
        switch transform {
        case .identity:
            return count
        case .sigmoid:
            for index in 0..<count { values[index] = Objective.sigmoid(values[index]) }
            return count
        case .exponential:
            for index in 0..<count { values[index] = expf(values[index]) }
            return count
        case .hinge:
            for index in 0..<count { values[index] = values[index] > 0 ? 1 : 0 }
            return count
        case .softprob:
            var largest = values[0]
            for index in 1..<max(count, 1) where values[index] > largest { largest = values[index] }
            var sum: Double = 0
            for index in 0..<count {
                let exponential = expf(values[index] - largest)
                values[index] = exponential
                sum += Double(exponential)
            }
            let total = Float(sum)
            for index in 0..<count { values[index] /= total }
            return count
        case .softmax:
            var best = 0
            for index in 1..<max(count, 1) where values[index] > values[best] { best = index }
            values[0] = Float(best)
            return 1
        case .lightGBM(let transform):
            transform.applyRounded(values, count: count)
            return count
        }
    }

    /// XGBoost's `common::Sigmoid`: `1 / (exp(min(-x, 88.7)) + 1 + 1e-16)` in float32.
    @inline(__always)
    static func sigmoid(_ margin: Float) -> Float {
        let exponent = min(-margin, 88.7)
        let denominator = expf(exponent) + 1 + 1e-16
        return 1 / denominator
    }
}
