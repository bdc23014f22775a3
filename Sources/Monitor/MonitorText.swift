import Foundation

/// The monitor's outputs: Prometheus text, NDJSON lines and the terminal table.
public enum MonitorText {
    // MARK: - Prometheus

    /// The Prometheus text exposition of a snapshot, the consumer's lag (when known) and the
    /// validation AUC of each model card given (by model identity).
    public static func prometheus(_ snapshot: MonitorSnapshot, lag: Int64?, cardAUC: [String: Double] = [:]) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func labels(_ key: ModelKey, window: String? = nil) -> String {
            var text = "model=\"\(escape(key.model))\",variant=\"\(escape(key.variant))\""
            if let window { text += ",window=\"\(window)\"" }
            return "{\(text)}"
        }
        let gauges: [(String, String, (CalibrationStats) -> Double)] = [
            ("scorer_monitor_predictions", "Labelled predictions in the window.", { Double($0.count) }),
            ("scorer_monitor_installs", "Installs among them.", { Double($0.positives) }),
            ("scorer_monitor_mean_p", "Mean predicted install probability.", { $0.meanP }),
            ("scorer_monitor_observed_rate", "Observed install rate.", { $0.observedRate }),
            ("scorer_monitor_calibration_ratio", "Mean p divided by the observed rate (1 = calibrated).", { $0.calibrationRatio }),
            ("scorer_monitor_logloss", "Log loss.", { $0.logLoss }),
            ("scorer_monitor_brier", "Brier score.", { $0.brier }),
            ("scorer_monitor_auc", "Area under the ROC curve (from p histograms).", { $0.auc }),
        ]
        for (name, help, value) in gauges {
            family(name, "gauge", help + " Per model, variant and sliding window.")
            for model in snapshot.models {
                for window in model.windows {
                    out += "\(name)\(labels(model.key, window: window.label)) \(sample(value(window.stats)))\n"
                }
            }
        }
        family("scorer_monitor_decile_mean_p", "gauge", "Reliability table: mean p per decile of p (largest window).")
        family("scorer_monitor_decile_rate", "gauge", "Reliability table: observed rate per decile of p (largest window).")
        for model in snapshot.models {
            guard let window = model.windows.last else { continue }
            for (index, decile) in window.stats.deciles.enumerated() {
                let base = "model=\"\(escape(model.key.model))\",variant=\"\(escape(model.key.variant))\",window=\"\(window.label)\",decile=\"\(index + 1)\""
                out += "scorer_monitor_decile_mean_p{\(base)} \(sample(decile.meanP))\n"
                out += "scorer_monitor_decile_rate{\(base)} \(sample(decile.observedRate))\n"
            }
        }
        family("scorer_monitor_labelled_total", "counter", "Predictions labelled since start (joined or expired).")
        for model in snapshot.models {
            out += "scorer_monitor_labelled_total\(labels(model.key)) \(model.lifetime.count)\n"
        }
        let c = snapshot.counters
        let counters: [(String, String, Int)] = [
            ("scorer_monitor_joined_total", "Predictions joined with their outcome.", c.joined),
            ("scorer_monitor_expired_negatives_total", "Predictions whose join window expired without an outcome (negatives).", c.expiredNegatives),
            ("scorer_monitor_duplicate_predictions_total", "Predictions for an id already seen in the window (ignored).", c.duplicatePredictions),
            ("scorer_monitor_duplicate_outcomes_total", "Second outcomes for an id (ignored).", c.duplicateOutcomes),
            ("scorer_monitor_unmatched_outcomes_total", "Outcomes with no prediction within the window.", c.unmatchedOutcomes),
            ("scorer_monitor_evicted_total", "Ids evicted from the join buffer by the memory cap.", c.evictedPredictions + c.evictedOutcomes + c.evictedResolved),
            ("scorer_monitor_malformed_predictions_total", "Prediction messages that could not be read.", c.malformedPredictions),
            ("scorer_monitor_malformed_outcomes_total", "Outcome messages that could not be read.", c.malformedOutcomes),
        ]
        for (name, help, value) in counters {
            family(name, "counter", help)
            out += "\(name) \(value)\n"
        }
        if !cardAUC.isEmpty {
            family("scorer_monitor_card_auc", "gauge", "Validation AUC from the model's card (scorer monitor --card).")
            for (model, auc) in cardAUC.sorted(by: { $0.key < $1.key }) {
                out += "scorer_monitor_card_auc{model=\"\(escape(model))\"} \(sample(auc))\n"
            }
        }
        family("scorer_monitor_pending", "gauge", "Ids held in the join buffers.")
        out += "scorer_monitor_pending \(snapshot.pending)\n"
        if let lag {
            family("scorer_monitor_consumer_lag", "gauge", "Messages of the assigned partitions not yet read by the monitor.")
            out += "scorer_monitor_consumer_lag \(lag)\n"
        }
        return out
    }

    // MARK: - NDJSON

    /// One JSON object per model and window: `{"type":"window","ts",...,"deciles":[...]}`, then
    /// one `{"type":"joins",...}` with the counters.
    public static func jsonLines(_ snapshot: MonitorSnapshot) -> [String] {
        var lines: [String] = []
        for model in snapshot.models {
            for window in model.windows {
                let s = window.stats
                let deciles = s.deciles.map {
                    "{\"count\":\($0.count),\"mean_p\":\(number($0.meanP)),\"rate\":\(number($0.observedRate))}"
                }.joined(separator: ",")
                lines.append(
                    "{\"type\":\"window\",\"ts\":\(snapshot.timeMs),\"model\":\"\(escape(model.key.model))\",\"variant\":\"\(escape(model.key.variant))\","
                        + "\"window\":\"\(window.label)\",\"count\":\(s.count),\"installs\":\(s.positives),\"mean_p\":\(number(s.meanP)),"
                        + "\"rate\":\(number(s.observedRate)),\"calibration\":\(number(s.calibrationRatio)),\"logloss\":\(number(s.logLoss)),"
                        + "\"brier\":\(number(s.brier)),\"auc\":\(number(s.auc)),\"deciles\":[\(deciles)]}")
            }
        }
        let counters = (try? String(decoding: JSONEncoder().encode(snapshot.counters), as: UTF8.self)) ?? "{}"
        lines.append("{\"type\":\"joins\",\"ts\":\(snapshot.timeMs),\"pending\":\(snapshot.pending),\"counters\":\(counters)}")
        return lines
    }

    // MARK: - Table

    /// The live table: one row per model, variant and window.
    public static func table(_ snapshot: MonitorSnapshot) -> [String] {
        var lines = [
            pad("model", 28) + pad("variant", 9) + pad("window", 7) + pad("labelled", 10, right: true) + pad("mean p", 9, right: true)
                + pad("rate", 9, right: true) + pad("calib", 8, right: true) + pad("logloss", 9, right: true)
                + pad("brier", 9, right: true) + pad("AUC", 7, right: true)
        ]
        for model in snapshot.models {
            for window in model.windows {
                let s = window.stats
                lines.append(
                    pad(model.key.model, 28) + pad(model.key.variant, 9) + pad(window.label, 7)
                        + pad(String(s.count), 10, right: true) + pad(fixed(s.meanP, 4), 9, right: true)
                        + pad(fixed(s.observedRate, 4), 9, right: true) + pad(fixed(s.calibrationRatio, 2), 8, right: true)
                        + pad(fixed(s.logLoss, 4), 9, right: true) + pad(fixed(s.brier, 4), 9, right: true)
                        + pad(fixed(s.auc, 3), 7, right: true))
            }
        }
        let c = snapshot.counters
        lines.append(
            "joined \(c.joined), expired as negatives \(c.expiredNegatives), duplicates \(c.duplicatePredictions), "
                + "unmatched outcomes \(c.unmatchedOutcomes), evicted \(c.evictedPredictions + c.evictedOutcomes + c.evictedResolved), "
                + "pending \(snapshot.pending)")
        return lines
    }

    // MARK: - Formatting

    /// A JSON number; `null` for NaN and infinities, which JSON cannot carry.
    static func number(_ value: Double) -> String {
        value.isFinite ? String(value) : "null"
    }

    /// A Prometheus sample value (NaN and ±Inf as the exposition format spells them).
    static func sample(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return String(value)
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : (value.isNaN ? "-" : "inf")
    }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let body = text.count >= width ? String(text.prefix(width - 1)) : text
        let fill = String(repeating: " ", count: max(0, width - body.count))
        return right ? fill + body + " " : body + fill
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
