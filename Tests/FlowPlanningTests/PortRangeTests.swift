import FlowPlanning
import OpenFlow
import Policy
import XCTest

/// `traffic` port ranges compiled to masked matches, and copies to collectors.
final class PortRangeTests: XCTestCase {
    /// Every port of 0…65535 against the prefixes of a range: inside, exactly one matches; outside, none.
    func testRangesBecomeExactPrefixSetsExhaustively() {
        for (first, last) in [(5060, 5090), (5060, 5060), (1, 65535), (1024, 2047), (1023, 2048), (65535, 65535), (5061, 5062), (40000, 40001)] {
            let prefixes = portPrefixes(UInt16(first), UInt16(last))
            for port in 0...65535 {
                let hits = prefixes.filter { UInt16(port) & $0.mask == $0.value & $0.mask }.count
                XCTAssertEqual(hits, (first...last).contains(port) ? 1 : 0, "port \(port) in \(first)-\(last): \(prefixes)")
                if hits > 1 || ((first...last).contains(port) && hits == 0) { return }
            }
        }
        XCTAssertEqual(portPrefixes(5060, 5090).count, 5, "5060-5063, 5064-5071, 5072-5087, 5088-5089, 5090: the fewest aligned blocks")
        XCTAssertEqual(portPrefixes(1024, 2047).count, 1)
    }

    func testOverlappingEntriesAreMerged() {
        let merged = TrafficClass.merged([TrafficClass(.udp, 5060, 5070), TrafficClass(.udp, 5065, 5090), TrafficClass(.tcp, 5060), TrafficClass(.udp, 5091)])
        XCTAssertEqual(merged.map(\.description), ["udp/5060-5091", "tcp/5060"])
    }

    let node: [String: UInt32] = ["tap101i0": 1, "tap104i0": 2, "tap900i1": 3, "bond0": 4, "sipspan0": 9]

    func testEveryPortOfARangeIsCopiedExactlyOnce() {
        let s = MirrorSession(name: "r", file: "r.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), traffic: [TrafficClass(.udp, 5060, 5090)])
        let plan = FlowPlanner().plan(policy: PolicySet([s]), ports: node, macs: GuestMACTable())
        let copies = plan.flows.filter { $0.cookie == FlowCookie.cookie(.copy) && $0.match.inPort == 1 && !$0.match.fields.contains(.ipFragLater) }
        XCTAssertEqual(copies.count, 5 * 2 * 2, "5 prefixes × src/dst × v4/v6")
        // For each port and direction, exactly one v4 flow matches.
        for port in UInt16(5000)...UInt16(5200) {
            let v4 = copies.filter { $0.match.value(of: .ethType)?.integer == 0x0800 }
            let bySrc = v4.filter { f in f.match.fields.contains { $0.basic == .udpSrc && port & mask($0) == UInt16($0.integer) & mask($0) } }
            XCTAssertEqual(bySrc.count, (5060...5090).contains(port) ? 1 : 0, "udp_src \(port)")
        }
    }

    private func mask(_ f: OXMField) -> UInt16 { f.mask.map { UInt16($0[0]) << 8 | UInt16($0[1]) } ?? 0xffff }

    func testOverlappingClassesOfTwoSessionsCopyOnceToTheUnion() {
        // Session a: udp/5060 to monitor 900; session b: udp/5060-5070 to monitor 901 (port tap901i1 = 5).
        var ports = node; ports["tap901i1"] = 5
        let a = MirrorSession(name: "a", file: "a.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]))
        let b = MirrorSession(name: "b", file: "b.yaml", monitors: [.vm(901, nic: 1)], watch: .ports([.vm(101, nic: nil)]), traffic: [TrafficClass(.udp, 5060, 5070)])
        let plan = FlowPlanner().plan(policy: PolicySet([a, b]), ports: ports, macs: GuestMACTable())
        let v4src = plan.flows.filter { $0.priority == FlowPriority.copyFromGuest && $0.match.inPort == 1 && $0.match.value(of: .ethType)?.integer == 0x0800 }
        for port in UInt16(5055)...UInt16(5075) {
            let hits = v4src.filter { f in f.match.fields.contains { $0.basic == .udpSrc && port & mask($0) == UInt16($0.integer) & mask($0) } }
            XCTAssertLessThanOrEqual(hits.count, 1, "port \(port): one flow, never two competing")
            guard let f = hits.first else { XCTAssertFalse((5060...5070).contains(port), "port \(port) not copied"); continue }
            let id = f.instructions.compactMap { if case let .writeMetadata(v, _) = $0 { return v }; return nil }.first
            XCTAssertEqual(id, port == 5060 ? deliveryID([3, 5]) : deliveryID([5]), "port \(port) goes to \(port == 5060 ? "both monitors" : "b's monitor")")
        }
    }

    func testCollectorsGetCopiesThroughTheirTunnelPort() {
        let c = Collector(address: [192, 0, 2, 50], sessionID: 7)
        let s = MirrorSession(name: "c", file: "c.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), collectors: [c])
        let plan = FlowPlanner().plan(policy: PolicySet([s]), ports: node, macs: GuestMACTable())
        let targets: [DeliveryTarget] = [.port(3), .tunnel(port: 9, address: [192, 0, 2, 50], key: 7)]
        let delivery = plan.flows.filter { $0.table == 1 && $0.match.value(of: .metadata)?.integer == deliveryID(targets) }
        XCTAssertEqual(delivery.count, 2)
        XCTAssertTrue(delivery.contains { $0.description.hasSuffix("actions=output:3,set_field:192.0.2.50->tun_dst,set_field:0x7->tun_id,output:9") }, "\(delivery)")
        XCTAssertTrue(delivery.contains { $0.description.hasSuffix("actions=pop_vlan,output:3,set_field:192.0.2.50->tun_dst,set_field:0x7->tun_id,output:9") }, "\(delivery)")
        XCTAssertTrue(plan.flows.contains { $0.priority == FlowPriority.guardDrop && $0.match.inPort == 9 }, "nothing enters from the tunnel")
        // A bridge without the tunnel port: reported, the local monitor still served.
        var noTunnel = node; noTunnel["sipspan0"] = nil
        let other = FlowPlanner().plan(policy: PolicySet([s]), ports: noTunnel, macs: GuestMACTable())
        XCTAssertTrue(other.notices.contains { $0.contains("needs the tunnel port 'sipspan0'") }, "\(other.notices)")
        XCTAssertTrue(other.flows.contains { $0.table == 1 && $0.match.value(of: .metadata)?.integer == 3 })
        // Only a collector, no local monitor: still copies.
        let only = MirrorSession(name: "o", file: "o.yaml", monitors: [], watch: .ports([.vm(101, nic: nil)]), collectors: [c])
        XCTAssertTrue(FlowPlanner().plan(policy: PolicySet([only]), ports: node, macs: GuestMACTable()).flows.contains { $0.match.inPort == 1 && $0.priority == FlowPriority.copyFromGuest })
    }
}
