import Foundation
import TestSupport
import XCTest

/// A private Open vSwitch (ovsdb-server + ovs-vswitchd with the dummy datapath) in a temp dir.
///
/// Nothing outside the temp dir is touched; stop() kills only the two daemons it started, by the
/// PIDs in their pidfiles.
final class OVSSandbox {
    let dir: String
    private(set) var vswitchdPID: Int32 = 0
    private(set) var ovsdbPID: Int32 = 0
    var env: [String: String] { ["OVS_RUNDIR": dir, "OVS_LOGDIR": dir, "OVS_DBDIR": dir] }
    var db: String { "unix:\(dir)/db.sock" }

    init() throws {
        for tool in ["ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "ovsdb-tool"] {
            guard (try? run(["which", tool], check: false))?.status == 0 else {
                XCTFail("\(tool) not found: install openvswitch-switch (the README's setup does)")
                throw TimedOut(what: tool)
            }
        }
        dir = try run(["mktemp", "-d", "/tmp/sipspan-ovs.XXXXXX"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        try run(["ovsdb-tool", "create", "\(dir)/conf.db", "/usr/share/openvswitch/vswitch.ovsschema"], env: env)
        try run(["ovsdb-server", "--remote=punix:\(dir)/db.sock", "--pidfile=\(dir)/ovsdb-server.pid", "--detach",
                 "--log-file=\(dir)/ovsdb.log", "\(dir)/conf.db"], env: env, daemon: true)
        ovsdbPID = Self.readPID("\(dir)/ovsdb-server.pid")
        try run(["ovs-vsctl", "--db=\(db)", "--no-wait", "init"], env: env)
        try startVSwitchd()
    }

    func startVSwitchd() throws {
        try run(["ovs-vswitchd", db, "--pidfile=\(dir)/ovs-vswitchd.pid", "--detach", "--log-file=\(dir)/vswitchd.log",
                 "--enable-dummy=override", "--disable-system"], env: env, daemon: true)
        vswitchdPID = Self.readPID("\(dir)/ovs-vswitchd.pid")
    }

    /// Kills ovs-vswitchd (SIGKILL), as a crash would.
    func killVSwitchd() {
        if vswitchdPID > 0 { kill(vswitchdPID, SIGKILL); waitGone(vswitchdPID) }
        vswitchdPID = 0
    }

    static func readPID(_ path: String) -> Int32 {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// Waits until `pid` has exited. A daemon is reparented to PID 1, which may not reap it here, so a
    /// zombie ("Z" in /proc/PID/stat) counts as gone.
    private func waitGone(_ pid: Int32) {
        func alive() -> Bool {
            guard kill(pid, 0) == 0 else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return false }
            return !stat[close...].hasPrefix(") Z")
        }
        for _ in 0..<300 where alive() { Thread.sleep(forTimeInterval: 0.01) }
    }

    var ctl: String { "\(dir)/ovs-vswitchd.\(vswitchdPID).ctl" }

    @discardableResult
    func vsctl(_ args: [String]) throws -> String { try run(["ovs-vsctl", "--db=\(db)", "--timeout=10"] + args, env: env).out }

    @discardableResult
    func ofctl(_ args: [String]) throws -> String { try run(["ovs-ofctl", "-O", "OpenFlow13"] + args, env: env).out }

    @discardableResult
    func appctl(_ args: [String]) throws -> String { try run(["ovs-appctl", "-t", ctl] + args, env: env).out }

    /// A bridge emulating a Proxmox node's vmbr0 with dummy ports. Each port: (name, ofport, tag, options).
    /// `dpid` nil: OVS derives the datapath id itself, as on a Proxmox node (ifupdown2 clears other_config).
    func addBridge(_ name: String, dpid: UInt64?, ports: [(name: String, ofport: Int, tag: Int?)], pcapPorts: Set<String> = []) throws {
        var args = ["add-br", name, "--", "set", "bridge", name, "datapath_type=dummy", "protocols=OpenFlow13", "fail-mode=standalone"]
        if let dpid { args.append("other-config:datapath-id=\(String(format: "%016llx", dpid))") }
        for p in ports {
            args += ["--", "add-port", name, p.name] + (p.tag.map { ["tag=\($0)"] } ?? [])
            args += ["--", "set", "interface", p.name, "type=dummy", "ofport_request=\(p.ofport)"]
            if pcapPorts.contains(p.name) { args += ["options:tx_pcap=\(pcap(p.name))"] }
        }
        try vsctl(args)
    }

    func pcap(_ port: String) -> String { "\(dir)/\(port).pcap" }

    func setController(_ bridge: String, port: UInt16) throws {
        try vsctl(["set-controller", bridge, "tcp:127.0.0.1:\(port)", "--", "set", "controller", bridge, "inactivity_probe=5000"])
    }

    /// One column of a bridge as `ovs-vsctl get` prints it.
    func bridgeColumn(_ bridge: String, _ column: String) throws -> String {
        try vsctl(["get", "bridge", bridge, column]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Injects a frame as if it had arrived on `port` (ovs-appctl netdev-dummy/receive, flow syntax).
    func receive(_ port: String, _ flow: String) throws { try appctl(["netdev-dummy/receive", port, flow]) }

    /// Flows of a bridge without counters and durations, sorted: comparable across runs.
    func flows(_ bridge: String) throws -> [String] {
        try ofctl(["--no-stats", "--sort", "dump-flows", bridge]).split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("OFPST") }
    }

    /// Flows with counters (n_packets), keyed by everything but the counters and duration.
    func flowCounters(_ bridge: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for line in try ofctl(["dump-flows", bridge]).split(separator: "\n") where line.contains("cookie=") {
            var packets = 0
            let kept = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { part in
                if part.hasPrefix("n_packets=") { packets = Int(part.dropFirst(10)) ?? 0; return false }
                return !(part.hasPrefix("duration=") || part.hasPrefix("n_bytes=") || part.hasPrefix("idle_age=") || part.hasPrefix("hard_age="))
            }
            result[kept.joined(separator: ",")] = packets
        }
        return result
    }

    func stop() {
        killVSwitchd()
        if ovsdbPID > 0 { kill(ovsdbPID, SIGTERM); waitGone(ovsdbPID) }
        if ProcessInfo.processInfo.environment["SIPSPAN_KEEP_SANDBOX"] == nil {
            try? FileManager.default.removeItem(atPath: dir)
        }
    }
}
