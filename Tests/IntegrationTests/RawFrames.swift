import Foundation

/// Whole Ethernet frames with a payload, as hex for `netdev-dummy/receive PORT HEX` (the flow
/// syntax of `Frames` carries no payload): SIP with SDP, RTP and RTCP for the media tests.
enum RawFrames {
    static func udp4(src: String, dst: String, from: String, to: String, sport: Int, dport: Int, payload: [UInt8]) -> String {
        let ip4 = { (s: String) in s.split(separator: ".").compactMap { UInt8($0) } }
        let udpLength = 8 + payload.count
        var ip: [UInt8] = [0x45, 0, UInt8((20 + udpLength) >> 8), UInt8((20 + udpLength) & 0xff), 0, 1, 0, 0, 64, 17, 0, 0] + ip4(from) + ip4(to)
        var sum = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += Int(ip[i]) << 8 | Int(ip[i + 1]) }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        ip[10] = UInt8((~sum >> 8) & 0xff); ip[11] = UInt8(~sum & 0xff)
        let udp: [UInt8] = [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff),
                            UInt8(udpLength >> 8), UInt8(udpLength & 0xff), 0, 0]
        let mac = { (s: String) in s.split(separator: ":").compactMap { UInt8($0, radix: 16) } }
        let frame = mac(dst) + mac(src) + [0x08, 0x00] + ip + udp + payload
        return frame.map { String(format: "%02x", $0) }.joined()
    }

    /// A SIP message as bytes, CRLF line ends, Content-Length from the body.
    static func sip(_ startLine: String, callID: String, cseq: String, from: String = "<sip:a@example.net>;tag=a1",
                    to: String = "<sip:b@example.net>", sdp: String? = nil) -> [UInt8] {
        let body = sdp.map { $0.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n") } ?? ""
        var lines = [startLine, "Via: SIP/2.0/UDP 10.9.0.101:5060;branch=z9hG4bK-\(callID)-\(cseq.replacingOccurrences(of: " ", with: ""))",
                     "From: \(from)", "To: \(to)", "Call-ID: \(callID)", "CSeq: \(cseq)", "Max-Forwards: 70"]
        if sdp != nil { lines.append("Content-Type: application/sdp") }
        lines.append("Content-Length: \(body.utf8.count)")
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
    }

    /// An SDP offer/answer with one audio stream at `address`:`port` (RTCP on port + 1).
    static func sdp(_ address: String, _ port: Int) -> String {
        "v=0\no=- 1 1 IN IP4 \(address)\ns=-\nc=IN IP4 \(address)\nt=0 0\nm=audio \(port) RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    }

    /// An RTCP receiver report (no report blocks) from `ssrc`: what tshark decodes as RTCP.
    static func rtcp(ssrc: UInt32) -> [UInt8] {
        [0x80, 201, 0, 1, UInt8(ssrc >> 24), UInt8((ssrc >> 16) & 0xff), UInt8((ssrc >> 8) & 0xff), UInt8(ssrc & 0xff)]
    }

    /// An RTP packet (PCMU, 20 bytes of payload).
    static func rtp(seq: UInt16, ssrc: UInt32) -> [UInt8] {
        [0x80, 0, UInt8(seq >> 8), UInt8(seq & 0xff), 0, 0, 0, 160, UInt8(ssrc >> 24), UInt8((ssrc >> 16) & 0xff), UInt8((ssrc >> 8) & 0xff), UInt8(ssrc & 0xff)]
            + Array(repeating: 0xff, count: 20)
    }
}
