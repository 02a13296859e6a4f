import Foundation
import TestSupport
import XCTest

/// The thesis' SIPp load test with real traffic through a real OVS (scripts/sip-lab): VMs 101 and 103
/// (watched) and 104 (not watched) each place 1,800 calls at 300 calls/s to the far end behind the
/// uplink, with pings and other UDP between the VMs; the monitor must capture every SIP message of
/// 101's and 103's calls exactly once (6 per call: 21,600) and nothing else.
final class SIPLabTests: XCTestCase {
    func testThesisLoadEveryWatchedSIPMessageOnceAndNothingElse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let bin = try sipspanBinary()
        let r = try TestSupport.run(["\(root)/scripts/sip-lab", "--calls", "1800", "--rate", "300", "--json", "--quiet"],
                                    env: ["SIPSPAN": bin], check: false)
        guard let line = r.out.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let ok = obj["successful"] as? [String: Int], let mon = obj["monitor"] as? [String: Int], let vms = obj["vms"] as? [String: Int] else {
            return XCTFail("the lab did not run (network namespaces unavailable? not root?): exit \(r.status)\n\(r.out)\n\(r.err)")
        }
        XCTAssertEqual(ok["vm101"], 1800, "all calls of VM 101 succeed")
        XCTAssertEqual(ok["vm103"], 1800, "all calls of VM 103 succeed")
        XCTAssertEqual(ok["vm104"], 1800, "all calls of VM 104 succeed")
        // Ground truth is what the watched VMs' own NICs carried: 6 messages per call (10,800 each), plus
        // any SIP retransmission SIPp made, which is real traffic and must be copied too.
        XCTAssertGreaterThanOrEqual(vms["sip101"] ?? 0, 10_800)
        XCTAssertGreaterThanOrEqual(vms["sip103"] ?? 0, 10_800)
        XCTAssertEqual(mon["sip101"], vms["sip101"], "every SIP frame of VM 101, once")
        XCTAssertEqual(mon["sip103"], vms["sip103"], "every SIP frame of VM 103, once")
        XCTAssertEqual(mon["total"], (vms["sip101"] ?? 0) + (vms["sip103"] ?? 0), "nothing but those")
        XCTAssertEqual(mon["other"], 0)
        XCTAssertEqual(mon["duplicates"], 0)
        XCTAssertEqual(r.status, 0, r.err)
    }
}

/// Issue 14: the same lab with a remote collector (ERSPAN through the node's tunnel port), IPv6 SIP
/// and large INVITEs in fragments: the collector receives exactly what crossed the watched VMs' NICs.
final class CollectorLabTests: XCTestCase {
    func testTheCollectorGetsEveryWatchedSIPFrameOnceWithItsSessionID() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let r = try TestSupport.run(["\(root)/scripts/sip-lab", "--calls", "300", "--rate", "100", "--collector", "--extra", "--json", "--quiet"],
                                    env: ["SIPSPAN": try sipspanBinary()], check: false)
        guard let line = r.out.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let vms = obj["vms"] as? [String: Int], let mon = obj["monitor"] as? [String: Int], let col = obj["collector"] as? [String: Any],
              let decap = col["decap"] as? [String: Any] else {
            return XCTFail("the lab did not run: exit \(r.status)\n\(r.out)\n\(r.err)")
        }
        print("collector lab: \(line)")
        // 6 messages per call plus the extra v6 and fragmented datagrams (29 frames per VM).
        XCTAssertGreaterThanOrEqual(vms["sip101"] ?? 0, 1800 + 29)
        XCTAssertEqual(col["sip101"] as? Int, vms["sip101"], "every SIP frame of VM 101 at the collector, once")
        XCTAssertEqual(col["sip103"] as? Int, vms["sip103"])
        XCTAssertEqual(col["other"] as? Int, 0, "nothing else")
        XCTAssertEqual(col["duplicates"] as? Int, 0)
        XCTAssertEqual(decap["session_ids"] as? [String: Int], ["7": (vms["sip101"] ?? 0) + (vms["sip103"] ?? 0)], "the configured session id on the wire")
        XCTAssertEqual(mon["sip101"], vms["sip101"], "the local monitor still gets its copies")
        XCTAssertEqual(mon["other"], 0)
        XCTAssertEqual(r.status, 0, r.err)
    }
}

/// Issue 20 with SIPp and real calls: `media: rtcp`, SIPp's load as before, then calls from VM 101 whose
/// SDP and RTCP/RTP travel over real sockets (scripts/media-call.py): the monitor and the collector get
/// each call's RTCP once each way, no RTP, nothing sent after a BYE, and the SIP exactly as before.
final class MediaLabTests: XCTestCase {
    func testTheMonitorAndTheCollectorGetEachWatchedCallsRTCPOnce() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let r = try TestSupport.run(["\(root)/scripts/sip-lab", "--calls", "100", "--rate", "50", "--collector", "--media", "rtcp", "--media-calls", "8", "--json", "--quiet"],
                                    env: ["SIPSPAN": try sipspanBinary()], check: false)
        guard let line = r.out.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let vms = obj["vms"] as? [String: Int], let mon = obj["monitor"] as? [String: Int],
              let media = obj["media"] as? [String: Any], let mm = media["monitor"] as? [String: Int], let mc = media["collector"] as? [String: Int] else {
            return XCTFail("the lab did not run: exit \(r.status)\n\(r.out)\n\(r.err)")
        }
        print("media lab: \(line)")
        XCTAssertEqual(mm["completed"], 8)
        XCTAssertEqual(mm["rtcp"], 16, "each call's RTCP once each way; none of what was sent after the BYEs")
        XCTAssertEqual(mm["rtp"], 0, "media: rtcp copies no RTP")
        XCTAssertEqual(mc["rtcp"], 16, "the collector too")
        XCTAssertEqual(mc["rtp"], 0)
        XCTAssertEqual(mon["sip101"], vms["sip101"], "SIP exactly as before")
        XCTAssertEqual(mon["other"], 0)
        XCTAssertEqual(mon["duplicates"], 0)
        XCTAssertEqual(r.status, 0, r.err)
    }

    /// The same with the media feed port (internal port `sipfeed0`, as the guide sets it up): every SIP
    /// frame of the watched NICs reaches sipspan through it, none as a PACKET_IN, and the copies are
    /// the same.
    func testWithAMediaFeedPortTheSIPComesThroughItAndTheCopiesAreTheSame() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let r = try TestSupport.run(["\(root)/scripts/sip-lab", "--calls", "100", "--rate", "50", "--collector", "--media", "rtcp", "--media-calls", "8",
                                     "--media-feed", "--json", "--quiet"],
                                    env: ["SIPSPAN": try sipspanBinary()], check: false)
        guard let line = r.out.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let vms = obj["vms"] as? [String: Int], let mon = obj["monitor"] as? [String: Int],
              let media = obj["media"] as? [String: Any], let mm = media["monitor"] as? [String: Int], let mc = media["collector"] as? [String: Int],
              let counters = media["counters"] as? [String: Int], let watched = media["sip_frames_watched"] as? Int else {
            return XCTFail("the lab did not run: exit \(r.status)\n\(r.out)\n\(r.err)")
        }
        print("media lab with a feed port: \(line)")
        XCTAssertEqual(mm["completed"], 8)
        XCTAssertEqual(mm["rtcp"], 16, "each call's RTCP once each way")
        XCTAssertEqual(mc["rtcp"], 16, "the collector too")
        XCTAssertEqual(mm["rtp"], 0)
        XCTAssertEqual(counters["packetIns"], 0, "no SIP came as a PACKET_IN")
        XCTAssertEqual(counters["fedFrames"], watched, "every SIP frame of the watched NICs came through the feed, once")
        XCTAssertEqual(mon["sip101"], vms["sip101"], "SIP exactly as before")
        XCTAssertEqual(mon["other"], 0)
        XCTAssertEqual(mon["duplicates"], 0)
        XCTAssertEqual(r.status, 0, r.err)
    }
}

/// Issue 19 item 5: 20 policy edits moving a watched VM between two monitors and changing its port
/// ranges, under 20,000 SIP frames/s through a real netdev bridge (scripts/hitless-lab): each frame
/// that crossed the bridge reached exactly one monitor. Changes go out as atomic OpenFlow bundles.
final class HitlessEditTests: XCTestCase {
    func testEditsUnderAStreamLoseAndDoubleNoCopy() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
        let r = try TestSupport.run(["\(root)/scripts/hitless-lab", "--json"], env: ["SIPSPAN": try sipspanBinary()], check: false)
        guard let line = r.out.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return XCTFail("the lab did not run: exit \(r.status)\n\(r.out)\n\(r.err)")
        }
        print("hitless edits: \(line)")
        let sent = obj["sent"] as? Int ?? 0, forwarded = obj["forwarded"] as? Int ?? 0
        XCTAssertEqual(sent, 120_000)
        XCTAssertEqual(obj["lost"] as? Int, 0, "every forwarded frame was copied")
        XCTAssertEqual(obj["doubled"] as? Int, 0, "and copied once")
        XCTAssertEqual((obj["copies_900"] as? Int ?? 0) + (obj["copies_901"] as? Int ?? 0), forwarded)
        XCTAssertGreaterThan(obj["copies_900"] as? Int ?? 0, 0)
        XCTAssertGreaterThan(obj["copies_901"] as? Int ?? 0, 0, "the edits moved the copies")
        XCTAssertEqual(obj["edits_applied"] as? Int, 20)
        XCTAssertEqual(r.status, 0, r.err)
    }
}
