@testable import SIPMedia
import XCTest

/// Frames as a packet-in carries them, built byte by byte: Ethernet II with VLAN tags and QinQ,
/// IPv4 (options, fragments) and IPv6 (extension headers, fragment header), UDP and TCP, cut short,
/// with lying lengths, and seeded random bytes.
final class SIPFrameTests: XCTestCase {
    typealias B = FrameBytes
    let sip = Array("OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n".utf8)

    func testIPv4UDP() throws {
        let frame = B.ethernet(0x0800, B.ipv4(proto: 17, B.udp(5060, 5062, sip)))
        let f = try SIPFrame.decode(frame).get()
        XCTAssertEqual(f.transport, .udp)
        XCTAssertEqual(f.source, MediaEndpoint(address: "192.0.2.10", port: 5060))
        XCTAssertEqual(f.destination, MediaEndpoint(address: "192.0.2.20", port: 5062))
        XCTAssertEqual(Array(f.payload), sip)
    }

    func testPaddingAndTheUDPLengthBoundThePayload() throws {
        let hi = Array("hi".utf8)
        let padded = B.ethernet(0x0800, B.ipv4(proto: 17, B.udp(1, 2, hi))) + Array(repeating: 0, count: 16)
        XCTAssertEqual(Array(try SIPFrame.decode(padded).get().payload), hi, "Ethernet padding is not payload")
        let shortUDP = B.ethernet(0x0800, B.ipv4(proto: 17, B.udp(1, 2, length: 10, [1, 2, 3, 4, 5])))
        XCTAssertEqual(Array(try SIPFrame.decode(shortUDP).get().payload), [1, 2], "the UDP length bounds the payload")
        let empty = B.ethernet(0x0800, B.ipv4(proto: 17, B.udp(1, 2, [])))
        XCTAssertEqual(try SIPFrame.decode(empty).get().payload.count, 0)
    }

    func testVLANTagsAndQinQ() throws {
        let packet = B.ipv4(proto: 17, B.udp(5060, 5060, sip))
        for tags in [[0x8100], [0x88a8, 0x8100], [0x8100, 0x8100]] as [[UInt16]] {
            let f = try SIPFrame.decode(B.ethernet(0x0800, tags: tags, packet)).get()
            XCTAssertEqual(Array(f.payload), sip, "tags \(tags)")
        }
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0800, tags: [0x88a8, 0x8100, 0x8100], packet)).failure, .tooManyVLANTags)
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0806, Array(repeating: 0, count: 28))).failure, .notIP, "ARP")
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0806, tags: [0x8100], Array(repeating: 0, count: 28))).failure, .notIP)
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0800, B.ipv6(next: 17, B.udp(1, 2, sip)))).failure, .badHeader, "IPv6 in an IPv4 EtherType")
    }

    func testIPv4OptionsAndTCP() throws {
        let withOptions = B.ethernet(0x0800, B.ipv4(proto: 17, options: [1, 1, 1, 0], B.udp(5060, 5060, sip)))
        XCTAssertEqual(Array(try SIPFrame.decode(withOptions).get().payload), sip)
        let tcp = B.ethernet(0x0800, B.ipv4(proto: 6, B.tcp(40000, 5060, options: [2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 1, 1, 0], sip)))
        let f = try SIPFrame.decode(tcp).get()
        XCTAssertEqual(f.transport, .tcp)
        XCTAssertEqual(f.source.port, 40000)
        XCTAssertEqual(f.destination.port, 5060)
        XCTAssertEqual(Array(f.payload), sip, "after the TCP options")
        let bare = try SIPFrame.decode(B.ethernet(0x0800, B.ipv4(proto: 6, B.tcp(1, 2, [])))).get()
        XCTAssertTrue(bare.payload.isEmpty, "a bare TCP ACK decodes, with nothing in it")
    }

    func testIPv6WithExtensionHeaders() throws {
        let src: [UInt16] = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]
        let dst: [UInt16] = [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]
        let plain = try SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 17, src: src, dst: dst, B.udp(5060, 5060, sip)))).get()
        XCTAssertEqual(plain.source.address, "2001:db8::1")
        XCTAssertEqual(plain.destination.address, "2001:db8::1:0:0:1")
        XCTAssertEqual(plain.source.description, "[2001:db8::1]:5060")
        let chained = B.extensionHeader(next: 43) + B.extensionHeader(next: 60, length: 1) + B.extensionHeader(next: 17, length: 2)
        let f = try SIPFrame.decode(B.ethernet(0x86dd, tags: [0x8100], B.ipv6(next: 0, chained + B.udp(5060, 5070, sip)))).get()
        XCTAssertEqual(Array(f.payload), sip, "hop-by-hop, routing, destination options skipped")
        XCTAssertEqual(f.destination.port, 5070)
        let tcp = try SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 60, B.extensionHeader(next: 6) + B.tcp(5061, 5060, sip)))).get()
        XCTAssertEqual(tcp.transport, .tcp)
        XCTAssertEqual(Array(tcp.payload), sip)
        // Eight extension headers are walked; a ninth is refused.
        let eight = (0..<8).flatMap { B.extensionHeader(next: $0 == 7 ? 17 : 60) }
        XCTAssertEqual(Array(try SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 60, eight + B.udp(1, 2, sip)))).get().payload), sip)
        let nine = (0..<9).flatMap { B.extensionHeader(next: $0 == 8 ? 17 : 60) }
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 60, nine + B.udp(1, 2, sip)))).failure, .tooManyExtensionHeaders)
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 59, []))).failure, .notUDPOrTCP, "no next header")
    }

    func testFragmentsAreRefused() {
        let udp = B.udp(5060, 5060, sip)
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0800, B.ipv4(proto: 17, flags: 0x2000, udp))).failure, .fragment, "MF set")
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0800, B.ipv4(proto: 17, flags: 0x0001, udp))).failure, .fragment, "offset 8")
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x0800, B.ipv4(proto: 17, flags: 0x4000, udp))).map(\.payload.count), .success(sip.count), "DF is not a fragment")
        let fragmentHeader: [UInt8] = [17, 0, 0, 1, 0, 0, 0, 42]
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 44, fragmentHeader + udp))).failure, .fragment)
        XCTAssertEqual(SIPFrame.decode(B.ethernet(0x86dd, B.ipv6(next: 0, B.extensionHeader(next: 44) + fragmentHeader + udp))).failure, .fragment)
    }

    func testEveryPrefixIsTruncated() {
        let frames = [
            B.ethernet(0x0800, B.ipv4(proto: 17, B.udp(5060, 5060, sip))),
            B.ethernet(0x0800, tags: [0x88a8, 0x8100], B.ipv4(proto: 6, options: [1, 1, 1, 0], B.tcp(1, 2, options: [1, 1, 1, 1], sip))),
            B.ethernet(0x86dd, B.ipv6(next: 0, B.extensionHeader(next: 17, length: 1) + B.udp(1, 2, sip))),
        ]
        for frame in frames {
            XCTAssertNotNil(try? SIPFrame.decode(frame).get())
            for n in 0..<frame.count {
                XCTAssertEqual(SIPFrame.decode(Array(frame.prefix(n))).failure, .truncated, "prefix \(n) of \(frame.count)")
            }
        }
    }

    func testLyingLengths() {
        func v4(_ bytes: [UInt8]) -> FrameDecodeError? { SIPFrame.decode(B.ethernet(0x0800, bytes)).failure }
        func v6(_ bytes: [UInt8]) -> FrameDecodeError? { SIPFrame.decode(B.ethernet(0x86dd, bytes)).failure }
        let udp = B.udp(5060, 5060, sip)
        XCTAssertEqual(v4(B.ipv4(proto: 17, totalLength: 19, udp)), .badLength, "total length under the header")
        XCTAssertEqual(v4(B.ipv4(proto: 17, totalLength: 20 + udp.count + 1, udp)), .truncated, "total length past the frame")
        var ihl4 = B.ipv4(proto: 17, udp)
        ihl4[0] = 0x44
        XCTAssertEqual(v4(ihl4), .badHeader, "IHL 4")
        var version6 = B.ipv4(proto: 17, udp)
        version6[0] = 0x65
        XCTAssertEqual(v4(version6), .badHeader)
        XCTAssertEqual(v4(B.ipv4(proto: 17, B.udp(1, 2, length: 7, sip))), .badLength, "UDP length under its header")
        XCTAssertEqual(v4(B.ipv4(proto: 17, B.udp(1, 2, length: 8 + sip.count + 1, sip))), .badLength, "UDP length past the IP payload")
        XCTAssertEqual(v4(B.ipv4(proto: 17, totalLength: 24, udp)), .badLength, "an IP payload shorter than a UDP header")
        XCTAssertEqual(v4(B.ipv4(proto: 6, B.tcp(1, 2, dataOffset: 4, sip))), .badLength, "TCP data offset 4")
        XCTAssertEqual(v4(B.ipv4(proto: 6, B.tcp(1, 2, dataOffset: 15, Array(sip.prefix(20))))), .badLength, "TCP data offset past the payload")
        XCTAssertEqual(v4(B.ipv4(proto: 6, totalLength: 30, B.tcp(1, 2, sip))), .badLength, "an IP payload shorter than a TCP header")
        XCTAssertEqual(v4(B.ipv4(proto: 1, [8, 0, 0, 0, 0, 0, 0, 0])), .notUDPOrTCP, "ICMP")
        XCTAssertEqual(v6(B.ipv6(next: 17, payloadLength: 4, udp)), .badLength, "IPv6 payload shorter than a UDP header")
        XCTAssertEqual(v6(B.ipv6(next: 17, payloadLength: udp.count + 1, udp)), .truncated, "IPv6 payload length past the frame")
        XCTAssertEqual(v6(B.ipv6(next: 60, payloadLength: 16, B.extensionHeader(next: 17, length: 2) + udp)), .badLength, "extension header past the payload")
        XCTAssertEqual(v6(B.ipv6(next: 60, payloadLength: 1, B.extensionHeader(next: 17) + udp)), .badLength, "no room for the extension header")
    }

    func testASIPMessageFromAFrame() throws {
        let invite = Array(SIPMediaTests.invite.utf8)
        let frame = B.ethernet(0x86dd, tags: [0x8100], B.ipv6(next: 17, B.udp(5060, 5060, invite)))
        let m = try SIPMessage.parse(try SIPFrame.decode(frame).get().payload).get()
        XCTAssertEqual(m.callID, "a84b4c76e66710@192.0.2.10")
    }

    func testRandomAndMutatedFramesNeverTrap() {
        var seed: UInt64 = 0x5f3a_2024
        print("SIPFrameTests random seed: \(seed)")
        let valid = [
            B.ethernet(0x0800, tags: [0x8100], B.ipv4(proto: 17, B.udp(5060, 5060, sip))),
            B.ethernet(0x86dd, B.ipv6(next: 0, B.extensionHeader(next: 6) + B.tcp(1, 2, sip))),
        ]
        func check(_ frame: [UInt8]) {
            guard case let .success(f) = SIPFrame.decode(frame) else { return }
            XCTAssertTrue(f.payload.startIndex >= 14 && f.payload.endIndex <= frame.count)
            XCTAssertEqual(canonicalIPAddress(f.source.address), f.source.address)
            XCTAssertEqual(canonicalIPAddress(f.destination.address), f.destination.address)
        }
        for _ in 0..<3000 {
            let n = Int(next(&seed) % 200)
            var random = (0..<n).map { _ in UInt8(truncatingIfNeeded: next(&seed)) }
            if n > 14, next(&seed) % 2 == 0 { random[12] = 0x08; random[13] = next(&seed) % 2 == 0 ? 0x00 : 0xdd; random[14] = 0x45 }
            check(random)
            var mutated = valid[Int(next(&seed) % UInt64(valid.count))]
            for _ in 0..<(1 + next(&seed) % 4) {
                mutated[Int(next(&seed) % UInt64(mutated.count))] = UInt8(truncatingIfNeeded: next(&seed))
            }
            check(mutated)
            check(Array(mutated.prefix(Int(next(&seed) % UInt64(mutated.count + 1)))))
        }
    }

    private func next(_ s: inout UInt64) -> UInt64 { s = s &* 6364136223846793005 &+ 1442695040888963407; return s >> 17 }
}

/// Frames built byte by byte for the tests (checksums are left zero, as offloads leave them).
enum FrameBytes {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }

    static func ethernet(_ type: UInt16, tags: [UInt16] = [], _ payload: [UInt8]) -> [UInt8] {
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]
        for (i, tpid) in tags.enumerated() { f += be16(Int(tpid)) + be16(100 + i) }
        return f + be16(Int(type)) + payload
    }

    static func ipv4(proto: UInt8, source: [UInt8] = [192, 0, 2, 10], destination: [UInt8] = [192, 0, 2, 20], options: [UInt8] = [],
                     flags: UInt16 = 0x4000, totalLength: Int? = nil, _ payload: [UInt8]) -> [UInt8] {
        let header = 20 + options.count
        var h: [UInt8] = [0x40 | UInt8(header / 4), 0] + be16(totalLength ?? header + payload.count) + [0x12, 0x34]
        h += be16(Int(flags)) + [64, proto, 0, 0] + source + destination + options
        return h + payload
    }

    static func ipv6(next: UInt8, src: [UInt16] = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10], dst: [UInt16] = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x20],
                     payloadLength: Int? = nil, _ payload: [UInt8]) -> [UInt8] {
        var h: [UInt8] = [0x60, 0, 0, 0] + be16(payloadLength ?? payload.count) + [next, 64]
        for g in src + dst { h += be16(Int(g)) }
        return h + payload
    }

    /// A hop-by-hop, routing or destination options header of (length + 1) × 8 bytes.
    static func extensionHeader(next: UInt8, length: UInt8 = 0) -> [UInt8] {
        [next, length] + Array(repeating: 0, count: (Int(length) + 1) * 8 - 2)
    }

    static func udp(_ source: UInt16, _ destination: UInt16, length: Int? = nil, _ payload: [UInt8]) -> [UInt8] {
        be16(Int(source)) + be16(Int(destination)) + be16(length ?? 8 + payload.count) + [0, 0] + payload
    }

    static func tcp(_ source: UInt16, _ destination: UInt16, options: [UInt8] = [], dataOffset: Int? = nil, _ payload: [UInt8]) -> [UInt8] {
        let offset = dataOffset ?? (20 + options.count) / 4
        return be16(Int(source)) + be16(Int(destination)) + [0, 0, 0, 1, 0, 0, 0, 0] + [UInt8(truncatingIfNeeded: offset << 4), 0x18]
            + [0xff, 0xff, 0, 0, 0, 0] + options + payload
    }
}
