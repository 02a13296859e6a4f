import Foundation
import TestSupport
import XCTest

/// Collectors and port ranges on a real ovs-vswitchd: what OVS installs, what it would do with a
/// frame (ofproto/trace), a restart that changes nothing, a VM migrated to another node.
final class CollectorTests: XCTestCase {
    var labs: [Lab] = []
    override func tearDown() { for l in labs { l.stop() } }

    static let policy = "monitor:\n  - collector: 172.31.0.2\n    session_id: 7\nwatch: [{vm: 101}]\ntraffic: [udp/5060-5090]\n"

    /// A node: vmbr0 with VM 101 on `vmPort` (or not), an uplink and the tunnel port sipspan0.
    private func node(withVM: Bool) throws -> Lab {
        let lab = try Lab()
        labs.append(lab)
        var ports: [(name: String, ofport: Int, tag: Int?)] = [("bond0", 4, nil), ("sipspan0", 9, nil)]
        if withVM { ports.append(("tap101i0", 1, nil)) }
        try lab.ovs.addBridge("vmbr0", dpid: nil, ports: ports)
        try lab.writePolicy("p.yaml", Self.policy)
        return lab
    }

    private func trace(_ lab: Lab, inPort: Int, sport: Int, dport: Int) throws -> String {
        try lab.ovs.appctl(["ofproto/trace", "vmbr0", "in_port=\(inPort),udp,dl_src=\(Hosts.vm101),dl_dst=\(Hosts.far),nw_src=\(Hosts.ip101),nw_dst=\(Hosts.ipFar),udp_src=\(sport),udp_dst=\(dport)"])
    }

    func testOVSTunnelsTheRangeAndARestartChangesNothing() throws {
        let lab = try node(withVM: true)
        let first = try lab.startSipspanControlling(containing: ["tun_dst"])
        for (sport, dport, copied) in [(5075, 40000, true), (40000, 5090, true), (40000, 5091, false), (5059, 40000, false)] {
            let t = try trace(lab, inPort: 1, sport: sport, dport: dport)
            XCTAssertEqual(t.contains("set_field:172.31.0.2->tun_dst") && t.contains("output:9"), copied, "\(sport)->\(dport):\n\(t)")
        }
        let flows = try lab.ovs.flows("vmbr0")
        XCTAssertTrue(flows.contains { $0.contains("tp_src=0x13c8/0xfff8") }, "masked ports as OVS reports them:\n\(flows.joined(separator: "\n"))")
        XCTAssertTrue(flows.contains { $0.contains("in_port=9") && $0.contains("actions=drop") }, "nothing enters from the tunnel")
        // Restart: what OVS reports back (masks, set_field of Nicira fields) compares equal: nothing re-sent.
        first.stop()
        let second = try lab.startSipspan()
        try lab.ovs.setController("vmbr0", port: second.port)
        try waitUntil(timeout: 10, "the restarted sipspan confirms the bridge") { second.currentStatus?.bridges.first?.confirmed ?? false }
        XCTAssertEqual(second.totals.changesApplied, 0, "no flow changed after a restart:\n\(second.log)")
        XCTAssertEqual(try lab.ovs.flows("vmbr0"), flows)
    }

    func testAMigratedVMKeepsSendingToTheSameCollector() throws {
        let source = try node(withVM: true), target = try node(withVM: false)
        try source.startSipspanControlling(containing: ["tun_dst"])
        try target.startSipspanControlling(containing: ["priority=0 actions=NORMAL"])
        XCTAssertTrue(try trace(source, inPort: 1, sport: 5060, dport: 5060).contains("set_field:172.31.0.2->tun_dst"))
        // Live migration: the target plugs the same port name while the source still has it; the source's goes last.
        try target.ovs.vsctl(["add-port", "vmbr0", "tap101i0", "--", "set", "interface", "tap101i0", "type=dummy", "ofport_request=6"])
        try target.waitForFlows("vmbr0", containing: ["in_port=6,", "tun_dst"])
        try source.ovs.vsctl(["del-port", "tap101i0"])
        let t = try trace(target, inPort: 6, sport: 5060, dport: 5060)
        XCTAssertTrue(t.contains("set_field:172.31.0.2->tun_dst") && t.contains("set_field:0x7->tun_id") && t.contains("output:9"), t)
        try waitUntil(timeout: 3, "the source forgets the VM") { try !source.ovs.flows("vmbr0").contains { $0.contains("in_port=1,") } }
    }
}
