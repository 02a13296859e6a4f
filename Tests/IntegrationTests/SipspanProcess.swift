import Controller
import ControllerCore
import Foundation
import TestSupport
import XCTest

/// A `sipspan serve` started by a test: its log goes to a file; it is stopped by its PID only.
final class SipspanProcess {
    let process = Process()
    let logPath: String
    /// The unix status endpoint the harness reads state from (never the log).
    let statusSocket: String
    private(set) var port: UInt16 = 0
    nonisolated(unsafe) private static var started = 0

    /// `launcher` runs in front of the binary (e.g. `prlimit --nofile=64 --`).
    init(policy: [String], extraArgs: [String] = [], logPath: String, listenPort: UInt16 = 0, launcher: [String] = []) throws {
        self.logPath = logPath
        SipspanProcess.started += 1
        statusSocket = (logPath as NSString).deletingLastPathComponent + "/status-\(getpid())-\(SipspanProcess.started).sock"
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
        process.arguments = prefix + ["serve", "--listen", "127.0.0.1:\(listenPort)", "--status", "unix:\(statusSocket)", "--status", "127.0.0.1:0", "--log-level", "debug"] + policy.flatMap { ["--policy", $0] } + extraArgs
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var found: UInt16 = 0
        try waitUntil(timeout: 10, "sipspan to listen") {
            guard process.isRunning else { return true }
            found = (try? status()).flatMap(SipspanProcess.tcpPort) ?? 0
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

    /// What `sipspan status` would show, read from the unix status endpoint.
    func status() throws -> ControllerStatus {
        try JSONDecoder().decode(ControllerStatus.self, from: Data(StatusClient.request("unix:\(statusSocket)", path: "/status")))
    }

    /// The status, or nil while the endpoint does not answer (starting, stopped).
    var currentStatus: ControllerStatus? { try? status() }

    /// The first plain TCP listener's port.
    private static func tcpPort(_ s: ControllerStatus) -> UInt16? {
        s.listening.first { $0.hasPrefix("127.0.0.1:") }.flatMap { UInt16($0.dropFirst("127.0.0.1:".count)) }
    }

    /// The port of the `ssl:` listener, if any.
    var sslPort: UInt16? {
        currentStatus?.listening.first { $0.hasPrefix("ssl:127.0.0.1:") }.flatMap { UInt16($0.dropFirst("ssl:127.0.0.1:".count)) }
    }

    /// HOST:PORT of the TCP status endpoint.
    var statusAddress: String? { currentStatus?.statusEndpoints.first { !$0.hasPrefix("unix:") } }

    /// The connection serving datapath `dpid` (16 hex digits), once it is served (state ready).
    func bridge(_ dpid: UInt64) -> BridgeStatus? {
        currentStatus?.bridges.first { $0.datapathID == String(format: "%016llx", dpid) && $0.state == .ready }
    }

    /// The counters since start.
    var totals: ControllerTotals { currentStatus?.totals ?? ControllerTotals() }

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
