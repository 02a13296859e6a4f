import Foundation
import TestSupport
import XCTest

/// A test's world: a private OVS, a policy directory and (once started) a sipspan serving them.
final class Lab {
    let ovs: OVSSandbox
    let policyDir: String
    /// The sipspan started last.
    var sipspan: SipspanProcess? {
        get { started.last }
        set { if let s = newValue, !started.contains(where: { $0 === s }) { started.append(s) } }
    }
    /// Every sipspan this lab started; all are stopped (by PID) at the end.
    private var started: [SipspanProcess] = []
    private var logCount = 0

    init() throws {
        ovs = try OVSSandbox()
        policyDir = ovs.dir + "/policies"
        try FileManager.default.createDirectory(atPath: policyDir, withIntermediateDirectories: true)
    }

    func writePolicy(_ name: String, _ text: String) throws {
        try text.write(toFile: "\(policyDir)/\(name)", atomically: true, encoding: .utf8)
    }

    @discardableResult
    func startSipspan(extraArgs: [String] = [], listenPort: UInt16 = 0, launcher: [String] = []) throws -> SipspanProcess {
        logCount += 1
        let s = try SipspanProcess(policy: [policyDir], extraArgs: extraArgs, logPath: "\(ovs.dir)/sipspan-\(logCount).log", listenPort: listenPort, launcher: launcher)
        sipspan = s
        return s
    }

    /// Starts sipspan, points `bridge` at it and waits until the bridge carries flows containing `containing`.
    @discardableResult
    func startSipspanControlling(_ bridge: String = "vmbr0", containing: [String], extraArgs: [String] = []) throws -> SipspanProcess {
        let s = try startSipspan(extraArgs: extraArgs)
        try ovs.setController(bridge, port: s.port)
        try waitForFlows(bridge, containing: containing)
        return s
    }

    /// Waits until the bridge holds sipspan's NORMAL flow and `flowCount` of its flows (if given).
    func waitForFlows(_ bridge: String, count: Int? = nil, containing: [String] = [], timeout: Double = 10) throws {
        try waitUntil(timeout: timeout, "flows on \(bridge) (count \(count.map(String.init) ?? "any"), containing \(containing))") {
            let flows = try ovs.flows(bridge).filter { $0.contains("cookie=0x51959a40") }
            guard flows.contains(where: { $0.contains("priority=0 actions=NORMAL") }) else { return false }
            if let count, flows.count != count { return false }
            return containing.allSatisfy { c in flows.contains { $0.contains(c) } }
        }
    }

    /// Waits until `pcap` holds at least `count` frames, then a little longer to catch any extra copy.
    func capture(_ port: String, atLeast count: Int, settle: Double = 0.3) throws -> [String] {
        let path = ovs.pcap(port)
        if count > 0 { try waitUntil(timeout: 5, "\(count) frames on \(port)") { readPcap(path).count >= count } }
        Thread.sleep(forTimeInterval: settle)
        return readPcap(path).map(\.summary).sorted()
    }

    func stop() {
        for s in started {
            s.stop()
            if ProcessInfo.processInfo.environment["SIPSPAN_SHOW_LOG"] != nil { print(s.log) }
        }
        ovs.stop()
    }
}

/// Guest and uplink addresses used across scenarios.
enum Hosts {
    static let vm101 = "bc:24:11:00:01:01", vm103 = "bc:24:11:00:01:03", vm104 = "bc:24:11:00:01:04", far = "bc:24:11:00:0f:0f"
    static let ip101 = "10.9.0.101", ip103 = "10.9.0.103", ip104 = "10.9.0.104", ipFar = "10.9.0.250"
    static let ip6101 = "fd00::101", ip6Far = "fd00::250"
    static let ip6101Hex = "fd000000000000000000000000000101", ip6FarHex = "fd000000000000000000000000000250"
}
