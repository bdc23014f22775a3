/// Namespace of the `Scoring` library (see DESIGN.md for its job).
public enum ScoringLibrary {}
