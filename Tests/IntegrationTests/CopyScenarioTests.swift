import Foundation
import TestSupport
import XCTest

/// Issue 3's scenario on a real ovs-vswitchd: the monitor receives exactly the SIP copies, once each.
final class CopyScenarioTests: XCTestCase {
    var lab: Lab!

    override func setUpWithError() throws {
        lab = try Lab()
    }

    override func tearDown() {
        lab?.stop()
    }

    private func node(tag101: Int? = nil) throws {
        try lab.ovs.addBridge("vmbr0", dpid: 1, ports: [
            ("tap101i0", 1, tag101), ("tap104i0", 2, tag101), ("tap900i1", 3, 4094), ("bond0", 4, nil),
        ], pcapPorts: ["tap900i1", "bond0", "tap101i0"])
    }

    private func learn101(inPort: Int = 1) throws {
        try lab.ovs.receive("tap101i0", Frames.arp(src: Hosts.vm101, from: Hosts.ip101, to: Hosts.ipFar, inPort: inPort))
        try lab.waitForFlows("vmbr0", containing: ["dl_src=\(Hosts.vm101)", "dl_dst=\(Hosts.vm101)"])
    }

    func testMonitorReceivesExactlyTheWatchedVMsSIPOnce() throws {
        try node()
        try lab.writePolicy("proxies.yaml", """
            monitor:
              - vm: 900
                nic: 1
            watch:
              - vm: 101
            """)
        let s = try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"])
        try learn101()
        // The uplink announces itself so NORMAL knows where the far end is.
        try lab.ovs.receive("bond0", Frames.arp(src: Hosts.far, from: Hosts.ipFar, to: Hosts.ip101, inPort: 4))

        let o = lab.ovs
        let (v, f, i1, iF) = (Hosts.vm101, Hosts.far, Hosts.ip101, Hosts.ipFar)
        // Copied: SIP sent by VM 101 (v4, v6), SIP sent to it from the uplink (to 5060 from 5060 and from another port, v6).
        try o.receive("tap101i0", Frames.udp4(src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060, inPort: 1))
        try o.receive("tap101i0", Frames.udp6(src: v, dst: f, from: Hosts.ip6101, to: Hosts.ip6Far, sport: 5060, dport: 5060, inPort: 1))
        try o.receive("bond0", Frames.udp4(src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060, inPort: 4))
        try o.receive("bond0", Frames.udp4(src: f, dst: v, from: iF, to: i1, sport: 33333, dport: 5060, inPort: 4))
        try o.receive("bond0", Frames.udp6(src: f, dst: v, from: Hosts.ip6Far, to: Hosts.ip6101, sport: 33333, dport: 5060, inPort: 4))
        try o.receive("tap101i0", Frames.udp4(src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5080, inPort: 1))
        // Not copied: RTP of VM 101, SIP of VM 104, ARP broadcasts, a broadcast tagged 4094 from the uplink, TCP SIP (not in traffic).
        try o.receive("tap101i0", Frames.udp4(src: v, dst: f, from: i1, to: iF, sport: 10000, dport: 20000, inPort: 1))
        try o.receive("bond0", Frames.udp4(src: f, dst: v, from: iF, to: i1, sport: 20000, dport: 10000, inPort: 4))
        try o.receive("tap104i0", Frames.udp4(src: Hosts.vm104, dst: f, from: Hosts.ip104, to: iF, sport: 5060, dport: 5060, inPort: 2))
        try o.receive("bond0", Frames.udp4(src: f, dst: Hosts.vm104, from: iF, to: Hosts.ip104, sport: 5060, dport: 5060, inPort: 4))
        try o.receive("tap104i0", Frames.arp(src: Hosts.vm104, from: Hosts.ip104, to: iF, inPort: 2))
        try o.receive("bond0", Frames.arp(src: f, from: iF, to: Hosts.ip104, inPort: 4, vlan: 4094))
        try o.receive("tap101i0", Frames.tcp4(src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060, inPort: 1))

        let monitor = try lab.capture("tap900i1", atLeast: 6)
        XCTAssertEqual(monitor, [
            "udp \(iF):33333>\(i1):5060",
            "udp \(iF):5060>\(i1):5060",
            "udp \(i1):5060>\(iF):5060",
            "udp \(i1):5060>\(iF):5080",
            "udp6 \(Hosts.ip6FarHex):33333>\(Hosts.ip6101Hex):5060",
            "udp6 \(Hosts.ip6101Hex):5060>\(Hosts.ip6FarHex):5060",
        ].sorted(), "monitor must hold exactly the six SIP copies")

        // Forwarding is unaffected: the uplink got what the VMs sent, the VM what the uplink sent it.
        let uplink = try lab.capture("bond0", atLeast: 1, settle: 0)
        for expected in ["udp \(i1):5060>\(iF):5060", "udp \(i1):10000>\(iF):20000", "udp \(Hosts.ip104):5060>\(iF):5060",
                         "udp6 \(Hosts.ip6101Hex):5060>\(Hosts.ip6FarHex):5060", "tcp \(i1):5060>\(iF):5060"] {
            XCTAssertEqual(uplink.filter { $0 == expected }.count, 1, "uplink should carry \(expected) once; got \(uplink)")
        }
        let vm = try lab.capture("tap101i0", atLeast: 1, settle: 0)
        for expected in ["udp \(iF):5060>\(i1):5060", "udp \(iF):33333>\(i1):5060", "udp \(iF):20000>\(i1):10000"] {
            XCTAssertEqual(vm.filter { $0 == expected }.count, 1, "VM 101 should receive \(expected) once; got \(vm)")
        }
        XCTAssertFalse(vm.contains { $0.hasPrefix("vlan4094") }, "a frame tagged 4094 must not leak")
        XCTAssertFalse(s.lines(containing: "bridge connected").isEmpty, "a connect line is logged")
    }

    func testFragmentedSIPIsCopiedWhole() throws {
        try node()
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"])
        try learn101()
        let (v, f, i1, iF) = (Hosts.vm101, Hosts.far, Hosts.ip101, Hosts.ipFar)
        // A large INVITE from VM 101 and a large 200 OK to it, each in two fragments; VM 104's fragments are not copied.
        for first in [true, false] {
            try lab.ovs.receive("tap101i0", Frames.udp4Fragment(src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060, inPort: 1, first: first))
            try lab.ovs.receive("bond0", Frames.udp4Fragment(src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060, inPort: 4, first: first))
            try lab.ovs.receive("tap104i0", Frames.udp4Fragment(src: Hosts.vm104, dst: f, from: Hosts.ip104, to: iF, sport: 5060, dport: 5060, inPort: 2, first: first))
        }
        let monitor = readPcapAfter(count: 4)
        XCTAssertEqual(monitor.filter { $0.src == i1 }.count, 2, "both fragments sent by VM 101: \(monitor)")
        XCTAssertEqual(monitor.filter { $0.dst == i1 }.count, 2, "both fragments sent to VM 101: \(monitor)")
        XCTAssertEqual(monitor.count, 4, "nothing of VM 104: \(monitor)")
    }

    private func readPcapAfter(count: Int) -> [CapturedFrame] {
        _ = try? lab.capture("tap900i1", atLeast: count)
        return readPcap(lab.ovs.pcap("tap900i1"))
    }

    func testVLANAccessPortCopiesArriveUntagged() throws {
        try node(tag101: 10)
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"])
        try learn101()
        let (v, f, i1, iF) = (Hosts.vm101, Hosts.far, Hosts.ip101, Hosts.ipFar)
        try lab.ovs.receive("bond0", Frames.arp(src: f, from: iF, to: i1, inPort: 4, vlan: 10))
        // Tagged on the trunk uplink, to the VM's access port; and untagged from the VM.
        try lab.ovs.receive("bond0", Frames.udp4(src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060, inPort: 4, vlan: 10))
        try lab.ovs.receive("tap101i0", Frames.udp4(src: v, dst: f, from: i1, to: iF, sport: 5062, dport: 5060, inPort: 1))
        let monitor = try lab.capture("tap900i1", atLeast: 2)
        XCTAssertEqual(monitor, ["udp \(iF):5060>\(i1):5060", "udp \(i1):5062>\(iF):5060"].sorted(), "copies arrive untagged, once each")
        let vm = try lab.capture("tap101i0", atLeast: 1, settle: 0)
        XCTAssertTrue(vm.contains("udp \(iF):5060>\(i1):5060"), "the VM gets the frame untagged: \(vm)")
        let uplink = try lab.capture("bond0", atLeast: 1, settle: 0)
        XCTAssertTrue(uplink.contains("vlan10 udp \(i1):5062>\(iF):5060"), "the uplink gets the VM's frame tagged 10: \(uplink)")
    }

    func testFrameBetweenTwoWatchedVMsIsCopiedOncePerMonitor() throws {
        try lab.ovs.addBridge("vmbr0", dpid: 2, ports: [
            ("tap101i0", 1, nil), ("tap103i0", 2, nil), ("tap900i1", 3, 4094), ("tap901i1", 5, 4094), ("bond0", 4, nil),
        ], pcapPorts: ["tap900i1", "tap901i1"])
        // Session a: 101 and 103 to monitor 900. Session b: 103 to monitor 901.
        try lab.writePolicy("a.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}, {vm: 103}]\n")
        try lab.writePolicy("b.yaml", "monitor: [{vm: 901, nic: 1}]\nwatch: [{vm: 103}]\n")
        try lab.startSipspanControlling(containing: ["in_port=2,tp_dst=5060"])
        try lab.ovs.receive("tap101i0", Frames.arp(src: Hosts.vm101, from: Hosts.ip101, to: Hosts.ip103, inPort: 1))
        try lab.ovs.receive("tap103i0", Frames.arp(src: Hosts.vm103, from: Hosts.ip103, to: Hosts.ip101, inPort: 2))
        try lab.waitForFlows("vmbr0", containing: ["dl_src=\(Hosts.vm101)", "dl_src=\(Hosts.vm103)", "in_port=1,dl_dst=\(Hosts.vm103)"])
        try lab.ovs.receive("tap101i0", Frames.udp4(src: Hosts.vm101, dst: Hosts.vm103, from: Hosts.ip101, to: Hosts.ip103, sport: 5060, dport: 5060, inPort: 1))
        try lab.ovs.receive("tap103i0", Frames.udp4(src: Hosts.vm103, dst: Hosts.vm101, from: Hosts.ip103, to: Hosts.ip101, sport: 5060, dport: 5060, inPort: 2))
        let m900 = try lab.capture("tap900i1", atLeast: 2)
        let m901 = try lab.capture("tap901i1", atLeast: 2, settle: 0)
        let both = ["udp \(Hosts.ip101):5060>\(Hosts.ip103):5060", "udp \(Hosts.ip103):5060>\(Hosts.ip101):5060"].sorted()
        XCTAssertEqual(m900, both, "monitor 900 watches both VMs: each frame once")
        XCTAssertEqual(m901, both, "monitor 901 watches 103, which sent one frame and received the other: each once")
    }

    func testBridgeWithoutMonitorForwardsAndSaysSo() throws {
        try lab.ovs.addBridge("vmbr0", dpid: 3, ports: [("tap101i0", 1, nil), ("bond0", 4, nil)], pcapPorts: ["bond0"])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\n")
        let s = try lab.startSipspan()
        try lab.ovs.setController("vmbr0", port: s.port)
        try lab.waitForFlows("vmbr0", count: 1)
        try lab.ovs.receive("tap101i0", Frames.udp4(src: Hosts.vm101, dst: Hosts.far, from: Hosts.ip101, to: Hosts.ipFar, sport: 5060, dport: 5060, inPort: 1))
        XCTAssertEqual(try lab.capture("bond0", atLeast: 1), ["udp \(Hosts.ip101):5060>\(Hosts.ipFar):5060"], "NORMAL forwards")
        try waitUntil("a log line about the missing monitor") { !s.lines(containing: "no monitor").isEmpty }
    }
}
