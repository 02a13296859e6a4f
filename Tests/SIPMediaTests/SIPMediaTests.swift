@testable import SIPMedia
import XCTest

/// The SIP and SDP parsing that per-call media copies (issue 20) will rest on: real offers and
/// answers, the RFC cases (3605 a=rtcp, 5761 rtcp-mux, media-level c=, IPv6, port 0, hold), hostile input.
final class SIPMediaTests: XCTestCase {
    static let offer = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8\r\na=sendrecv\r\n"
    static let invite = "INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\nMax-Forwards: 70\r\n"
        + "f: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\r\nTo: <sip:bob@192.0.2.20>\r\ni: a84b4c76e66710@192.0.2.10\r\nCSeq: 314159 INVITE\r\n"
        + "Content-Type: application/sdp\r\nl: \(offer.utf8.count)\r\n\r\n" + offer

    func testAnInviteWithSDP() throws {
        let m = try SIPMessage.parse(Array(Self.invite.utf8)).get()
        XCTAssertEqual(m.start, .request(method: "INVITE"))
        XCTAssertEqual(m.callID, "a84b4c76e66710@192.0.2.10")
        XCTAssertEqual(m.cseq.number, 314159)
        XCTAssertEqual(m.cseq.method, "INVITE")
        XCTAssertEqual(m.fromTag, "1928301774")
        XCTAssertNil(m.toTag)
        XCTAssertEqual(m.sdp, Array(Self.offer.utf8))
        let sdp = try SessionDescription.parse(try XCTUnwrap(m.sdp)).get()
        XCTAssertEqual(sdp.media, [SessionDescription.Media(kind: "audio", address: "192.0.2.10", rtpPort: 49170, rtcpAddress: "192.0.2.10", rtcpPort: 49171, rtcpMux: false)])
    }

    func testResponsesAndTags() throws {
        let ok = "SIP/2.0 200 OK\r\nTo: <sip:bob@x>;tag=a6c85cf\r\nFrom: sip:alice@y;tag=1928301774\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        let m = try SIPMessage.parse(Array(ok.utf8)).get()
        XCTAssertEqual(m.start, .response(status: 200))
        XCTAssertEqual(m.toTag, "a6c85cf")
        XCTAssertEqual(m.fromTag, "1928301774")
        XCTAssertNil(m.sdp)
    }

    /// Header names in any case, continuation lines (RFC 3261 7.3.1: here the To-tag is on one), bare
    /// LF line ends, the first of two Call-IDs, spaces around the colon; a line without a colon fails.
    func testHeaderFormsTheByteParserReads() throws {
        let m = try SIPMessage.parse(Array(("SIP/2.0 180 Ringing\ncall-ID :  c7 \nCALL-ID: other\nto: <sip:bob@x>\n\t;Tag = t9\n"
            + "FROM:\tsip:a@y;x=1;TAG=f3\nCseq:  2   INVITE\ncontent-type: Application/SDP ; charset=x\n"
            + "Content-Length: 4\n\nv=0\nEXTRA").utf8)).get()
        XCTAssertEqual(m.start, .response(status: 180))
        XCTAssertEqual(m.callID, "c7")
        XCTAssertEqual(m.toTag, "t9")
        XCTAssertEqual(m.fromTag, "f3")
        XCTAssertEqual(m.cseq.number, 2)
        XCTAssertEqual(m.cseq.method, "INVITE")
        XCTAssertEqual(m.sdp, Array("v=0\n".utf8))
        XCTAssertEqual(SIPMessage.parse(Array("BYE sip:x SIP/2.0\r\nCall-ID: c\r\nnot a header\r\n\r\n".utf8)), .failure(.badHeader("not a header")))
        XCTAssertEqual(SIPMessage.parse(Array("bye sip:x SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n".utf8)), .failure(.badStartLine))
        XCTAssertEqual(SIPMessage.parse(Array("BYE sip:x SIP/2.0\r\nCSeq: 1 BYE\r\n\r\n".utf8)), .failure(.missingHeader("Call-ID")))
        // Compact forms in either case; names that only start like a kept header, or one letter off, are other headers.
        let c = try SIPMessage.parse(Array(("BYE sip:x SIP/2.0\r\nCall-IDs: no\r\nCall-Id2: no\r\nI : k1\r\nTo2: <sip:z>;tag=no\r\n"
            + "T: <sip:b>;tag=t1\r\nf: <sip:a>;tag=f1\r\nCSeq: 3 BYE\r\nx: 1\r\n\r\n").utf8)).get()
        XCTAssertEqual(c.callID, "k1")
        XCTAssertEqual(c.toTag, "t1")
        XCTAssertEqual(c.fromTag, "f1")
    }

    func testRFCCases() throws {
        func sdp(_ body: String) throws -> SessionDescription { try SessionDescription.parse(Array(("v=0\r\n" + body).utf8)).get() }
        // Media-level c= over session-level; RFC 3605 a=rtcp with its own address; IPv6.
        let a = try sdp("c=IN IP4 198.51.100.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 198.51.100.2\r\na=rtcp:4005 IN IP4 198.51.100.3\r\nm=video 0 RTP/AVP 31\r\n")
        XCTAssertEqual(a.media[0].address, "198.51.100.2")
        XCTAssertEqual(a.media[0].rtcpPort, 4005)
        XCTAssertEqual(a.media[0].rtcpAddress, "198.51.100.3")
        XCTAssertFalse(a.media[1].isActive, "port 0: disabled")
        let v6 = try sdp("c=IN IP6 2001:db8::7\r\nm=audio 5004 RTP/AVP 0\r\na=rtcp-mux\r\n")
        XCTAssertEqual(v6.media[0].address, "2001:db8::7")
        XCTAssertTrue(v6.media[0].rtcpMux)
        let hold = try sdp("c=IN IP4 0.0.0.0\r\nm=audio 5004 RTP/AVP 0\r\n")
        XCTAssertFalse(hold.media[0].isActive, "c=0.0.0.0: on hold")
        // Endpoints: RTCP on port+1 both ways; with rtcp-mux on both sides the RTP port.
        let offer = try sdp("c=IN IP4 192.0.2.10\r\nm=audio 49170 RTP/AVP 0\r\n")
        let answer = try sdp("c=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/AVP 0\r\n")
        XCTAssertEqual(mediaEndpoints(offer: offer, answer: answer, selection: .rtcp).map(\.description).sorted(), ["192.0.2.10:49171", "192.0.2.20:3457"])
        XCTAssertEqual(mediaEndpoints(offer: offer, answer: answer, selection: .rtp).count, 4)
        let muxOffer = try sdp("c=IN IP4 192.0.2.10\r\nm=audio 49170 RTP/AVP 0\r\na=rtcp-mux\r\n")
        let muxAnswer = try sdp("c=IN IP4 192.0.2.20\r\nm=audio 3456 RTP/AVP 0\r\na=rtcp-mux\r\n")
        XCTAssertEqual(mediaEndpoints(offer: muxOffer, answer: muxAnswer, selection: .rtcp).map(\.description).sorted(), ["192.0.2.10:49170", "192.0.2.20:3456"])
        XCTAssertEqual(mediaEndpoints(offer: muxOffer, answer: answer, selection: .rtcp).count, 2, "mux only when both sides say so")
        XCTAssertTrue(mediaEndpoints(offer: hold, answer: answer, selection: .rtcp).isEmpty)
    }

    func testHostileInputIsBoundedAndRefused() {
        XCTAssertEqual(SIPMessage.parse(Array(repeating: 0x41, count: SIPMessage.maximumSize + 1)).failure, .tooLarge)
        XCTAssertEqual(SIPMessage.parse([0xff, 0xfe, 13, 10, 13, 10]).failure, .notText)
        let lying = "INVITE sip:b@x SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 99999\r\n\r\nv=0\r\n"
        XCTAssertEqual(SIPMessage.parse(Array(lying.utf8)).failure, .truncatedBody)
        let many = "v=0\r\nc=IN IP4 192.0.2.1\r\n" + String(repeating: "m=audio 5000 RTP/AVP 0\r\n", count: 10_000)
        XCTAssertEqual(SessionDescription.parse(Array(many.utf8)).failure, .tooLarge)
        let seventeen = "v=0\r\nc=IN IP4 192.0.2.1\r\n" + String(repeating: "m=audio 5000 RTP/AVP 0\r\n", count: 17)
        XCTAssertEqual(SessionDescription.parse(Array(seventeen.utf8)).failure, .tooManyMedia)
        XCTAssertEqual(SessionDescription.parse(Array("v=0\r\nc=IN IP4 not-an-ip!\r\n".utf8)).failure, .badLine(2))
        // Random bytes never trap (seeded; the seed is printed).
        var seed: UInt64 = 0x5195_9a40
        print("SIPMediaTests random seed: \(seed)")
        for _ in 0..<2000 {
            let n = Int(next(&seed) % 512)
            let bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: next(&seed)) }
            _ = SIPMessage.parse(bytes)
            _ = SessionDescription.parse(bytes)
            _ = SessionDescription.parse(Array("v=0\r\n".utf8) + bytes)
        }
    }

    private func next(_ s: inout UInt64) -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 17 }
}

extension Result {
    var failure: Failure? { if case let .failure(e) = self { return e }; return nil }
}
