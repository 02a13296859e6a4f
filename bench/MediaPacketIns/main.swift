// Per-call media copies, sipspan's side (issue 20): what one SIP PACKET_IN costs the controller, from
// the OpenFlow bytes to the encoded FLOW_MODs: decode the PACKET_IN, the SIP frame, the message and
// its SDP, follow the call, build and encode its media flows. Calls as SIPp's built-in scenarios
// place them (INVITE with SDP, 100, 180, 200 with SDP, ACK, BYE, 200: seven SIP frames, all of them
// PACKET_INs of a media NIC), 200 calls open at once, each with its own media ports.
// Prints CPU per PACKET_IN (this thread) and the rate one core sustains, beside what the issue's load
// needs: 1,800 calls/s per VM on two watched VMs = 25,200 PACKET_INs/s.
import BenchSupport
import Foundation
import FlowPlanning
import MediaTracking
import OpenFlow

let guestMAC = MACAddress(bytes: [0xbc, 0x24, 0x11, 0, 1, 1])!, farMAC = MACAddress(bytes: [0xbc, 0x24, 0x11, 0, 0xf, 0xf])!
let guestIP: [UInt8] = [10, 9, 0, 101], farIP: [UInt8] = [10, 9, 0, 250]
let guestPort: UInt32 = 1, uplink: UInt32 = 4

func frame(fromGuest: Bool, _ sip: String) -> [UInt8] {
    let payload = Array(sip.utf8)
    let (src, dst) = fromGuest ? ((guestMAC, guestIP), (farMAC, farIP)) : ((farMAC, farIP), (guestMAC, guestIP))
    let udpLength = 8 + payload.count, total = 20 + udpLength
    let ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0, 0, 64, 17, 0, 0] + src.1 + dst.1
    let udp: [UInt8] = [0x13, 0xc4, 0x13, 0xc4, UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0]
    return dst.0.bytes + src.0.bytes + [0x08, 0x00] + ip + udp + payload
}

func sdp(_ ip: String, _ port: Int) -> String {
    "v=0\r\no=user1 53655765 2353687637 IN IP4 \(ip)\r\ns=-\r\nc=IN IP4 \(ip)\r\nt=0 0\r\nm=audio \(port) RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
}

func message(_ start: String, call: Int, cseq: String, toTag: Bool, body: String = "") -> String {
    var h = [start, "Via: SIP/2.0/UDP 10.9.0.101:5060;branch=z9hG4bK-\(call)-\(cseq.hashValue & 0xffff)",
             "From: sipp <sip:sipp@10.9.0.101:5060>;tag=\(call)SIPpTag00\(call)",
             "To: service <sip:service@10.9.0.250:5060>" + (toTag ? ";tag=\(call)SIPpTag01\(call)" : ""),
             "Call-ID: \(call)-4711@10.9.0.101", "CSeq: \(cseq)", "Contact: <sip:10.9.0.101:5060;transport=UDP>",
             "Max-Forwards: 70", "Subject: Performance Test"]
    if !body.isEmpty { h.append("Content-Type: application/sdp") }
    h.append("Content-Length: \(body.utf8.count)")
    return h.joined(separator: "\r\n") + "\r\n\r\n" + body
}

/// The seven PACKET_INs of one call, as OpenFlow bytes (the whole frame, in_port in the match).
func callPacketIns(_ call: Int) -> [[UInt8]] {
    let port = 10000 + 2 * (call % 10000)
    let msgs: [(Bool, String)] = [
        (true, message("INVITE sip:service@10.9.0.250:5060 SIP/2.0", call: call, cseq: "1 INVITE", toTag: false, body: sdp("10.9.0.101", port))),
        (false, message("SIP/2.0 100 Trying", call: call, cseq: "1 INVITE", toTag: false)),
        (false, message("SIP/2.0 180 Ringing", call: call, cseq: "1 INVITE", toTag: true)),
        (false, message("SIP/2.0 200 OK", call: call, cseq: "1 INVITE", toTag: true, body: sdp("10.9.0.250", port + 40000 - 10000))),
        (true, message("ACK sip:service@10.9.0.250:5060 SIP/2.0", call: call, cseq: "1 ACK", toTag: true)),
        (true, message("BYE sip:service@10.9.0.250:5060 SIP/2.0", call: call, cseq: "2 BYE", toTag: true)),
        (false, message("SIP/2.0 200 OK", call: call, cseq: "2 BYE", toTag: true)),
    ]
    return msgs.map { fromGuest, text in
        let data = frame(fromGuest: fromGuest, text)
        let pin = PacketIn(totalLength: UInt16(data.count), reason: 1, tableID: 0, cookie: FlowCookie.cookie(.copy),
                           match: Match([.inPort(fromGuest ? guestPort : uplink)]), data: data)
        return Message.packetIn(pin).encoded(xid: 0)
    }
}

let calls = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 20_000
let window = 200
let perCall = (0..<calls).map(callPacketIns)
var tracker = MediaTracker()
_ = tracker.setNICs([MediaNIC(name: "tap101i0", port: guestPort, macs: [guestMAC], selection: .rtcp, targets: [.port(3)])])

// Calls interleaved: call i's k-th message after call i-1's (k+1)-th, `window` calls open at once.
var order: [(Int, Int)] = []
for step in 0..<(calls + window) {
    for k in 0..<7 { let c = step - k * (window / 7); if c >= 0 && c < calls { order.append((c, k)) } }
}
var flowMods = 0, bytesOut = 0, decodeFailures = 0
var now: UInt64 = 1_000_000_000
let t0 = cpuNow()
for (c, k) in order {
    now += 20_000  // 50,000 PACKET_INs/s of virtual time: within the tracker's rate limit
    guard case let .packetIn(p)? = try? Message.decode(perCall[c][k]).message else { decodeFailures += 1; continue }
    let out = tracker.packetIn(frame: p.data, inPort: p.inPort, now: now)
    for fm in out.flowMods { bytesOut += Message.flowMod(fm).encoded(xid: 1).count }
    flowMods += out.flowMods.count
}
let cpu = cpuNow() - t0
let n = order.count
let perPacketIn = cpu / Double(n) * 1e6
print(String(format: "calls %d, PACKET_INs %d (7 per call), FLOW_MODs %d (%d bytes), calls started %d, ended %d, decode failures %d",
             calls, n, flowMods, bytesOut, tracker.counters.callsStarted, tracker.counters.callsEnded, decodeFailures))
print(String(format: "CPU per PACKET_IN: %.1f µs; one core: %.0f PACKET_INs/s = %.0f calls/s", perPacketIn, 1e6 / perPacketIn, 1e6 / perPacketIn / 7))
print("needed: 1,800 calls/s per VM on two watched VMs = 25,200 PACKET_INs/s (\(String(format: "%.0f", 25_200 * perPacketIn / 1e4))% of a core at this cost)")
