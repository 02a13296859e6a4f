import Foundation
import TestSupport
import XCTest

/// The deploy guide followed on two emulated Proxmox nodes: each its own Open vSwitch and per-node
/// sipspan on a unix socket, one policy directory shared like /etc/pve/sipspan, a pmxcfs tree each
/// (identical but for `.members`' nodename, as pmxcfs shows it on each node).
final class ClusterLabTests: XCTestCase {
    struct Node {
        let name: String
        let lab: Lab
        let pve: PVETree
        var socket: String { lab.ovs.dir + "/run/sipspan.sock" }
    }
    var nodes: [Node] = []
    var policyDir: String { nodes[0].lab.policyDir }

    override func setUpWithError() throws {
        for (name, guests) in [("pve1", [(101, 1), (900, 3)]), ("pve2", [(103, 1), (901, 3)])] {
            let lab = try Lab()
            try FileManager.default.createDirectory(atPath: lab.ovs.dir + "/run", withIntermediateDirectories: true)
            let pve = try PVETree(root: lab.ovs.dir + "/pve", localNode: name, nodes: ["pve1": "192.0.2.11", "pve2": "192.0.2.12"])
            nodes.append(Node(name: name, lab: lab, pve: pve))
            try lab.ovs.addBridge("vmbr0", dpid: nil, ports: guests.map { id, port in (id >= 900 ? "tap\(id)i1" : "tap\(id)i0", port, id >= 900 ? 4094 : nil) } + [("bond0", 4, nil)],
                                  pcapPorts: ["tap900i1", "tap901i1", "bond0"])
        }
        // pmxcfs: the same guest configs on every node.
        for n in nodes {
            try n.pve.guest(101, node: "pve1", "name: proxy-a\nnet0: virtio=BC:24:11:00:01:01,bridge=vmbr0\ntags: sip-proxy\n")
            try n.pve.guest(103, node: "pve2", "name: proxy-b\nnet0: virtio=BC:24:11:00:01:03,bridge=vmbr0\ntags: sip-proxy\n")
            try n.pve.guest(900, node: "pve1", "name: mon-a\nnet1: virtio=BC:24:11:00:09:00,bridge=vmbr0,tag=4094,firewall=0\ntags: sip-monitor\n")
            try n.pve.guest(901, node: "pve2", "name: mon-b\nnet1: virtio=BC:24:11:00:09:01,bridge=vmbr0,tag=4094,firewall=0\ntags: sip-monitor\n")
        }
        try nodes[0].lab.writePolicy("carrier.yaml", "monitor: [{tag: sip-monitor, nic: 1}]\nwatch: [{tag: sip-proxy}]\n")
        // Guide step 2 and 3 on each node: per-node sipspan on its socket, the ovs_extra lines.
        for n in nodes {
            n.lab.sipspan = try SipspanProcess(policy: [policyDir], extraArgs: ["--listen", "unix:\(n.socket)", "--pve", n.pve.root],
                                               logPath: n.lab.ovs.dir + "/sipspan.log")
            try n.lab.ovs.vsctl(PerNodeTests.ovsExtra(socket: n.socket).flatMap { ["--"] + $0 })
            try n.lab.waitForFlows("vmbr0", containing: ["in_port=1,tp_dst=5060"])
        }
    }

    override func tearDown() { for n in nodes { n.lab.stop() } }

    private func sip(_ n: Node, from mac: String, ip: String) throws {
        try n.lab.ovs.receive("tap\(n.name == "pve1" ? 101 : 103)i0", Frames.udp4(src: mac, dst: Hosts.far, from: ip, to: Hosts.ipFar, sport: 5060, dport: 5060, inPort: 1))
    }

    func testTheGuideOnTwoNodes() throws {
        // Copies on both nodes, each to its own monitor.
        try sip(nodes[0], from: "bc:24:11:00:01:01", ip: Hosts.ip101)
        try sip(nodes[1], from: "bc:24:11:00:01:03", ip: Hosts.ip103)
        XCTAssertEqual(try nodes[0].lab.capture("tap900i1", atLeast: 1), ["udp \(Hosts.ip101):5060>\(Hosts.ipFar):5060"])
        XCTAssertEqual(try nodes[1].lab.capture("tap901i1", atLeast: 1), ["udp \(Hosts.ip103):5060>\(Hosts.ipFar):5060"])
        for n in nodes {
            XCTAssertEqual(n.lab.sipspan?.currentStatus?.bridges.map(\.displayName), ["\(n.name)/vmbr0"], "\(n.name) names its bridge")
        }

        // One edit of the shared policy directory applies on both nodes.
        try nodes[0].lab.writePolicy("carrier.yaml", "monitor: [{tag: sip-monitor, nic: 1}]\nwatch: [{tag: sip-proxy}]\ntraffic: [udp/5060, udp/5080]\n")
        for n in nodes { try n.lab.waitForFlows("vmbr0", containing: ["tp_dst=5080"], timeout: 3) }

        // ifreload -a on pve2 under a stream of frames: nothing lost, nothing re-added.
        let n2 = nodes[1]
        let before = try n2.lab.ovs.flows("vmbr0")
        let sentBefore = readPcap(n2.lab.ovs.pcap("bond0")).count
        let frame = Frames.udp4(src: "bc:24:11:00:01:03", dst: Hosts.far, from: Hosts.ip103, to: Hosts.ipFar, sport: 40000, dport: 40002, inPort: 1)
        let injector = Process()
        injector.executableURL = URL(fileURLWithPath: "/bin/bash")
        injector.arguments = ["-c", "for i in $(seq 200); do ovs-appctl -t '\(n2.lab.ovs.ctl)' netdev-dummy/receive tap103i0 \"$1\" >/dev/null || exit 1; done", "inject", frame]
        injector.environment = ProcessInfo.processInfo.environment.merging(n2.lab.ovs.env) { $1 }
        try injector.run()
        try waitUntil(timeout: 5, "the stream starts") { readPcap(n2.lab.ovs.pcap("bond0")).count > sentBefore + 20 }
        try n2.lab.ovs.vsctl(PerNodeTests.ifreloadTransaction(socket: n2.socket))
        injector.waitUntilExit()
        try waitUntil(timeout: 5, "all frames counted") { readPcap(n2.lab.ovs.pcap("bond0")).count >= sentBefore + 200 }
        XCTAssertEqual(readPcap(n2.lab.ovs.pcap("bond0")).count - sentBefore, 200, "no frame lost across ifreload")
        XCTAssertEqual(try n2.lab.ovs.flows("vmbr0"), before)

        // ovs-vswitchd restarted on pve1: forwarding and copies back within a second.
        let n1 = nodes[0]
        n1.lab.ovs.killVSwitchd()
        try? FileManager.default.removeItem(atPath: n1.lab.ovs.pcap("tap900i1"))
        try? FileManager.default.removeItem(atPath: n1.lab.ovs.pcap("bond0"))
        let started = Date()
        try n1.lab.ovs.startVSwitchd()
        var back: Double? = nil
        while back == nil, Date().timeIntervalSince(started) < 20 {
            try? sip(n1, from: "bc:24:11:00:01:01", ip: Hosts.ip101)
            if !readPcap(n1.lab.ovs.pcap("tap900i1")).isEmpty && !readPcap(n1.lab.ovs.pcap("bond0")).isEmpty { back = Date().timeIntervalSince(started) }
            else { Thread.sleep(forTimeInterval: 0.01) }
        }
        let t = try XCTUnwrap(back)
        print(String(format: "pve1: ovs-vswitchd restart -> forwarding and copies in %.3f s", t))
        XCTAssertLessThan(t, 1.0)
        // pve2 never noticed.
        XCTAssertEqual(n2.lab.sipspan?.currentStatus?.totals.disconnects, 0)
    }
}
