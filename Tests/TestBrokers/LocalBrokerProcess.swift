import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the child-process brokers (Tansu, noida-db) share: where their binaries are installed,
/// free ports, and waiting until one listens.
enum LocalBrokerProcess {
    /// The package root: the nearest folder above this file that holds Package.swift (the
    /// install scripts put broker binaries under it, in `.build-tansu/` and `.build-noida/`).
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// The binary named by the environment variable `override`, else `installed` (relative to the
    /// package root) when it is executable.
    /// - Throws: `TestBrokerError` naming the install command when neither exists.
    static func executable(override: String, installed: String, installCommand: String) throws -> URL {
        if let path = ProcessInfo.processInfo.environment[override], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let url = packageRoot.appendingPathComponent(installed)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestBrokerError("no broker binary at \(url.path): run \(installCommand) (or set \(override))")
        }
        return url
    }

    /// Takes the child process out of `slot` (so a second call does nothing), kills it with
    /// SIGKILL and waits for it; returns whether there was one to stop.
    @discardableResult
    static func kill(_ slot: borrowing Mutex<Process?>) -> Bool {
        guard let process = slot.withLock({ current -> Process? in
            defer { current = nil }
            return current
        }) else { return false }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return true
    }

    /// A 127.0.0.1 port that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestBrokerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw TestBrokerError("cannot bind a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether `process` accepts TCP connections on 127.0.0.1:`port` within `timeout` seconds
    /// (false as soon as it exits).
    static func waitUntilListening(port: Int, process: Process, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, process.isRunning {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return false }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            close(fd)
            if connected { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }
}
