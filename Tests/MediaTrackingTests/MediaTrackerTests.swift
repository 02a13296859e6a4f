import FlowPlanning
import MediaTracking
import OpenFlow
import Policy
import SIPMedia
import TestSupport
import XCTest

/// The per-bridge media tracker without a switch: SIP frames in, FLOW_MODs out.
final class MediaTrackerTests: XCTestCase {
    let guestMAC = MACAddress("bc:24:11:00:01:01")!, farMAC = MACAddress("bc:24:11:00:0f:0f")!
    let guestIP: [UInt8] = [10, 9, 0, 101], farIP: [UInt8] = [10, 9, 0, 250]
    var nic: MediaNIC { MediaNIC(name: "tap101i0", port: 1, macs: [guestMAC], selection: .rtcp, targets: [.port(3)]) }
    let uplink: UInt32 = 4
    let second: UInt64 = 1_000_000_000

    // MARK: frames

    func frame(from: (MACAddress, [UInt8]), to: (MACAddress, [UInt8]), _ sip: String, tcp: Bool = false) -> [UInt8] {
        let payload = Array(sip.utf8)
        // UDP header, or a TCP header (data offset 5, PSH|ACK) of a segment carrying the whole message.
        let l4: [UInt8] = tcp ? [0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]
                              : [0x13, 0xc4, 0x13, 0xc4, UInt8((8 + payload.count) >> 8), UInt8((8 + payload.count) & 0xff), 0, 0]
        let total = 20 + l4.count + payload.count
        let ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, tcp ? 6 : 17, 0, 0] + from.1 + to.1
        return to.0.bytes + from.0.bytes + [0x08, 0x00] + ip + l4 + payload
    }

    func sip(_ start: String, _ callID: String, _ cseq: String, toTag: String? = nil, sdp: (ip: String, port: Int)? = nil) -> String {
        let body = sdp.map { "v=0\r\no=- 1 1 IN IP4 \($0.ip)\r\ns=-\r\nc=IN IP4 \($0.ip)\r\nt=0 0\r\nm=audio \($0.port) RTP/AVP 0\r\n" } ?? ""
        var h = [start, "Via: SIP/2.0/UDP 10.9.0.101;branch=z9hG4bK\(cseq.hashValue)", "From: <sip:a@x>;tag=a1",
                 "To: <sip:b@x>" + (toTag.map { ";tag=\($0)" } ?? ""), "Call-ID: \(callID)", "CSeq: \(cseq)"]
        if sdp != nil { h.append("Content-Type: application/sdp") }
        h.append("Content-Length: \(body.utf8.count)")
        return h.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    /// INVITE from the guest (its port), 200 OK to it (from the uplink): the offer/answer of one call.
    func establish(_ t: inout MediaTracker, _ callID: String, guestPort: Int = 40000, farPort: Int = 50000, at now: UInt64 = 0) -> MediaTracker.Output {
        _ = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", callID, "1 INVITE", sdp: ("10.9.0.101", guestPort))),
                       inPort: 1, now: now)
        return t.packetIn(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), sip("SIP/2.0 200 OK", callID, "1 INVITE", toTag: "b1", sdp: ("10.9.0.250", farPort))),
                          inPort: uplink, now: now + 1000)
    }

    func tracker(_ limits: MediaLimits = MediaLimits()) -> MediaTracker {
        var t = MediaTracker(limits: limits)
        _ = t.setNICs([nic])
        return t
    }

    // MARK: tests

    func testACallGetsItsRTCPFlowsAndTheByeDeletesThemByCookie() {
        var t = tracker(MediaLimits(idleTimeout: 45))
        let o = establish(&t, "c1")
        XCTAssertEqual(o.flowMods.count, 4, "RTCP of both sides (40001 and 50001) × sent by the NIC and sent to its MAC")
        XCTAssertTrue(o.flowMods.allSatisfy { $0.command == .add && $0.idleTimeout == 45 && $0.flags == FlowModFlags.sendFlowRemoved })
        let cookie = o.flowMods[0].cookie
        XCTAssertEqual(FlowCookie.kind(of: cookie), .media)
        XCTAssertNotEqual(FlowCookie.slot(of: cookie), 0)
        XCTAssertTrue(o.flowMods.allSatisfy { $0.cookie == cookie })
        let ports = Set(o.flowMods.compactMap { $0.match.value(of: .udpDst)?.integer })
        XCTAssertEqual(ports, [40001, 50001])
        XCTAssertEqual(Set(o.flowMods.map { $0.match.inPort != nil }), [true, false], "from the NIC (in_port) and to its guest (eth_dst)")
        XCTAssertEqual(o.notes, [.started(callID: "c1", flows: 4, nics: ["tap101i0"])])
        XCTAssertEqual(t.activeCalls, 1)
        XCTAssertEqual(t.activeFlows, 4)
        XCTAssertEqual(t.flowsByNIC, ["tap101i0": 4])

        let bye = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("BYE sip:b@x SIP/2.0", "c1", "2 BYE", toTag: "b1")), inPort: 1, now: 5 * second)
        XCTAssertEqual(bye.flowMods, [FlowMod(command: .delete, cookie: cookie, cookieMask: .max, tableID: 0xff, match: .any)])
        XCTAssertEqual(t.activeCalls, 0)
        XCTAssertEqual(t.activeFlows, 0)
        XCTAssertEqual(t.counters.callsStarted, 1)
        XCTAssertEqual(t.counters.callsEnded, 1)
        // The BYE's 200 does not bring the call back.
        let ok = t.packetIn(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), sip("SIP/2.0 200 OK", "c1", "2 BYE", toTag: "b1")), inPort: uplink, now: 5 * second + 1)
        XCTAssertEqual(ok.flowMods, [])
    }

    /// Frames from the media feed port carry no ingress port: the media NIC is found by the guest MAC
    /// as source (the INVITE it sent) or destination (the 200 OK to it); a frame between two other
    /// hosts is ignored.
    func testFramesFromTheFeedFindTheirNICByMAC() {
        var t = tracker()
        let otherMAC = MACAddress("bc:24:11:00:01:04")!
        let stranger = t.fed(frame: frame(from: (otherMAC, [10, 9, 0, 104]), to: (farMAC, farIP),
                                          sip("INVITE sip:b@x SIP/2.0", "s1", "1 INVITE", sdp: ("10.9.0.104", 41000))), now: 0)
        XCTAssertEqual(stranger.flowMods, [])
        _ = t.fed(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", "f1", "1 INVITE", sdp: ("10.9.0.101", 40000))), now: 0)
        let o = t.fed(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), sip("SIP/2.0 200 OK", "f1", "1 INVITE", toTag: "b1", sdp: ("10.9.0.250", 50000))), now: 1000)
        XCTAssertEqual(Set(o.flowMods.compactMap { $0.match.value(of: .udpDst)?.integer }), [40001, 50001])
        XCTAssertEqual(o.notes, [.started(callID: "f1", flows: 4, nics: ["tap101i0"])])
        XCTAssertEqual(t.counters.fedFrames, 3)
        XCTAssertEqual(t.counters.packetIns, 0)
        // With an ingress port, a source MAC proves nothing: VM 104's port sending the guest's MAC.
        var u = tracker()
        _ = u.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", "p1", "1 INVITE", sdp: ("10.9.0.101", 40000))), inPort: 2, now: 0)
        let spoofed = u.packetIn(frame: frame(from: (farMAC, farIP), to: (otherMAC, guestIP), sip("SIP/2.0 200 OK", "p1", "1 INVITE", toTag: "b1", sdp: ("10.9.0.250", 50000))), inPort: uplink, now: 1000)
        XCTAssertEqual(spoofed.flowMods, [])
    }

    /// SIP over TCP whose messages arrive whole, one per segment, is read like UDP's; a segment holding
    /// part of a message (its Content-Length promises more) is not guessed at: no flows.
    func testSIPOverTCPInWholeSegmentsGetsItsFlowsAndAPartialSegmentNone() {
        var t = tracker()
        let invite = sip("INVITE sip:b@x SIP/2.0", "t1", "1 INVITE", sdp: ("10.9.0.101", 40000))
        let ok = sip("SIP/2.0 200 OK", "t1", "1 INVITE", toTag: "b1", sdp: ("10.9.0.250", 50000))
        _ = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), invite, tcp: true), inPort: 1, now: 0)
        let o = t.packetIn(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), ok, tcp: true), inPort: uplink, now: 1000)
        XCTAssertEqual(Set(o.flowMods.compactMap { $0.match.value(of: .udpDst)?.integer }), [40001, 50001], "RTCP of both sides, as over UDP")
        XCTAssertEqual(t.activeCalls, 1)

        var u = tracker()
        _ = u.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), invite, tcp: true), inPort: 1, now: 0)
        let cut = String(ok.dropLast(30))
        let partial = u.packetIn(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), cut, tcp: true), inPort: uplink, now: 1000)
        XCTAssertEqual(partial.flowMods, [], "a 200 OK cut short is no answer")
        XCTAssertEqual(u.activeCalls, 0)
    }

    func testSIPOfANICWithoutMediaChangesNothing() {
        var t = MediaTracker()
        _ = t.setNICs([])
        XCTAssertEqual(establish(&t, "c1").flowMods, [])
        XCTAssertEqual(t.trackedCalls, 0)
    }

    func testBudgetsRefuseNewCallsOnlyAndFreeUpAtTheEnd() {
        var t = tracker(MediaLimits(flowsPerNIC: 4))
        XCTAssertEqual(establish(&t, "c1").flowMods.count, 4)
        let refused = establish(&t, "c2", guestPort: 40010, farPort: 50010)
        XCTAssertEqual(refused.flowMods, [])
        XCTAssertEqual(refused.notes, [.overBudget(callID: "c2", scope: "tap101i0 (4 media flows)")])
        XCTAssertEqual(t.counters.refusedBudget, 1)
        _ = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("BYE sip:b@x SIP/2.0", "c1", "2 BYE", toTag: "b1")), inPort: 1, now: second)
        XCTAssertEqual(establish(&t, "c3", guestPort: 40020, farPort: 50020, at: 2 * second).flowMods.count, 4, "room again")
        var bridge = tracker(MediaLimits(flowsPerBridge: 3))
        XCTAssertEqual(establish(&bridge, "c1").flowMods, [])
        XCTAssertEqual(bridge.counters.refusedBudget, 1)
    }

    func testFlowsExpiredByOVSEndTheCallsCopiesAndFreeItsSlot() {
        var t = tracker()
        let o = establish(&t, "c1")
        for m in o.flowMods {
            _ = t.flowRemoved(FlowRemoved(cookie: m.cookie, priority: m.priority, reason: FlowRemoved.Reason.idleTimeout.rawValue, tableID: m.tableID, match: m.match))
        }
        XCTAssertEqual(t.activeFlows, 0)
        XCTAssertEqual(t.activeCalls, 0)
        XCTAssertEqual(t.counters.flowsExpired, 4)
        // A late FLOW_REMOVED (reason delete) for a reused slot is ignored.
        let again = establish(&t, "c2", guestPort: 40100, farPort: 50100, at: second)
        XCTAssertEqual(again.flowMods.count, 4)
        let m = again.flowMods[0]
        _ = t.flowRemoved(FlowRemoved(cookie: m.cookie, priority: m.priority, reason: FlowRemoved.Reason.delete.rawValue, tableID: m.tableID, match: m.match))
        XCTAssertEqual(t.activeFlows, 4)
    }

    func testAPreviousSipspansFlowsAreAdoptedNeverDeletedAndTheirSlotsAvoided() {
        var t = tracker()
        let old = FlowCookie.mediaCookie(slot: 1)
        let stats = (0..<3).map { i in
            FlowStats(tableID: 0, priority: FlowPriority.mediaFromGuest, cookie: old,
                      match: Match([.inPort(1), .ethType(0x0800), .ipProto(17), .ipv4Dst([10, 0, 0, UInt8(i)]), .udpDst(9)]), instructions: [],
                      durationSeconds: 5, idleTimeout: 60, flags: 1)
        }
        t.synced(stats)
        XCTAssertEqual(t.adoptedFlows, 3)
        let o = establish(&t, "c1")
        XCTAssertTrue(o.flowMods.allSatisfy { FlowCookie.slot(of: $0.cookie) != 1 }, "slot 1 is held by the adopted flows")
        XCTAssertFalse(o.flowMods.contains { $0.command == .delete || $0.command == .deleteStrict })
        _ = t.flowRemoved(FlowRemoved(cookie: old, priority: stats[0].priority, reason: 0, tableID: 0, match: stats[0].match))
        XCTAssertEqual(t.adoptedFlows, 2)
        // A re-read that no longer shows this tracker's flows (they expired unnoticed) forgets the call,
        // counted as ended (started - ended = active, in status and /metrics).
        let endedBefore = t.counters.callsEnded
        let gone = t.synced([])
        XCTAssertEqual(gone.notes, [.ended(callID: "c1", reason: "flows gone from the bridge", flows: 0)])
        XCTAssertEqual(t.activeCalls, 0)
        XCTAssertEqual(t.counters.callsEnded, endedBefore + 1)
        XCTAssertEqual(t.counters.callsStarted - t.counters.callsEnded, t.activeCalls)
        XCTAssertEqual(t.adoptedFlows, 0)
    }

    func testANICThatLosesMediaLosesItsCallsFlows() {
        var t = tracker()
        let cookie = establish(&t, "c1").flowMods[0].cookie
        let o = t.setNICs([])
        XCTAssertEqual(o.flowMods, [FlowMod(command: .delete, cookie: cookie, cookieMask: .max, tableID: 0xff, match: .any)])
        XCTAssertEqual(t.activeCalls, 0)
    }

    func testAReInviteMovesOnlyTheChangedFlows() {
        var t = tracker()
        _ = establish(&t, "c1")
        _ = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", "c1", "2 INVITE", toTag: "b1", sdp: ("10.9.0.101", 40000))),
                       inPort: 1, now: second)
        let o = t.packetIn(frame: frame(from: (farMAC, farIP), to: (guestMAC, guestIP), sip("SIP/2.0 200 OK", "c1", "2 INVITE", toTag: "b1", sdp: ("10.9.0.250", 50200))),
                           inPort: uplink, now: second + 1)
        XCTAssertEqual(o.flowMods.filter { $0.command == .deleteStrict }.count, 2, "the far end's old RTCP port, both directions")
        XCTAssertEqual(o.flowMods.filter { $0.command == .add }.compactMap { $0.match.value(of: .udpDst)?.integer }, [50201, 50201])
        XCTAssertEqual(t.activeFlows, 4)
    }

    /// The flow table of a switch as far as media flows go: ADD replaces a flow of the same key
    /// (cookie included), DELETE_STRICT removes one key if its cookie matches, DELETE by cookie all.
    struct BridgeTable {
        var flows: [FlowKey: UInt64] = [:]
        mutating func apply(_ mods: [FlowMod]) {
            for m in mods {
                let key = FlowKey(table: m.tableID, priority: m.priority, match: m.match)
                switch m.command {
                case .add: flows[key] = m.cookie
                case .deleteStrict: if let c = flows[key], c & m.cookieMask == m.cookie & m.cookieMask { flows[key] = nil }
                case .delete:
                    XCTAssertEqual(m.match, .any, "only deletes by cookie are expected")
                    flows = flows.filter { $0.value & m.cookieMask != m.cookie & m.cookieMask }
                default: XCTFail("unexpected \(m.command)")
                }
            }
        }
    }

    /// Two calls with identical media (same addresses and ports: a load generator's fixed media port,
    /// a transfer) share the flows: the bridge holds them once, and whichever call ends first, the
    /// other keeps every copy until it ends too.
    func testCallsWithIdenticalMediaShareFlowsAndTheLastOneToEndRemovesThem() {
        for firstToEnd in ["c1", "c2"] {
            var t = tracker()
            var bridge = BridgeTable()
            bridge.apply(establish(&t, "c1").flowMods)
            let c1Flows = bridge.flows
            XCTAssertEqual(c1Flows.count, 4)
            let second = establish(&t, "c2", at: 1000)
            bridge.apply(second.flowMods)
            XCTAssertEqual(second.notes, [.started(callID: "c2", flows: 4, nics: ["tap101i0"])])
            XCTAssertEqual(Set(bridge.flows.keys), Set(c1Flows.keys), "the same four flows, once")
            XCTAssertEqual(t.activeCalls, 2)
            XCTAssertEqual(t.activeFlows, 4)
            XCTAssertEqual(t.flowsByNIC, ["tap101i0": 4])

            func bye(_ callID: String, at now: UInt64) -> MediaTracker.Output {
                t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("BYE sip:b@x SIP/2.0", callID, "2 BYE", toTag: "b1")), inPort: 1, now: now)
            }
            bridge.apply(bye(firstToEnd, at: 2 * self.second).flowMods)
            XCTAssertEqual(Set(bridge.flows.keys), Set(c1Flows.keys), "\(firstToEnd) ended first: the other call keeps its copies")
            XCTAssertEqual(t.activeCalls, 1)
            XCTAssertEqual(t.activeFlows, 4)
            // The flows now carry the live call's cookie: its idle timeout and its delete find them.
            let last = firstToEnd == "c1" ? "c2" : "c1"
            let cookies = Set(bridge.flows.values)
            XCTAssertEqual(cookies.count, 1)
            bridge.apply(bye(last, at: 3 * self.second).flowMods)
            XCTAssertEqual(bridge.flows, [:], "the last call's end removes them")
            XCTAssertEqual(t.activeFlows, 0)
            XCTAssertEqual(t.flowsByNIC, [:])
            XCTAssertEqual(t.counters.flowsAdded, t.counters.flowsRemoved)
        }
    }

    /// A shared flow that OVS expires is gone for both calls: each that had only it ends.
    func testAnExpiredSharedFlowEndsEveryCallThatHadIt() {
        var t = tracker()
        var bridge = BridgeTable()
        bridge.apply(establish(&t, "c1").flowMods)
        bridge.apply(establish(&t, "c2", at: 1000).flowMods)
        var ended: [MediaTracker.Note] = []
        for (key, cookie) in bridge.flows.sorted(by: { $0.key < $1.key }) {
            ended += t.flowRemoved(FlowRemoved(cookie: cookie, priority: key.priority, reason: FlowRemoved.Reason.idleTimeout.rawValue, tableID: key.table, match: key.match)).notes
        }
        XCTAssertEqual(Set(ended), [.ended(callID: "c1", reason: "media idle", flows: 0), .ended(callID: "c2", reason: "media idle", flows: 0)])
        XCTAssertEqual(t.activeCalls, 0)
        XCTAssertEqual(t.activeFlows, 0)
        XCTAssertEqual(t.flowsByNIC, [:])
    }

    func testHostileFramesAreCountedAndIgnored() {
        var t = tracker()
        var rng = SeededGenerator(seed: 202_612)
        for _ in 0..<2000 {
            let n = Int(rng.next() % 300)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            XCTAssertEqual(t.packetIn(frame: bytes, inPort: 1, now: 0).flowMods, [])
        }
        // A SIP-looking frame with a lying Content-Length and a huge SDP is ignored too.
        let lying = frame(from: (guestMAC, guestIP), to: (farMAC, farIP),
                          "INVITE sip:b@x SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nFrom: <a>;tag=1\r\nTo: <b>\r\nContent-Type: application/sdp\r\nContent-Length: 99999\r\n\r\nv=0\r\n")
        XCTAssertEqual(t.packetIn(frame: lying, inPort: 1, now: 0).flowMods, [])
        XCTAssertEqual(t.counters.packetIns, 2001)
        XCTAssertGreaterThan(t.counters.notSIP, 1990)
    }

    func testThePacketInRateIsBounded() {
        var t = tracker(MediaLimits(packetInsPerSecond: 10))
        for _ in 0..<25 { _ = t.packetIn(frame: [0], inPort: 1, now: 0) }
        XCTAssertEqual(t.counters.packetInsLimited, 15)
        _ = t.packetIn(frame: [0], inPort: 1, now: second)
        XCTAssertEqual(t.counters.packetInsLimited, 15, "a second later the bucket is full again")
    }

    // MARK: PACKET_INs out of order

    func invite(_ callID: String, _ port: Int) -> [UInt8] {
        frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", callID, "1 INVITE", sdp: ("10.9.0.101", port)))
    }
    func answer(_ callID: String, _ port: Int, status: String = "200 OK") -> [UInt8] {
        frame(from: (farMAC, farIP), to: (guestMAC, guestIP), sip("SIP/2.0 \(status)", callID, "1 INVITE", toTag: "b1", sdp: status.hasPrefix("1") || status.hasPrefix("2") ? ("10.9.0.250", port) : nil))
    }

    /// On the kernel datapath the 200 OK's PACKET_IN may come before its INVITE's (their upcalls go to
    /// the handler threads of different CPUs): the answer is held and applied when the INVITE comes.
    func testAnAnswerBeforeItsInviteIsHeldAndAppliedWhenTheInviteComes() {
        var t = tracker()
        let early = t.packetIn(frame: answer("r1", 50000), inPort: uplink, now: 0)
        XCTAssertEqual(early.flowMods, [], "no call yet: nothing to copy")
        XCTAssertEqual(t.heldMessages, 1)
        let o = t.packetIn(frame: invite("r1", 40000), inPort: 1, now: 3_000_000)
        XCTAssertEqual(Set(o.flowMods.compactMap { $0.match.value(of: .udpDst)?.integer }), [40001, 50001], "both sides' RTCP, as in order")
        XCTAssertEqual(o.notes, [.started(callID: "r1", flows: 4, nics: ["tap101i0"])])
        XCTAssertEqual(t.heldMessages, 0)
        XCTAssertEqual(t.counters.reorderedMessages, 1)
        // The call goes on as any other: its BYE deletes its flows.
        let bye = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("BYE sip:b@x SIP/2.0", "r1", "2 BYE", toTag: "b1")), inPort: 1, now: second)
        XCTAssertEqual(bye.flowMods.map(\.command), [.delete])
        XCTAssertEqual(t.activeCalls, 0)
    }

    /// A ringing fork and a rejection that overtook their INVITE are replayed in their order: the
    /// call ends as it would have, with no flows.
    func testARejectionBeforeItsInviteEndsTheCallWithNoFlows() {
        var t = tracker()
        _ = t.packetIn(frame: answer("r2", 50000, status: "183 Session Progress"), inPort: uplink, now: 0)
        _ = t.packetIn(frame: answer("r2", 0, status: "486 Busy Here"), inPort: uplink, now: 1)
        XCTAssertEqual(t.heldMessages, 2)
        let o = t.packetIn(frame: invite("r2", 40000), inPort: 1, now: 2)
        // The 183's early media starts copies; the 486 ends them in the same output.
        XCTAssertEqual(o.notes.map { if case .started = $0 { "started" } else if case .ended = $0 { "ended" } else { "other" } }, ["started", "ended"])
        XCTAssertEqual(t.activeCalls, 0)
        XCTAssertEqual(t.trackedCalls, 0)
        XCTAssertEqual(t.counters.reorderedMessages, 2)
    }

    /// A delayed offer (INVITE without SDP, the offer in the 200 OK, the answer in the ACK) whose ACK
    /// came before the 200 OK: the ACK is held until the 200 OK makes its dialog, then applied.
    func testADelayedOffersAnswerBeforeItsOfferIsHeldAndApplied() {
        var t = tracker()
        _ = t.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", "d1", "1 INVITE")), inPort: 1, now: 0)
        let ack = frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("ACK sip:b@x SIP/2.0", "d1", "1 ACK", toTag: "b1", sdp: ("10.9.0.101", 40000)))
        XCTAssertEqual(t.packetIn(frame: ack, inPort: 1, now: 1).flowMods, [])
        XCTAssertEqual(t.heldMessages, 1, "the answer waits for its offer")
        let o = t.packetIn(frame: answer("d1", 50000), inPort: uplink, now: 2)
        XCTAssertEqual(Set(o.flowMods.compactMap { $0.match.value(of: .udpDst)?.integer }), [40001, 50001])
        XCTAssertEqual(t.heldMessages, 0)
        XCTAssertEqual(t.counters.reorderedMessages, 1)
        // In order the same call gets the same flows, and nothing is held.
        var u = tracker()
        _ = u.packetIn(frame: frame(from: (guestMAC, guestIP), to: (farMAC, farIP), sip("INVITE sip:b@x SIP/2.0", "d1", "1 INVITE")), inPort: 1, now: 0)
        XCTAssertEqual(u.packetIn(frame: answer("d1", 50000), inPort: uplink, now: 1).flowMods, [])
        XCTAssertTrue(u.packetIn(frame: ack, inPort: 1, now: 2).flowMods == o.flowMods)
        XCTAssertEqual(u.heldMessages, 0)
        XCTAssertEqual(u.counters.reorderedMessages, 0)
    }

    /// Held answers are bounded: they expire after the hold, the oldest go beyond the count, and a
    /// later INVITE then finds nothing (it waits for its answer as usual).
    func testHeldAnswersExpireAndAreBounded() {
        var t = tracker(MediaLimits(earlyMessageHold: second, earlyMessages: 3))
        _ = t.packetIn(frame: answer("old", 50000), inPort: uplink, now: 0)
        _ = t.tick(now: second)
        XCTAssertEqual(t.heldMessages, 0, "expired after the hold")
        XCTAssertEqual(t.packetIn(frame: invite("old", 40000), inPort: 1, now: second + 1).flowMods, [])
        for i in 0..<10 { _ = t.packetIn(frame: answer("flood\(i)", 50000 + 2 * i), inPort: uplink, now: 2 * second) }
        XCTAssertEqual(t.heldMessages, 3, "a flood of answers keeps the newest 3")
        XCTAssertEqual(t.packetIn(frame: invite("flood0", 40000), inPort: 1, now: 2 * second).flowMods, [], "the oldest went")
        XCTAssertEqual(t.packetIn(frame: invite("flood9", 40002), inPort: 1, now: 2 * second).flowMods.count, 4, "the newest was kept")
        // Answers of calls already followed are never held; nor are 100 Trying or an ACK without SDP.
        _ = t.packetIn(frame: answer("flood9", 50018), inPort: uplink, now: 2 * second)
        _ = t.packetIn(frame: answer("other", 0, status: "100 Trying"), inPort: uplink, now: 2 * second)
        XCTAssertEqual(t.heldMessages, 2)
    }

    /// A random mix of calls whose INVITE and answer come in either order gets the same flows as the
    /// same calls in order.
    func testCallsInEitherOrderGetTheSameFlows() {
        var rng = SeededGenerator(seed: 20_261_208)
        var inOrder = tracker(), mixed = tracker()
        var a: [FlowMod] = [], b: [FlowMod] = []
        for i in 0..<200 {
            let id = "m\(i)", inv = invite(id, 40000 + 2 * i), ok = answer(id, 50000 + 2 * i)
            let now = UInt64(i) * 1_000_000
            a += inOrder.packetIn(frame: inv, inPort: 1, now: now).flowMods + inOrder.packetIn(frame: ok, inPort: uplink, now: now).flowMods
            if rng.next() % 2 == 0 {
                b += mixed.packetIn(frame: ok, inPort: uplink, now: now).flowMods + mixed.packetIn(frame: inv, inPort: 1, now: now).flowMods
            } else {
                b += mixed.packetIn(frame: inv, inPort: 1, now: now).flowMods + mixed.packetIn(frame: ok, inPort: uplink, now: now).flowMods
            }
        }
        XCTAssertEqual(a.count, 800)
        XCTAssertEqual(b.count, a.count)
        XCTAssertTrue(a == b, "the same FLOW_MODs, in the same order")
        XCTAssertEqual(mixed.heldMessages, 0)
    }

    /// Calls whose messages come in any order, duplicated or lost, with responses and ACKs of calls
    /// that never start (a scanner's): the held messages stay within their bounds, every call that
    /// ends leaves no flow, and an answer lost for good costs its call the copies, nothing more.
    func testMessagesInAnyOrderStayWithinTheBounds() {
        var rng = SeededGenerator(seed: 20_261_209)
        var t = tracker(MediaLimits(earlyMessageHold: second / 2, earlyMessages: 64, earlyMessageBytes: 32 << 10))
        var now: UInt64 = 0, most = 0
        for i in 0..<3000 {
            let id = "x\(i)"
            let fromGuest = { (sip: String) in self.frame(from: (self.guestMAC, self.guestIP), to: (self.farMAC, self.farIP), sip) }
            var messages: [(frame: [UInt8], inPort: UInt32)] = [
                (invite(id, 40000 + 2 * (i % 400)), 1), (answer(id, 50000 + 2 * (i % 400)), uplink),
                (fromGuest(sip("ACK sip:b@x SIP/2.0", id, "1 ACK", toTag: "b1", sdp: ("10.9.0.101", 40000))), 1),
                (fromGuest(sip("BYE sip:b@x SIP/2.0", id, "2 BYE", toTag: "b1")), 1),
                (answer("ghost\(i)", 50000), uplink)]  // the answer to an INVITE never seen
            messages.shuffle(using: &rng)
            for m in messages where rng.next() % 8 != 0 {  // one in eight lost
                now += rng.next() % 3_000_000
                _ = t.packetIn(frame: m.frame, inPort: m.inPort, now: now)
                most = max(most, t.heldMessages)
            }
            if i % 100 == 0 { _ = t.tick(now: now) }
        }
        XCTAssertEqual(most, 64, "the unanswered answers fill the bound, never more")
        _ = t.tick(now: now + second)
        XCTAssertEqual(t.heldMessages, 0, "all held messages expire")
        XCTAssertGreaterThan(t.counters.reorderedMessages, 0)
        XCTAssertGreaterThan(t.counters.callsStarted, 0)
        XCTAssertLessThanOrEqual(t.activeFlows, 4 * t.activeCalls)
    }
}
