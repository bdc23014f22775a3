/// Namespace of the `Kafka` library (see DESIGN.md for its job).
public enum KafkaLibrary {}
