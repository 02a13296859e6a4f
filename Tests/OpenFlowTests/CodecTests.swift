import OpenFlow
import TestSupport
import XCTest

/// Round trips, framing and hostile bytes: no input may crash the decoder.
final class CodecTests: XCTestCase {
    static let samples: [Message] = [
        .hello(versions: [1, 4]),
        .hello(versions: []),
        .error(type: 1, code: 6, data: [1, 2, 3]),
        .echoRequest([9, 9]), .echoReply([]),
        .featuresRequest,
        .featuresReply(SwitchFeatures(datapathID: 0x0102_0304_0506_0708, bufferCount: 256, tableCount: 254, auxiliaryID: 0, capabilities: 0x4f)),
        .getConfigRequest, .getConfigReply(flags: 0, missSendLength: 128), .setConfig(flags: 3, missSendLength: 64),
        .packetIn(PacketIn(totalLength: 60, reason: 1, tableID: 0, cookie: 0x5195_9a40_0000_0004, match: Match([.inPort(7)]),
                           data: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0x24, 0x11, 0, 1, 1, 8, 6])),
        .portStatus(reason: .add, port: PortDescription(portNumber: 12, name: "tap101i0", hardwareAddress: [1, 2, 3, 4, 5, 6], config: 0, state: 4)),
        .flowMod(FlowMod(command: .add, cookie: 5, priority: 1100, match: Match([.inPort(1), .ethType(0x86dd), .ipProto(17), .udpSrc(5060)]),
                         instructions: [.applyActions([.normal]), .writeMetadata(value: 3, mask: .max), .gotoTable(1)])),
        .flowMod(FlowMod(command: .deleteStrict, cookie: 1, cookieMask: 2, tableID: 1, priority: 20, match: Match([.metadata(9), .vlanVid(0x1000, mask: 0x1000)]))),
        .multipartRequest(.desc, flags: 0), .multipartRequest(.portDesc, flags: 0),
        .multipartRequest(.flow(table: 0xff, cookie: 1, cookieMask: 2, match: Match([.inPort(3)])), flags: 0),
        .multipartReply(.desc(SwitchDescription(manufacturer: "Nicira, Inc.", hardware: "Open vSwitch", software: "3.1.0", serialNumber: "None", datapath: "vmbr0")), flags: 0),
        .multipartReply(.portDesc([PortDescription(portNumber: 1, name: "bond0")]), flags: 1),
        .multipartReply(.flow([FlowStats(tableID: 0, priority: 0, cookie: 7, match: .any, instructions: [.applyActions([.normal])], durationSeconds: 3,
                                         packetCount: 10, byteCount: 1000),
                               FlowStats(tableID: 1, priority: 10, cookie: 8, match: Match([.metadata(3)]), instructions: [.applyActions([.popVlan, .output(3)])])]), flags: 0),
        .barrierRequest, .barrierReply,
        .roleReply(role: .master, generationID: 0x0102),
        .roleRequest(role: .slave, generationID: 7),
        .setAsync(.timeoutsOnly),
        .bundleControl(bundleID: 3, type: .commitReply, flags: Bundle.atomic),
        .bundleAdd(bundleID: 3, flags: Bundle.atomic, message: FlowMod(command: .add, priority: 5, instructions: [.applyActions([.normal])])),
        .unhandled(type: MessageType.getAsyncRequest.rawValue, body: [0, 0, 0, 2, 0, 0, 0, 0]),
    ]

    func testEveryMessageRoundTrips() throws {
        for (i, m) in Self.samples.enumerated() {
            let bytes = m.encoded(xid: UInt32(i + 1))
            XCTAssertEqual(Int(bytes[2]) << 8 | Int(bytes[3]), bytes.count, "length field of \(m)")
            let (h, decoded) = try Message.decode(bytes)
            XCTAssertEqual(h.xid, UInt32(i + 1))
            XCTAssertEqual(decoded, m, "round trip of sample \(i)")
            XCTAssertEqual(decoded.encoded(xid: UInt32(i + 1)), bytes, "re-encoding of sample \(i) differs")
        }
    }

    func testMatchFieldOrderDoesNotMatter() {
        let a = Match([.udpDst(5060), .ipProto(17), .ethType(0x0800), .inPort(1)])
        let b = Match([.inPort(1), .ethType(0x0800), .ipProto(17), .udpDst(5060)])
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.fields.map(\.field), [0, 5, 10, 16], "prerequisites come first on the wire")
        XCTAssertNil(OXMField(field: 2, value: [0, 0, 0, 0, 0, 0, 0, 3], mask: [UInt8](repeating: 0xff, count: 8)).mask, "an all-ones mask is an exact match")
        let later = Match([.ipFragLater, .ethType(0x0800)])
        XCTAssertEqual(later.fields.last, .ipFragLater, "Nicira fields follow OpenFlow-basic ones, after their prerequisites")
    }

    func testFramerDripFedOneByteAtATime() throws {
        let stream = Self.samples.enumerated().flatMap { $0.element.encoded(xid: UInt32($0.offset)) }
        var framer = Framer()
        var frames: [[UInt8]] = []
        for byte in stream {
            framer.append([byte])
            while let f = try framer.nextFrame() { frames.append(f) }
        }
        XCTAssertEqual(frames.count, Self.samples.count)
        XCTAssertEqual(try frames.map { try Message.decode($0).message }, Self.samples)
        XCTAssertEqual(framer.buffered, 0)
    }

    func testFramerManyMessagesInOneBuffer() throws {
        let stream = (0..<1000).flatMap { Message.barrierReply.encoded(xid: UInt32($0)) }
        var framer = Framer()
        framer.append(stream)
        var xids: [UInt32] = []
        while let f = try framer.nextFrame() { xids.append(try Message.decode(f).header.xid) }
        XCTAssertEqual(xids, Array(0..<1000))
    }

    func testFramerRefusesLengthBelowHeader() {
        var framer = Framer()
        framer.append([4, 0, 0, 4, 0, 0, 0, 0])
        XCTAssertThrowsError(try framer.nextFrame())
    }

    func testFramerWaitsForALengthThatIsLargerThanWhatArrived() throws {
        var framer = Framer()
        framer.append([4, 2, 0xff, 0xff, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 100))
        XCTAssertNil(try framer.nextFrame(), "a 64 KiB frame is not complete after 108 bytes")
        XCTAssertEqual(framer.buffered, 108)
    }

    func testDecodeRefusesWrongVersionAndUnknownType() {
        var echo = Message.echoRequest([]).encoded(xid: 1)
        echo[0] = 0x01
        XCTAssertThrowsError(try Message.decode(echo)) { XCTAssertEqual($0 as? OpenFlowDecodeError, .badVersion(1)) }
        var bogus = Message.barrierRequest.encoded(xid: 1)
        bogus[1] = 200
        XCTAssertThrowsError(try Message.decode(bogus)) { XCTAssertEqual($0 as? OpenFlowDecodeError, .unknownType(200)) }
        var hello10 = Message.hello(versions: []).encoded(xid: 1)
        hello10[0] = 0x01
        XCTAssertEqual(try Message.decode(hello10).header.version, 1, "HELLO of any version decodes, for negotiation")
    }

    func testLyingLengthsInsideMessagesThrow() {
        // A flow_stats entry claiming 0xffff bytes inside a short reply.
        var reply = Message.multipartReply(.flow([FlowStats(tableID: 0, priority: 0, cookie: 0, match: .any, instructions: [])]), flags: 0).encoded(xid: 1)
        reply[16] = 0xff; reply[17] = 0xff
        XCTAssertThrowsError(try Message.decode(reply))
        // An OXM whose length runs past its match.
        var fm = Message.flowMod(FlowMod(command: .add, match: Match([.inPort(1)]))).encoded(xid: 1)
        fm[48 + 4 + 3] = 200
        XCTAssertThrowsError(try Message.decode(fm))
    }

    /// Every truncation and many random corruptions of every sample: the decoder throws or returns, never traps.
    func testHostileBytesNeverCrash() {
        var rng = SeededGenerator(seed: 0x0f13)
        var decodedOrThrown = 0
        for m in Self.samples {
            let bytes = m.encoded(xid: 1)
            for cut in 0..<bytes.count {
                var b = Array(bytes[0..<cut])
                if b.count >= 4 { b[2] = UInt8(b.count >> 8); b[3] = UInt8(b.count & 0xff) }
                _ = try? Message.decode(b)
                decodedOrThrown += 1
            }
            for _ in 0..<300 {
                var b = bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<b.count, using: &rng)
                    b[i] = UInt8.random(in: 0...255, using: &rng)
                }
                b[2] = UInt8(b.count >> 8); b[3] = UInt8(b.count & 0xff)
                _ = try? Message.decode(b)
                decodedOrThrown += 1
            }
        }
        for _ in 0..<2000 {
            let n = Int.random(in: 8...300, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            b[0] = 4; b[2] = UInt8(n >> 8); b[3] = UInt8(n & 0xff)
            _ = try? Message.decode(b)
            var framer = Framer()
            framer.append(b)
            while let f = try? framer.nextFrame() { _ = try? Message.decode(f) }
            decodedOrThrown += 1
        }
        XCTAssertGreaterThan(decodedOrThrown, 2000)
    }
}
