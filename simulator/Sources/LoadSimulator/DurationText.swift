import Foundation

/// Parses durations written on command lines: `90` (seconds), `1.5s`, `250ms`, `2m`, `1h`.
public enum DurationText {
    /// Seconds in `text`, or `nil` when it is not a non-negative duration.
    public static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            guard let value = Double(trimmed.dropLast(unit.suffix.count)), value.isFinite, value >= 0 else { return nil }
            return value * unit.scale
        }
        guard let value = Double(trimmed), value.isFinite, value >= 0 else { return nil }
        return value
    }
}
