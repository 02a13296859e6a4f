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
