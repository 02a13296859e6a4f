@testable import SIPMedia
import XCTest

/// One text form for addresses from SDP and from frames (RFC 5952), so that they compare equal.
final class IPAddressTests: XCTestCase {
    func testCanonicalForms() {
        let cases: [(String, String)] = [
            ("192.0.2.1", "192.0.2.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
            ("2001:DB8:0:0::1", "2001:db8::1"),
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // two equal runs: the first
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // the longest run
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // one zero group is not compressed
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            ("::", "::"), ("0:0:0:0:0:0:0:0", "::"), ("::1", "::1"), ("1::", "1::"), ("FE80::", "fe80::"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("::FFFF:C000:0201", "::ffff:192.0.2.1"),
            ("2001:db8::192.0.2.1", "2001:db8::c000:201"), ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
        ]
        for (text, canonical) in cases {
            XCTAssertEqual(canonicalIPAddress(text), canonical, text)
            XCTAssertEqual(canonicalIPAddress(canonical), canonical, "canonical is a fixed point: \(canonical)")
        }
    }

    func testInvalidAddresses() {
        let invalid = [
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-1", "1..2.3", " 1.2.3.4", "1.2.3.4 ",
            "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "1::2::3", ":1::2", "1::2:", "1:::2", ":::",
            "12345::", "g::", "::1.2.3", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "fe80::1%eth0", "[::1]", "::/0",
            "host.example.com", "localhost", String(repeating: "0", count: 46),
        ]
        for text in invalid { XCTAssertNil(canonicalIPAddress(text), text) }
    }

    func testSDPAddressesAreCanonicalAndMatchFrames() throws {
        func sdp(_ body: String) throws -> SessionDescription { try SessionDescription.parse(Array(("v=0\r\n" + body).utf8)).get() }
        let v6 = try sdp("c=IN IP6 2001:DB8:0:0::1\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp:5005 IN IP6 2001:DB8::0:5\r\n")
        XCTAssertEqual(v6.media[0].address, "2001:db8::1")
        XCTAssertEqual(v6.media[0].rtcpAddress, "2001:db8::5")
        let frame = FrameBytes.ethernet(0x86dd, FrameBytes.ipv6(next: 17, src: [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], FrameBytes.udp(5004, 9, [0])))
        XCTAssertEqual(try SIPFrame.decode(frame).get().source, MediaEndpoint(address: v6.media[0].address, port: v6.media[0].rtpPort))
        let multicast = try sdp("c=IN IP4 224.2.1.1/127\r\nm=audio 5004 RTP/AVP 0\r\n")
        XCTAssertEqual(multicast.media[0].address, "224.2.1.1")
    }

    func testHostNamesAreNotCopied() throws {
        func sdp(_ body: String) throws -> SessionDescription { try SessionDescription.parse(Array(("v=0\r\n" + body).utf8)).get() }
        let answer = try sdp("c=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/AVP 0\r\n")
        let named = try sdp("c=IN IP4 media.example.com\r\nm=audio 49170 RTP/AVP 0\r\n")
        XCTAssertEqual(named.media[0].address, "")
        XCTAssertFalse(named.media[0].isActive, "an FQDN: nothing to match")
        XCTAssertTrue(mediaEndpoints(offer: named, answer: answer, selection: .rtp).isEmpty)
        let namedRTCP = try sdp("c=IN IP4 192.0.2.10\r\nm=audio 49170 RTP/AVP 0\r\na=rtcp:49200 IN IP4 rtcp.example.com\r\n")
        XCTAssertEqual(namedRTCP.media[0].rtcpAddress, "")
        XCTAssertEqual(mediaEndpoints(offer: namedRTCP, answer: answer, selection: .rtcp).map(\.description), ["192.0.2.20:3457"])
        XCTAssertEqual(mediaEndpoints(offer: namedRTCP, answer: answer, selection: .rtp).map(\.description).sorted(),
                       ["192.0.2.10:49170", "192.0.2.20:3456", "192.0.2.20:3457"])
        XCTAssertEqual(SessionDescription.parse(Array("v=0\r\nc=IN IP4 a_b\r\n".utf8)).failure, .badLine(2), "not a name either")
        let longKind = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=\(String(repeating: "a", count: 33)) 5000 RTP/AVP 0\r\n"
        XCTAssertEqual(SessionDescription.parse(Array(longKind.utf8)).failure, .badLine(3))
    }
}

final class IPAddressBytesTests: XCTestCase {
    func testBytesOfTheFormsSDPAndFramesUse() {
        XCTAssertEqual(ipAddressBytes("10.9.0.101"), [10, 9, 0, 101])
        XCTAssertEqual(ipAddressBytes("2001:db8::1"), [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])
        XCTAssertEqual(ipAddressBytes("::ffff:192.0.2.1"), Array(repeating: 0, count: 10) + [0xff, 0xff, 192, 0, 2, 1])
        for bad in ["", "sbc.example.net", "010.1.1.1", "1.2.3", "fe80::1%eth0", "1::2::3"] { XCTAssertNil(ipAddressBytes(bad), bad) }
    }
}
