/// Namespace of the load simulator library, shared by `simulator` and `scorer demo`.
public enum LoadSimulatorLibrary {}
