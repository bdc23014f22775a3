import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `scorer` child process: the real binary, started the way an operator starts it, so tests
/// can kill it (-9), signal it (SIGTERM, SIGHUP) and restart it while the broker lives on in the
/// test process.
final class ScorerProcess {
    let process = Process()
    let logURL: URL
    private let logHandle: FileHandle

    /// The `scorer` executable built next to the test bundle (`swift test` builds it too).
    static var executableURL: URL {
        get throws { try executableURL(named: "scorer") }
    }

    /// A product of this package (`scorer`, `simulator`) built next to the test bundle.
    static func executableURL(named name: String) throws -> URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
            packageRoot.appendingPathComponent(".build/debug/\(name)"),
        ]
        let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
        return try #require(found, "no built '\(name)' next to the tests; run 'swift build' first (looked at \(candidates.map(\.path)))")
    }

    /// The package root: the nearest folder above this file that holds Package.swift.
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// Starts `<executable> <arguments>` (`scorer` unless told otherwise), with stdout and stderr
    /// going to a log file.
    init(_ arguments: [String], name: String, directory: URL, executable: String = "scorer") throws {
        logURL = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        logHandle = try FileHandle(forWritingTo: logURL)
        logHandle.seekToEndOfFile()
        process.executableURL = try Self.executableURL(named: executable)
        process.arguments = arguments
        process.currentDirectoryURL = Self.packageRoot
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? logHandle.close()
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` (SIGTERM, SIGHUP, SIGKILL, ...).
    func send(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status, or nil if it is still running after
    /// `timeout` (then it is killed).
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                send(SIGKILL)
                return nil
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// The log so far.
    var log: String {
        (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
    }

    /// Waits until the log contains `text`; false on timeout or if the process exited first.
    func waitForLog(_ text: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return false
    }
}
