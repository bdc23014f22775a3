/// Namespace of the `Forest` library (see DESIGN.md for its job).
public enum ForestLibrary {}
