import FlowPlanning
import OpenFlow
import Policy
import XCTest

final class FlowPlannerTests: XCTestCase {
    let planner = FlowPlanner()
    let mac101 = MACAddress("bc:24:11:00:01:01")!, mac103 = MACAddress("bc:24:11:00:01:03")!

    func session(_ name: String, monitors: [PortSelector], watch: WatchSet, traffic: [TrafficClass] = [.sipUDP]) -> MirrorSession {
        MirrorSession(name: name, file: "\(name).yaml", monitors: monitors, watch: watch, traffic: traffic)
    }

    var node: [String: UInt32] { ["tap101i0": 1, "tap104i0": 2, "tap900i1": 3, "bond0": 4, "vmbr0": PortNumber.local] }

    func count(_ plan: BridgePlan, priority: UInt16, table: UInt8 = 0) -> Int { plan.flows.filter { $0.priority == priority && $0.table == table }.count }

    func testNoPolicyIsJustNormalForwarding() {
        let plan = planner.plan(policy: .empty, ports: node, macs: GuestMACTable())
        XCTAssertEqual(plan.flows.map(\.description), ["table=0, priority=0, cookie=0x51959a4000000001, any actions=NORMAL"])
    }

    func testOneWatchedVMOneMonitor() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]))])
        let plan = planner.plan(policy: policy, ports: node, macs: GuestMACTable())
        XCTAssertEqual(plan.watchedPorts, ["tap101i0"])
        XCTAssertEqual(plan.monitorPorts, ["tap900i1"])
        XCTAssertEqual(plan.flows.count, 12)
        XCTAssertEqual(plan.flows.filter { $0.match.fields.contains(.ipFragLater) }.count, 2, "later fragments, v4 and v6")
        XCTAssertEqual(count(plan, priority: FlowPriority.copyFromGuest) + count(plan, priority: FlowPriority.copyFromGuest + 1), 4, "udp src/dst × v4/v6")
        XCTAssertEqual(count(plan, priority: FlowPriority.copyToGuest), 0, "no guest MAC known yet")
        XCTAssertTrue(plan.flows.contains { $0.description == "table=0, priority=1101, cookie=0x51959a4000000003, in_port=1,eth_type=0x86dd,ip_proto=17,udp_dst=5060 actions=NORMAL,write_metadata:0x3/0xffffffffffffffff,goto_table:1" })
        XCTAssertTrue(plan.flows.contains { $0.description == "table=0, priority=2000, cookie=0x51959a4000000002, in_port=3 actions=drop" })
        XCTAssertTrue(plan.flows.contains { $0.description == "table=0, priority=2000, cookie=0x51959a4000000002, vlan_vid=0x1ffe actions=drop" })
        XCTAssertTrue(plan.flows.contains { $0.description == "table=1, priority=20, cookie=0x51959a4000000005, metadata=0x3,vlan_vid=0x1000/1000 actions=pop_vlan,output:3" })
        XCTAssertTrue(plan.flows.contains { $0.description == "table=0, priority=900, cookie=0x51959a4000000004, in_port=1 actions=NORMAL,CONTROLLER:64" })
        XCTAssertEqual(plan.learningPorts, [1])
    }

    func testLearnedMACAddsCopiesToTheGuest() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: 0)]))])
        var macs = GuestMACTable()
        macs.learn(mac101, on: "tap101i0")
        let plan = planner.plan(policy: policy, ports: node, macs: macs)
        XCTAssertEqual(plan.flows.count, 19)
        let toGuest = plan.flows.filter { $0.match.ethDst == mac101 }
        XCTAssertEqual(toGuest.count, 6)
        XCTAssertTrue(toGuest.allSatisfy { $0.priority == 1000 || $0.priority == 1001 || $0.priority == FlowPriority.fragmentToGuest })
        XCTAssertEqual(plan.flows.filter { $0.match.ethSrc == mac101 && $0.priority == FlowPriority.learnKnown }.count, 1)
    }

    func testInventoryMACsCopySIPToTheGuestFromTheStartAndNeverLearn() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: 0)]))])
        // A learned (spoofed) MAC on the port is ignored once Proxmox's inventory knows the NIC.
        var learned = GuestMACTable()
        learned.learn(mac103, on: "tap101i0")
        let plan = planner.plan(policy: policy, ports: node, macs: learned, knownMACs: ["tap101i0": [mac101]])
        XCTAssertEqual(plan.flows.filter { $0.match.ethDst == mac101 }.count, 6, "SIP and fragments sent to the guest, from the first frame")
        XCTAssertTrue(plan.flows.filter { $0.match.ethDst == mac103 || $0.match.ethSrc == mac103 }.isEmpty, "the learned MAC plays no part")
        XCTAssertTrue(plan.flows.allSatisfy { $0.cookie != FlowCookie.cookie(.learning) }, "nothing goes to the controller")
        XCTAssertEqual(plan.learningPorts, [])
        // Without the inventory the same port learns (the fallback).
        XCTAssertEqual(planner.plan(policy: policy, ports: node, macs: learned).learningPorts, [1])
    }

    func testTrafficEntriesMultiplyCopyFlows() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), traffic: [TrafficClass(.udp, 5060), TrafficClass(.tcp, 5060), TrafficClass(.udp, 5080)])])
        let plan = planner.plan(policy: policy, ports: node, macs: GuestMACTable())
        let fromGuest = plan.flows.filter { $0.match.inPort == 1 && $0.cookie == FlowCookie.cookie(.copy) && !$0.match.fields.contains(.ipFragLater) }
        XCTAssertEqual(fromGuest.count, 12)
        XCTAssertEqual(Set(fromGuest.compactMap { $0.match.value(of: .ipProto)?.integer }), [6, 17])
        XCTAssertEqual(fromGuest.filter { $0.match.value(of: .tcpDst)?.integer == 5060 }.count, 2)
    }

    func testTwoMonitorsShareOneDeliveryFlowPair() {
        var ports = node
        ports["ens3f1"] = 9
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1), .port("ens3f1")], watch: .ports([.vm(101, nic: nil)]))])
        let plan = planner.plan(policy: policy, ports: ports, macs: GuestMACTable())
        let delivery = plan.flows.filter { $0.table == 1 }
        XCTAssertEqual(delivery.count, 2)
        let id = deliveryID([3, 9])
        XCTAssertEqual(id >> 63, 1, "a multi-monitor set is tagged")
        XCTAssertEqual(delivery.last?.instructions, [.applyActions([.output(3), .output(9)])])
        XCTAssertEqual(count(plan, priority: FlowPriority.guardDrop), 3, "two monitor drops and the VLAN guard")
    }

    func testNoMonitorOnTheBridgeCopiesNothingAndSaysSo() {
        let policy = PolicySet([session("a", monitors: [.vm(901, nic: 1)], watch: .ports([.vm(101, nic: nil)]))])
        let plan = planner.plan(policy: policy, ports: node, macs: GuestMACTable())
        XCTAssertEqual(plan.flows.count, 1)
        XCTAssertEqual(plan.notices.count, 1)
        XCTAssertTrue(plan.notices[0].contains("tap101i0"))
    }

    func testWatchAllSkipsMonitorsAndTheUplink() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .all)])
        let plan = planner.plan(policy: policy, ports: node, macs: GuestMACTable())
        XCTAssertEqual(plan.watchedPorts, ["tap101i0", "tap104i0"])
    }

    func testTwoSessionsWithDifferentMonitorsGetPairFlowsBetweenTheirVMs() {
        let ports: [String: UInt32] = ["tap101i0": 1, "tap103i0": 2, "tap900i1": 3, "tap901i1": 5]
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil), .vm(103, nic: nil)])),
                                session("b", monitors: [.vm(901, nic: 1)], watch: .ports([.vm(103, nic: nil)]))])
        var macs = GuestMACTable()
        macs.learn(mac101, on: "tap101i0"); macs.learn(mac103, on: "tap103i0")
        let plan = planner.plan(policy: policy, ports: ports, macs: macs)
        let pair = plan.flows.filter { [FlowPriority.copyBetweenGuests, FlowPriority.copyBetweenGuests + 1, FlowPriority.fragmentBetweenGuests].contains($0.priority) }
        XCTAssertEqual(pair.count, 6, "101 → 103 needs both monitors (SIP and later fragments); 103 → 101 is covered by 103's own flows")
        XCTAssertTrue(pair.allSatisfy { $0.match.inPort == 1 && $0.match.ethDst == mac103 })
        XCTAssertTrue(pair.allSatisfy { $0.instructions.contains(.writeMetadata(value: deliveryID([3, 5]), mask: .max)) })
    }

    /// Every flow of a rich plan (two sessions, pair flows, learning, fragments, a TCP range) belongs to
    /// one declared concern of the pipeline, and every concern is used.
    func testEveryFlowFitsTheDeclaredPipeline() {
        let ports: [String: UInt32] = ["tap101i0": 1, "tap103i0": 2, "tap900i1": 3, "tap901i1": 5, "bond0": 4]
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil), .vm(103, nic: nil)]),
                                        traffic: [.sipUDP, TrafficClass(.tcp, 5060, 5081)]),
                                session("b", monitors: [.vm(901, nic: 1)], watch: .ports([.vm(103, nic: nil)]))])
        var macs = GuestMACTable()
        macs.learn(mac101, on: "tap101i0"); macs.learn(mac103, on: "tap103i0")
        let plan = planner.plan(policy: policy, ports: ports, macs: macs)
        let misfits = plan.flows.filter { Pipeline.concern(of: $0) == nil }
        XCTAssertEqual(misfits.map { $0.description }, [String]())
        XCTAssertEqual(Set(plan.flows.compactMap { Pipeline.concern(of: $0)?.name }), Set(Pipeline.concerns.filter(\.planned).map(\.name)))
        // Per-call media flows (outside the plan) fit their own concern.
        let nics = [MediaNIC(name: "tap101i0", port: 1, macs: [mac101], selection: .rtcp, targets: [.port(3)]),
                    MediaNIC(name: "tap103i0", port: 2, macs: [mac103], selection: .rtcp, targets: [.port(5)])]
        let dests = [MediaDestination(address: [192, 0, 2, 10], port: 4001), MediaDestination(address: Array(repeating: 0x20, count: 16), port: 4003)].compactMap { $0 }
        let mediaFlows = MediaFlows.build(dests, nics: nics, cookie: FlowCookie.mediaCookie(slot: 7))
        XCTAssertEqual(mediaFlows.filter { Pipeline.concern(of: $0)?.cookie != .media }.map { $0.description }, [String]())
        XCTAssertEqual(Set(mediaFlows.compactMap { Pipeline.concern(of: $0)?.name }), Set(Pipeline.concerns.filter { !$0.planned }.map(\.name)))
        // A flow outside the layout is caught: the checker can fail.
        XCTAssertNil(Pipeline.concern(of: Flow(table: 1, priority: FlowPriority.copyFromGuest, match: .any, instructions: [], cookie: FlowCookie.cookie(.copy))))
    }

    /// `media: rtcp` on one session: its watched NICs' SIP copy flows also send the whole frame to the
    /// controller, the others' do not; the plan lists the media NICs with their targets; table 1 can
    /// deliver to each media NIC's targets and to the union of a pair's.
    /// VM 101 watched with `media: rtcp` (monitor VM 900), VM 103 without (monitor `plainMonitor`), both MACs learned.
    func mediaAndPlain(plainMonitor: UInt32) -> (MirrorSession, MirrorSession, GuestMACTable) {
        let withMedia = MirrorSession(name: "a", file: "a.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), media: .rtcp)
        let plain = session("b", monitors: [.vm(plainMonitor, nic: 1)], watch: .ports([.vm(103, nic: nil)]))
        var macs = GuestMACTable()
        macs.learn(mac101, on: "tap101i0"); macs.learn(mac103, on: "tap103i0")
        return (withMedia, plain, macs)
    }

    func testMediaSessionsSendTheirSIPToTheController() {
        let ports: [String: UInt32] = ["tap101i0": 1, "tap103i0": 2, "tap900i1": 3, "tap901i1": 5, "bond0": 4]
        let (withMedia, plain, macs) = mediaAndPlain(plainMonitor: 901)
        let plan = planner.plan(policy: PolicySet([withMedia, plain]), ports: ports, macs: macs)
        let toController = Action.output(port: PortNumber.controller, maxLength: 0xffff)
        func inspects(_ f: Flow) -> Bool { f.instructions.contains { if case let .applyActions(a) = $0 { return a.contains(toController) }; return false } }
        let sipPriorities: Set<UInt16> = [FlowPriority.copyFromGuest, FlowPriority.copyFromGuest + 1, FlowPriority.copyToGuest, FlowPriority.copyToGuest + 1,
                                          FlowPriority.copyBetweenGuests, FlowPriority.copyBetweenGuests + 1]
        let sip = plan.flows.filter { FlowCookie.kind(of: $0.cookie) == .copy && sipPriorities.contains($0.priority) }
        let of101 = sip.filter { $0.match.inPort == 1 || $0.match.ethDst == mac101 }
        let of103only = sip.filter { ($0.match.inPort == 2 || $0.match.ethDst == mac103) && !($0.match.inPort == 1) }
        XCTAssertFalse(of101.isEmpty)
        XCTAssertTrue(of101.allSatisfy(inspects), "VM 101's SIP (media: rtcp) goes to the controller")
        XCTAssertTrue(of103only.filter { $0.match.ethDst != mac101 }.allSatisfy { !inspects($0) }, "VM 103's own SIP does not")
        XCTAssertEqual(plan.mediaNICs, [MediaNIC(name: "tap101i0", port: 1, macs: [mac101], selection: .rtcp, targets: [.port(3)])])
        let deliveries = Set(plan.flows.filter { $0.table == 1 }.compactMap { $0.match.value(of: .metadata)?.integer })
        XCTAssertTrue(deliveries.contains(deliveryID([3])))
        // Without media nothing goes to the controller but learning.
        let none = planner.plan(policy: PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)])), plain]), ports: ports, macs: macs)
        XCTAssertTrue(none.flows.filter { FlowCookie.kind(of: $0.cookie) == .copy }.allSatisfy { !inspects($0) })
        XCTAssertEqual(none.mediaNICs, [])
    }

    /// With a media feed port the media NIC's SIP goes to that port (in the datapath) instead of the
    /// controller; nothing else changes, and the other NIC's SIP goes to neither.
    func testWithAMediaFeedTheMediaNICsSIPGoesToTheFeedPortInsteadOfTheController() {
        let ports: [String: UInt32] = ["tap101i0": 1, "tap103i0": 2, "tap900i1": 3, "bond0": 4, "sipfeed0": 9]
        let (withMedia, plain, macs) = mediaAndPlain(plainMonitor: 900)
        let policy = PolicySet([withMedia, plain])
        let viaController = planner.plan(policy: policy, ports: ports, macs: macs)
        let viaFeed = planner.plan(policy: policy, ports: ports, macs: macs, mediaFeed: 9)
        func actions(_ f: Flow) -> [Action] { f.instructions.flatMap { if case let .applyActions(a) = $0 { return a }; return [] } }
        let toController = Action.output(port: PortNumber.controller, maxLength: 0xffff), toFeed = Action.output(port: 9, maxLength: 0)
        let controllerCopies = viaController.flows.filter { actions($0).contains(toController) }
        let feedCopies = viaFeed.flows.filter { actions($0).contains(toFeed) }
        XCTAssertFalse(controllerCopies.isEmpty)
        XCTAssertEqual(feedCopies.count, controllerCopies.count, "the same flows, one action changed")
        XCTAssertFalse(viaFeed.flows.contains { actions($0).contains(toController) }, "no SIP goes to the controller")
        XCTAssertEqual(Set(feedCopies.map(\.key)), Set(controllerCopies.map(\.key)))
        XCTAssertEqual(viaFeed.flows.count, viaController.flows.count)
        XCTAssertTrue(feedCopies.allSatisfy { $0.match.inPort == 1 || $0.match.ethDst == mac101 }, "only VM 101's (media) SIP")
        XCTAssertEqual(viaFeed.mediaNICs, viaController.mediaNICs)
    }

    /// A call between two watched guests is copied once: the pair flow (in_port of one, eth_dst of the
    /// other) outranks each NIC's own flows and delivers to the union, which table 1 can deliver to.
    func testMediaFlowsOfACallBetweenTwoWatchedGuests() {
        let a = MediaNIC(name: "tap101i0", port: 1, macs: [mac101], selection: .rtcp, targets: [.port(3)])
        let b = MediaNIC(name: "tap103i0", port: 2, macs: [mac103], selection: .rtcp, targets: [.port(5)])
        guard let d = MediaDestination(address: [192, 0, 2, 103], port: 4001) else { return XCTFail("destination") }
        let cookie = FlowCookie.mediaCookie(slot: 42)
        let flows = MediaFlows.build([d], nics: [a, b], cookie: cookie)
        XCTAssertEqual(flows.count, 6, flows.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(flows.allSatisfy { $0.cookie == cookie && FlowCookie.slot(of: $0.cookie) == 42 && FlowCookie.kind(of: $0.cookie) == .media })
        let pair = flows.filter { $0.priority == FlowPriority.mediaBetweenGuests }
        XCTAssertEqual(pair.count, 2)
        XCTAssertTrue(pair.allSatisfy { $0.instructions.contains(.writeMetadata(value: deliveryID([3, 5]), mask: .max)) })
        XCTAssertTrue(FlowPriority.mediaBetweenGuests < FlowPriority.learnKnown + 100 && FlowPriority.mediaBetweenGuests < FlowPriority.fragmentToGuest)
        var macs = GuestMACTable()
        macs.learn(mac101, on: "tap101i0"); macs.learn(mac103, on: "tap103i0")
        let policy = PolicySet([MirrorSession(name: "a", file: "a.yaml", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]), media: .rtcp),
                                MirrorSession(name: "b", file: "b.yaml", monitors: [.vm(901, nic: 1)], watch: .ports([.vm(103, nic: nil)]), media: .rtp)])
        let plan = planner.plan(policy: policy, ports: ["tap101i0": 1, "tap103i0": 2, "tap900i1": 3, "tap901i1": 5], macs: macs)
        XCTAssertEqual(plan.mediaNICs.map(\.selection), [.rtcp, .rtp])
        let deliveries = Set(plan.flows.filter { $0.table == 1 }.compactMap { $0.match.value(of: .metadata)?.integer })
        XCTAssertTrue(deliveries.isSuperset(of: [deliveryID([3]), deliveryID([5]), deliveryID([3, 5])]))
        // Every delivery set the plan's media NICs' call flows name is one table 1 delivers (one rule:
        // MediaNIC.pairTargets), in either order of the NICs.
        for nics in [plan.mediaNICs, plan.mediaNICs.reversed()] {
            let used = Set(MediaFlows.build([d], nics: nics, cookie: cookie).flatMap { f in
                f.instructions.compactMap { if case let .writeMetadata(v, _) = $0 { return v }; return nil } })
            XCTAssertEqual(used.subtracting(deliveries), [], "media flows name delivery sets table 1 lacks")
        }
    }

    func testDeterministicWhateverTheInputOrder() {
        let policy = PolicySet([session("b", monitors: [.vm(900, nic: 1)], watch: .all), session("a", monitors: [.vm(900, nic: 1)], watch: .ports([.vm(101, nic: nil)]))])
        var a = GuestMACTable(); a.learn(mac101, on: "tap101i0")
        let p1 = planner.plan(policy: policy, ports: node, macs: a)
        let p2 = planner.plan(policy: PolicySet(policy.sessions.reversed()), ports: Dictionary(uniqueKeysWithValues: node.reversed()), macs: a)
        XCTAssertEqual(p1, p2)
    }

    func testMonitorVLANIsConfigurable() {
        let policy = PolicySet([session("a", monitors: [.vm(900, nic: 1)], watch: .all)])
        let plan = FlowPlanner(monitorVLAN: 999).plan(policy: policy, ports: node, macs: GuestMACTable())
        XCTAssertTrue(plan.flows.contains { $0.match == Match([.vlanVid(0x1000 | 999)]) })
    }
}

final class FlowDiffTests: XCTestCase {
    func flow(_ prio: UInt16, _ port: UInt32, _ actions: [Action] = [.normal], cookie: UInt64 = FlowCookie.cookie(.copy)) -> Flow {
        Flow(priority: prio, match: Match([.inPort(port)]), instructions: [.applyActions(actions)], cookie: cookie)
    }

    func testIdenticalFlowsAreLeftAlone() {
        let d = FlowDiff(installed: [flow(1, 1), flow(1, 2)], desired: [flow(1, 2), flow(1, 1)])
        XCTAssertTrue(d.isEmpty)
        XCTAssertEqual(d.unchanged, 2)
    }

    func testStaleDeletedMissingAddedChangedReplaced() {
        let d = FlowDiff(installed: [flow(1, 1), flow(1, 2), flow(1, 3)], desired: [flow(1, 1), flow(1, 3, [.output(7)]), flow(1, 4), flow(0, 0)])
        XCTAssertEqual(d.deletes, [flow(1, 2)])
        XCTAssertEqual(Set(d.adds), [flow(1, 3, [.output(7)]), flow(1, 4), flow(0, 0)])
        XCTAssertEqual(d.unchanged, 1)
        let mods = d.flowMods
        // Without a bundle: NORMAL first (forwarding never lapses, e.g. while the bootstrap halves are
        // replaced), then the deletes, then the other adds.
        XCTAssertEqual(mods.first?.priority, 0, "the NORMAL flow first")
        XCTAssertEqual(mods.first?.command, .add)
        XCTAssertEqual(mods[1].command, .deleteStrict, "then the deletes")
        XCTAssertEqual(mods[1].cookieMask, FlowCookie.prefixMask, "which only touch sipspan's flows")
        XCTAssertEqual(mods.dropFirst(2).map(\.command), [.add, .add])
    }

    func testFlowsOfOthersAreNeverTouched() {
        let foreign = flow(5, 9, cookie: 0x1234)
        let d = FlowDiff(installed: [foreign], desired: [])
        XCTAssertTrue(d.isEmpty)
    }

    func testCookieChangeIsAnAdd() {
        let d = FlowDiff(installed: [flow(1, 1, cookie: FlowCookie.cookie(.learning))], desired: [flow(1, 1)])
        XCTAssertEqual(d.adds.count, 1)
        XCTAssertTrue(d.deletes.isEmpty)
    }
}

final class GuestMACTableTests: XCTestCase {
    func mac(_ i: UInt8) -> MACAddress { MACAddress(bytes: [0xbc, 0x24, 0x11, 0, 0, i])! }

    func testBoundedPerPortOldestEvicted() {
        var t = GuestMACTable()
        for i in 1...10 { t.learn(mac(UInt8(i)), on: "tap101i0") }
        XCTAssertEqual(t.macs(of: "tap101i0"), (7...10).map { mac(UInt8($0)) })
    }

    func testMACMovesBetweenPortsAndIgnoresMulticast() {
        var t = GuestMACTable()
        XCTAssertTrue(t.learn(mac(1), on: "tap101i0"))
        XCTAssertFalse(t.learn(mac(1), on: "tap101i0"), "relearning is no change")
        XCTAssertTrue(t.learn(mac(1), on: "tap102i0"))
        XCTAssertEqual(t.macs(of: "tap101i0"), [])
        XCTAssertFalse(t.learn(MACAddress("01:00:5e:00:00:01")!, on: "tap101i0"))
        XCTAssertFalse(t.learn(MACAddress("00:00:00:00:00:00")!, on: "tap101i0"))
        XCTAssertTrue(t.forget(port: "tap102i0"))
        XCTAssertEqual(t.count, 0)
    }
}
