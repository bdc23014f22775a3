import ArgumentParser

/// `scorer score`: offline scoring, for parity checks, backfills and debugging.
///
/// Two input kinds: `--features-csv` (already-computed feature rows, one column per model feature)
/// and `--events` (raw impression events, JSON lines or the simulator's csv.gz), which go through the
/// same featurizer and prediction encoding as the service.
struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score feature rows or raw events offline with a model, like the service would."
    )

    @Option(name: .long, help: ArgumentHelp("An XGBoost model (.json or .ubj) or a model bundle folder.", valueName: "PATH"))
    var model: String = "models/install-v1"

    @Option(name: .long, help: ArgumentHelp("Headerless CSV of feature rows ('-' = stdin); empty or 'nan' = missing.", valueName: "FILE"))
    var featuresCsv: String?

    @Option(name: .long, help: ArgumentHelp("Impression events: JSON lines or a .csv.gz test file ('-' = stdin). Needs a bundle.", valueName: "FILE"))
    var events: String?

    @Flag(name: .long, help: "Print raw margins (before the objective's transform); --features-csv only.")
    var margin = false

    @OptionGroup(title: "Explanations")
    var explanation: ContributionOptions

    @Option(name: .long, help: ArgumentHelp("Scoring threads (default: one per core). The output does not depend on it.", valueName: "N"))
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("Write here instead of stdout.", valueName: "FILE"))
    var output: String?

    @Flag(name: .long, help: .hidden)  // featurizer parse-speed benchmark (BENCHMARKS.md), with --events
    var benchmarkParse = false

    func validate() throws {
        switch (featuresCsv, events) {
        case (nil, nil): throw ValidationError("give --features-csv FILE or --events FILE")
        case (.some, .some): throw ValidationError("give either --features-csv or --events, not both")
        default: break
        }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256 (got \(threads))") }
        if margin && events != nil { throw ValidationError("--margin goes with --features-csv") }
        if explanation.isEnabled && (margin || events != nil) { throw ValidationError("--contribs and --top go with --features-csv, without --margin") }
    }

    func run() async throws {
        if let featuresCsv {
            try scoreFeatureRows(csvPath: featuresCsv)
        } else if let events {
            try scoreEvents(path: events)
        }
    }
}
