/// Namespace of the `KafkaOptions` library (see DESIGN.md for its job).
public enum KafkaOptionsLibrary {}
