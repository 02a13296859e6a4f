import Foundation
import TestSupport
import XCTest

/// A `sipspan serve` started by a test: its log goes to a file; it is stopped by its PID only.
final class SipspanProcess {
    let process = Process()
    let logPath: String
    private(set) var port: UInt16 = 0

    /// `launcher` runs in front of the binary (e.g. `prlimit --nofile=64 --`).
    init(policy: [String], extraArgs: [String] = [], logPath: String, listenPort: UInt16 = 0, launcher: [String] = []) throws {
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let binary = try sipspanBinary()
        if let tool = launcher.first {
            process.executableURL = URL(fileURLWithPath: try TestSupport.run(["which", tool]).out.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
        }
        let prefix: [String] = launcher.isEmpty ? [] : Array(launcher[1...]) + [binary]
        process.arguments = prefix + ["serve", "--listen", "127.0.0.1:\(listenPort)", "--status", "127.0.0.1:0", "--log-level", "debug"] + policy.flatMap { ["--policy", $0] } + extraArgs
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: UInt16 = 0
        try waitUntil(timeout: 10, "sipspan to listen") {
            guard process.isRunning else { return true }
            found = listeningPort() ?? 0
            return found != 0
        }
        guard process.isRunning else {
            XCTFail("sipspan exited at start:\n\(self.log)")
            throw TimedOut(what: "sipspan start")
        }
        port = found
    }

    var pid: Int32 { process.processIdentifier }

    /// CPU seconds (user + system) the process has used so far, from /proc.
    var cpuSeconds: Double {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime and stime are fields 14 and 15.
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private func listeningPort() -> UInt16? {
        for line in log.split(separator: "\n") where line.contains("listening") {
            if let r = line.range(of: "address=127.0.0.1:") {
                let digits = line[r.upperBound...].prefix { $0.isNumber }
                return UInt16(digits)
            }
        }
        return nil
    }

    /// HOST:PORT of the status endpoint, once logged.
    var statusAddress: String? {
        guard let line = lines(containing: "status endpoint").first, let r = line.range(of: "address=") else { return nil }
        return String(line[r.upperBound...].prefix { !$0.isWhitespace })
    }

    /// Lines of the log containing `text`.
    func lines(containing text: String) -> [String] { log.split(separator: "\n").map(String.init).filter { $0.contains(text) } }

    func signal(_ sig: Int32) { if process.isRunning { kill(pid, sig) } }

    func kill9() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
