/// Namespace of the `Features` library (see DESIGN.md for its job).
public enum FeaturesLibrary {}
