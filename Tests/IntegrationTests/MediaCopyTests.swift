import Foundation
import TestSupport
import XCTest

/// Issue 20 on a real ovs-vswitchd: per-call RTCP (and RTP) copies from the SDP of the watched
/// calls' SIP, seen through the copy flows' PACKET_INs.
final class MediaCopyTests: XCTestCase {
    var lab: Lab!

    override func setUpWithError() throws { lab = try Lab() }
    override func tearDown() { lab?.stop() }

    private let (v, f, i1, iF) = (Hosts.vm101, Hosts.far, Hosts.ip101, Hosts.ipFar)

    private func node(media: String, extraArgs: [String] = []) throws -> SipspanProcess {
        try lab.ovs.addBridge("vmbr0", dpid: 0x20, ports: [("tap101i0", 1, nil), ("tap104i0", 2, nil), ("tap900i1", 3, 4094), ("bond0", 4, nil)],
                              pcapPorts: ["tap900i1", "bond0"])
        try lab.writePolicy("p.yaml", "monitor: [{vm: 900, nic: 1}]\nwatch: [{vm: 101}]\nmedia: \(media)\n")
        let s = try lab.startSipspanControlling(containing: ["in_port=1,tp_dst=5060"], extraArgs: ["--media-idle-timeout", "3"] + extraArgs)
        try lab.ovs.receive("tap101i0", Frames.arp(src: v, from: i1, to: iF, inPort: 1))
        try lab.ovs.receive("tap104i0", Frames.arp(src: Hosts.vm104, from: Hosts.ip104, to: iF, inPort: 2))
        try lab.ovs.receive("bond0", Frames.arp(src: f, from: iF, to: i1, inPort: 4))
        try lab.waitForFlows("vmbr0", containing: ["dl_dst=\(v)"])
        return s
    }

    private func send(_ port: String, src: String, dst: String, from: String, to: String, sport: Int, dport: Int, _ payload: [UInt8]) throws {
        _ = try lab.ovs.appctl(["netdev-dummy/receive", port, RawFrames.udp4(src: src, dst: dst, from: from, to: to, sport: sport, dport: dport, payload: payload)])
    }

    /// VM 101 (or 104 on `port` tap104i0) calls the far end: INVITE with its SDP, 200 with the far end's, ACK.
    private func call(_ id: String, guest: (port: String, mac: String, ip: String) = ("tap101i0", Hosts.vm101, Hosts.ip101),
                      guestRTP: Int, farRTP: Int) throws {
        try send(guest.port, src: guest.mac, dst: f, from: guest.ip, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("INVITE sip:b@example.net SIP/2.0", callID: id, cseq: "1 INVITE", sdp: RawFrames.sdp(guest.ip, guestRTP)))
        try send("bond0", src: f, dst: guest.mac, from: iF, to: guest.ip, sport: 5060, dport: 5060,
                 RawFrames.sip("SIP/2.0 200 OK", callID: id, cseq: "1 INVITE", to: "<sip:b@example.net>;tag=b1", sdp: RawFrames.sdp(iF, farRTP)))
        try send(guest.port, src: guest.mac, dst: f, from: guest.ip, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("ACK sip:b@example.net SIP/2.0", callID: id, cseq: "1 ACK", to: "<sip:b@example.net>;tag=b1"))
    }

    private func bye(_ id: String) throws {
        try send("tap101i0", src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("BYE sip:b@example.net SIP/2.0", callID: id, cseq: "2 BYE", to: "<sip:b@example.net>;tag=b1"))
        try send("bond0", src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060,
                 RawFrames.sip("SIP/2.0 200 OK", callID: id, cseq: "2 BYE", to: "<sip:b@example.net>;tag=b1"))
    }

    /// RTP and RTCP both ways between VM 101's ports and the far end's.
    private func media(guestRTP: Int, farRTP: Int, guest: (port: String, mac: String, ip: String) = ("tap101i0", Hosts.vm101, Hosts.ip101)) throws {
        try send(guest.port, src: guest.mac, dst: f, from: guest.ip, to: iF, sport: guestRTP, dport: farRTP, RawFrames.rtp(seq: 1, ssrc: 0x101))
        try send("bond0", src: f, dst: guest.mac, from: iF, to: guest.ip, sport: farRTP, dport: guestRTP, RawFrames.rtp(seq: 1, ssrc: 0xfa))
        try send(guest.port, src: guest.mac, dst: f, from: guest.ip, to: iF, sport: guestRTP + 1, dport: farRTP + 1, RawFrames.rtcp(ssrc: 0x101))
        try send("bond0", src: f, dst: guest.mac, from: iF, to: guest.ip, sport: farRTP + 1, dport: guestRTP + 1, RawFrames.rtcp(ssrc: 0xfa))
    }

    /// The monitor's view of `call`'s SIP (INVITE, 200, ACK) and of `media(guestRTP: 40000, farRTP: 50000)`'s RTCP.
    private var callSetupSIP: [String] { ["udp \(i1):5060>\(iF):5060", "udp \(i1):5060>\(iF):5060", "udp \(iF):5060>\(i1):5060"] }
    private var callRTCP: [String] { ["udp \(i1):40001>\(iF):50001", "udp \(iF):50001>\(i1):40001"] }

    private func mediaFlows() throws -> [String] {
        try lab.ovs.flows("vmbr0").filter { $0.range(of: #"cookie=0x51959a40[0-9a-f]{4}0006"#, options: .regularExpression) != nil }
    }

    /// `media: rtcp`: a watched call's RTCP both ways is copied once from its 200 OK until its BYE;
    /// its RTP is not; an unwatched VM's call is not; SIP is copied as before; tshark reads RTCP.
    func testAWatchedCallsRTCPIsCopiedFromTheAnswerUntilTheBye() throws {
        let s = try node(media: "rtcp")
        try call("call-101@test", guestRTP: 40000, farRTP: 50000)
        try call("call-104@test", guest: ("tap104i0", Hosts.vm104, Hosts.ip104), guestRTP: 42000, farRTP: 52000)
        try waitUntil("VM 101's call has its media flows") { try self.mediaFlows().count == 4 }
        let flows = try mediaFlows()
        XCTAssertTrue(flows.contains { $0.contains("in_port=1") && $0.contains("nw_dst=\(iF)") && $0.contains("tp_dst=50001") }, flows.joined(separator: "\n"))
        XCTAssertTrue(flows.contains { $0.contains("dl_dst=\(v)") && $0.contains("nw_dst=\(i1)") && $0.contains("tp_dst=40001") }, flows.joined(separator: "\n"))
        XCTAssertTrue(flows.allSatisfy { $0.contains("idle_timeout=3") && $0.contains("send_flow_rem") }, flows.joined(separator: "\n"))
        try media(guestRTP: 40000, farRTP: 50000)
        try media(guestRTP: 42000, farRTP: 52000, guest: ("tap104i0", Hosts.vm104, Hosts.ip104))

        let (sip, rtcp) = (callSetupSIP, callRTCP)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 5), (sip + rtcp).sorted(), "the watched call's SIP and RTCP, once each; no RTP, nothing of VM 104")
        let st = try XCTUnwrap(try s.status().bridges.first?.media)
        XCTAssertEqual(st.activeCalls, 1)
        XCTAssertEqual(st.flows, 4)
        XCTAssertEqual(st.counters.callsStarted, 1)

        // tshark decodes the copies as RTCP on the negotiated ports.
        let t = try TestSupport.run(["tshark", "-r", lab.ovs.pcap("tap900i1"), "-d", "udp.port==40001,rtcp", "-d", "udp.port==50001,rtcp",
                                     "-Y", "rtcp", "-T", "fields", "-e", "rtcp.senderssrc"])
        XCTAssertEqual(t.out.split(separator: "\n").sorted(), ["0x000000fa", "0x00000101"], t.out + t.err)

        // The BYE ends the copies at once; the same media afterwards is not copied.
        try bye("call-101@test")
        try waitUntil("the call's media flows are deleted") { try self.mediaFlows().isEmpty }
        try media(guestRTP: 40000, farRTP: 50000)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 7), (sip + rtcp + ["udp \(i1):5060>\(iF):5060", "udp \(iF):5060>\(i1):5060"]).sorted())
        // Forwarding never changed: the uplink got every frame VM 101 and 104 sent.
        XCTAssertEqual(try lab.capture("bond0", atLeast: 13, settle: 0).filter { $0.hasPrefix("udp \(i1):4") }.count, 4)
        let after = try XCTUnwrap(try s.status().bridges.first?.media)
        XCTAssertEqual(after.activeCalls, 0)
        XCTAssertEqual(after.counters.callsEnded, 1)
    }

    /// On the kernel datapath the INVITE's and its 200 OK's PACKET_INs come from the upcall handler
    /// threads of the CPUs that received them and may reach sipspan in the reverse order. Here the
    /// frames themselves cross the bridge in that order (200 OK, then INVITE, then ACK): the answer is
    /// held, applied when the INVITE comes, and the call's RTCP is copied as in order.
    func testAnAnswerThatReachesSipspanBeforeItsInviteStillStartsTheCopies() throws {
        let s = try node(media: "rtcp")
        let id = "early-answer@test"
        try send("bond0", src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060,
                 RawFrames.sip("SIP/2.0 200 OK", callID: id, cseq: "1 INVITE", to: "<sip:b@example.net>;tag=b1", sdp: RawFrames.sdp(iF, 50000)))
        try waitUntil("the answer is held") { try s.status().bridges.first?.media?.counters.packetIns == 1 }
        XCTAssertEqual(try mediaFlows(), [], "no call yet")
        try send("tap101i0", src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("INVITE sip:b@example.net SIP/2.0", callID: id, cseq: "1 INVITE", sdp: RawFrames.sdp(i1, 40000)))
        try send("tap101i0", src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("ACK sip:b@example.net SIP/2.0", callID: id, cseq: "1 ACK", to: "<sip:b@example.net>;tag=b1"))
        try waitUntil("the call has its media flows") { try self.mediaFlows().count == 4 }
        try media(guestRTP: 40000, farRTP: 50000)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 5), (callSetupSIP + callRTCP).sorted(), "the call's SIP and RTCP, once each")
        let st = try XCTUnwrap(try s.status().bridges.first?.media)
        XCTAssertEqual(st.counters.reorderedMessages, 1)
        XCTAssertEqual(st.counters.callsStarted, 1)
        try bye(id)
        try waitUntil("the BYE deletes them") { try self.mediaFlows().isEmpty }
    }

    /// `serve --write-hold-us` (output waits up to 5 ms to fill a write): the handshake, the plan and
    /// a call's media flows still go out (held output is written when the hold ends, not only when
    /// more comes), and the BYE still deletes them.
    func testWithAWriteHoldACallsMediaFlowsStillComeAndGo() throws {
        let s = try node(media: "rtcp", extraArgs: ["--write-hold-us", "5000"])
        try call("call-hold@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("the held FLOW_MODs reach the bridge") { try self.mediaFlows().count == 4 }
        try media(guestRTP: 40000, farRTP: 50000)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 5), (callSetupSIP + callRTCP).sorted())
        try bye("call-hold@test")
        try waitUntil("the held delete reaches the bridge") { try self.mediaFlows().isEmpty }
        XCTAssertEqual(try XCTUnwrap(try s.status().bridges.first?.media).counters.callsEnded, 1)
    }

    /// What OVS does with each frame, by ofproto/trace: a media NIC's SIP is forwarded and copied by
    /// the datapath itself, which also passes one copy up to ovs-vswitchd for the controller (a
    /// `userspace(controller(...))` datapath action beside the outputs: no slow path, forwarding is not
    /// held back); its RTCP, once the call's flows are in, is forwarded and copied with nothing sent
    /// up; a NIC without `media:` sends nothing up either.
    func testOnlyTheSIPOfMediaNICsGoesToTheControllerMediaStaysInTheFastPath() throws {
        _ = try node(media: "rtcp")
        try call("c4@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("media flows") { try self.mediaFlows().count == 4 }
        func trace(_ inPort: Int, _ src: String, _ from: String, sport: Int, dport: Int) throws -> String {
            try lab.ovs.appctl(["ofproto/trace", "vmbr0", "in_port=\(inPort),udp,dl_src=\(src),dl_dst=\(f),nw_src=\(from),nw_dst=\(iF),udp_src=\(sport),udp_dst=\(dport)"])
        }
        func datapathActions(_ trace: String) -> String {
            trace.split(separator: "\n").first { $0.hasPrefix("Datapath actions:") }.map(String.init) ?? ""
        }
        let sip = try trace(1, v, i1, sport: 5060, dport: 5060)
        let sipActions = datapathActions(sip)
        XCTAssertTrue(sipActions.contains("userspace(") && sipActions.contains("controller(") && sipActions.contains("rule_cookie=0x51959a4000000003"), sip)
        XCTAssertFalse(sip.contains("slow path"), "forwarded and copied in the datapath: \(sip)")
        let rtcp = try trace(1, v, i1, sport: 40001, dport: 50001)
        XCTAssertTrue(rtcp.contains("goto_table:1") && rtcp.contains("output:3"), "copied: \(rtcp)")
        XCTAssertFalse(datapathActions(rtcp).contains("userspace(") || rtcp.contains("slow path"), rtcp)
        let other = try trace(2, Hosts.vm104, Hosts.ip104, sport: 5060, dport: 5060)
        XCTAssertFalse(datapathActions(other).contains("userspace("), "VM 104 is not watched: \(other)")
    }

    /// `media: rtp`: RTP too; a re-INVITE moving the far end's port moves the copies.
    func testRTPModeAndAReInviteMovesTheCopies() throws {
        _ = try node(media: "rtp")
        try call("c2@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("RTP and RTCP flows") { try self.mediaFlows().count == 8 }
        try media(guestRTP: 40000, farRTP: 50000)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 7).filter { !$0.contains(":5060") }.count, 4)
        // re-INVITE from the far end: its media moves to 50100.
        try send("bond0", src: f, dst: v, from: iF, to: i1, sport: 5060, dport: 5060,
                 RawFrames.sip("INVITE sip:a@example.net SIP/2.0", callID: "c2@test", cseq: "7 INVITE", from: "<sip:b@example.net>;tag=b1",
                               to: "<sip:a@example.net>;tag=a1", sdp: RawFrames.sdp(iF, 50100)))
        try send("tap101i0", src: v, dst: f, from: i1, to: iF, sport: 5060, dport: 5060,
                 RawFrames.sip("SIP/2.0 200 OK", callID: "c2@test", cseq: "7 INVITE", from: "<sip:b@example.net>;tag=b1",
                               to: "<sip:a@example.net>;tag=a1", sdp: RawFrames.sdp(i1, 40000)))
        try waitUntil("the far end's flows moved to 50100/50101") {
            let fl = try self.mediaFlows()
            return fl.count == 8 && fl.contains { $0.contains("tp_dst=50101") } && !fl.contains { $0.contains("tp_dst=50001") }
        }
        let before = try lab.capture("tap900i1", atLeast: 9).count
        try media(guestRTP: 40000, farRTP: 50100)
        try media(guestRTP: 40000, farRTP: 50000) // the old port: 2 of its 4 frames go to VM 101's ports, still negotiated
        let now = try lab.capture("tap900i1", atLeast: before + 6)
        XCTAssertEqual(now.count, before + 6, "4 frames on the new ports, 2 to VM 101's unchanged ports: \(now)")
    }

    /// Calls with identical media (a transfer's new dialog reusing the phone's ports) share one set of
    /// flows, copied once: whichever call ends first, the others keep their copies (the BYE of a call
    /// that joined later deletes nothing; the BYE of the one whose cookie the flows carry re-adds them
    /// under a live call's cookie before its delete); the last BYE removes them.
    func testCallsWithIdenticalMediaShareFlowsAndAnEarlyByeLeavesTheOthersTheirCopies() throws {
        let s = try node(media: "rtcp")
        func cookies(_ flows: [String]) -> Set<String> {
            Set(flows.compactMap { f in f.range(of: #"cookie=0x[0-9a-f]+"#, options: .regularExpression).map { String(f[$0]) } })
        }
        func calls() throws -> Int? { try s.status().bridges.first?.media?.activeCalls }
        /// Sends the call's media: the monitor then holds `total` frames, `rtcp` of them RTCP (once each way).
        func rtcpIsCopied(_ why: String, total: Int, rtcp: Int) throws {
            try media(guestRTP: 40000, farRTP: 50000)
            let now = try lab.capture("tap900i1", atLeast: total)
            XCTAssertEqual(now.count, total, "\(why): \(now)")
            XCTAssertEqual(now.filter { $0.contains(":40001") }.count, rtcp, "\(why): \(now)")
        }
        try call("a@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("call a's media flows") { try self.mediaFlows().count == 4 }
        let cookieA = cookies(try mediaFlows())
        XCTAssertEqual(cookieA.count, 1)
        try call("b@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("call b followed") { try calls() == 2 }
        try bye("b@test")
        try waitUntil("call b ended") { try calls() == 1 }
        XCTAssertEqual(try mediaFlows().count, 4, "b's end leaves a's flows")
        try rtcpIsCopied("a's RTCP after b's BYE (SIP: 3 + 3 + 2)", total: 10, rtcp: 2)
        try call("c@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("call c followed") { try calls() == 2 }
        try bye("a@test")
        try waitUntil("the flows carry call c's cookie") {
            let fl = try self.mediaFlows()
            return fl.count == 4 && cookies(fl).count == 1 && cookies(fl).isDisjoint(with: cookieA)
        }
        try rtcpIsCopied("c's RTCP after a's BYE (SIP: + 3 + 2)", total: 17, rtcp: 4)
        try bye("c@test")
        try waitUntil("the last call's BYE removes the flows") { try self.mediaFlows().isEmpty }
    }

    /// A restarted sipspan adopts a live call's media flows (never deletes them: copies go on) and
    /// they leave by their idle timeout once the media stops.
    func testARestartAdoptsALiveCallsFlowsWhichExpireByTheirIdleTimeout() throws {
        let first = try node(media: "rtcp")
        try call("c3@test", guestRTP: 40000, farRTP: 50000)
        try waitUntil("media flows") { try self.mediaFlows().count == 4 }
        first.stop()
        let second = try lab.startSipspan(extraArgs: ["--media-idle-timeout", "3"], listenPort: first.port)
        try waitUntil(timeout: 10, "the restarted sipspan serves the bridge") { (try? second.status().bridges.first?.confirmed) == true }
        XCTAssertEqual(try mediaFlows().count, 4, "the live call's flows are kept")
        let st = try XCTUnwrap(try second.status().bridges.first?.media)
        XCTAssertEqual(st.adoptedFlows, 4)
        try media(guestRTP: 40000, farRTP: 50000)
        XCTAssertEqual(try lab.capture("tap900i1", atLeast: 5).filter { $0.contains(":4000") || $0.contains(":5000") }.count, 2, "RTCP still copied")
        // No more media: OVS removes the flows after 3 s idle and tells sipspan.
        try waitUntil(timeout: 12, "the adopted flows expire") { try self.mediaFlows().isEmpty }
        try waitUntil(timeout: 3, "status counts them gone") { (try? second.status().bridges.first?.media?.adoptedFlows) == 0 }
    }
}
