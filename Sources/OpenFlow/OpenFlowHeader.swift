/// OpenFlow 1.3 wire version.
public let openFlow13Version: UInt8 = 0x04

/// The 8-byte header every OpenFlow message starts with.
public struct OpenFlowHeader: Equatable, Sendable {
    public static let size = 8
    public var version: UInt8
    public var type: UInt8
    public var length: UInt16
    public var xid: UInt32

    public init(version: UInt8, type: UInt8, length: UInt16, xid: UInt32) {
        self.version = version; self.type = type; self.length = length; self.xid = xid
    }

    public static func decode(_ r: inout ByteReader) throws -> OpenFlowHeader {
        OpenFlowHeader(version: try r.u8("header.version"), type: try r.u8("header.type"),
                       length: try r.u16("header.length"), xid: try r.u32("header.xid"))
    }
}

/// OpenFlow 1.3 message type codes (ofp_type).
public enum MessageType: UInt8, Sendable {
    case hello = 0, error = 1, echoRequest = 2, echoReply = 3, experimenter = 4
    case featuresRequest = 5, featuresReply = 6, getConfigRequest = 7, getConfigReply = 8, setConfig = 9
    case packetIn = 10, flowRemoved = 11, portStatus = 12, packetOut = 13, flowMod = 14
    case groupMod = 15, portMod = 16, tableMod = 17, multipartRequest = 18, multipartReply = 19
    case barrierRequest = 20, barrierReply = 21, queueGetConfigRequest = 22, queueGetConfigReply = 23
    case roleRequest = 24, roleReply = 25, getAsyncRequest = 26, getAsyncReply = 27, setAsync = 28
    case meterMod = 29
}
