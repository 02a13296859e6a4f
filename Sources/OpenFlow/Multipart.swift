/// A flow as reported in an OFPMP_FLOW reply.
public struct FlowStats: Hashable, Sendable {
    public var tableID: UInt8
    public var durationSeconds: UInt32
    public var priority: UInt16
    public var idleTimeout: UInt16
    public var hardTimeout: UInt16
    public var flags: UInt16
    public var cookie: UInt64
    public var packetCount: UInt64
    public var byteCount: UInt64
    public var match: Match
    public var instructions: [Instruction]

    public init(tableID: UInt8, priority: UInt16, cookie: UInt64, match: Match, instructions: [Instruction],
                durationSeconds: UInt32 = 0, idleTimeout: UInt16 = 0, hardTimeout: UInt16 = 0, flags: UInt16 = 0,
                packetCount: UInt64 = 0, byteCount: UInt64 = 0) {
        self.tableID = tableID; self.priority = priority; self.cookie = cookie; self.match = match
        self.instructions = instructions; self.durationSeconds = durationSeconds; self.idleTimeout = idleTimeout
        self.hardTimeout = hardTimeout; self.flags = flags; self.packetCount = packetCount; self.byteCount = byteCount
    }

    func encode(into w: inout ByteWriter) {
        let start = w.count
        w.u16(0); w.u8(tableID); w.zeros(1); w.u32(durationSeconds); w.u32(0)
        w.u16(priority); w.u16(idleTimeout); w.u16(hardTimeout); w.u16(flags); w.zeros(4)
        w.u64(cookie); w.u64(packetCount); w.u64(byteCount)
        match.encode(into: &w)
        for i in instructions { i.encode(into: &w) }
        w.patchU16(at: start, UInt16(w.count - start))
    }

    static func decode(_ r: inout ByteReader) throws -> FlowStats {
        let length = Int(try r.u16("flow_stats.length"))
        guard length >= 56 else { throw OpenFlowDecodeError.badLength(what: "flow_stats", length: length) }
        var e = try r.sub(length - 2, "flow_stats")
        let table = try e.u8(); try e.skip(1)
        let dsec = try e.u32(); _ = try e.u32()
        let prio = try e.u16(), idle = try e.u16(), hard = try e.u16(), flags = try e.u16()
        try e.skip(4)
        let cookie = try e.u64(), packets = try e.u64(), bytes = try e.u64()
        let match = try Match.decode(&e)
        let instructions = try Instruction.decodeList(&e)
        return FlowStats(tableID: table, priority: prio, cookie: cookie, match: match, instructions: instructions,
                         durationSeconds: dsec, idleTimeout: idle, hardTimeout: hard, flags: flags,
                         packetCount: packets, byteCount: bytes)
    }
}

/// OFPMP_DESC reply body.
public struct SwitchDescription: Hashable, Sendable {
    public var manufacturer: String, hardware: String, software: String, serialNumber: String, datapath: String
    public init(manufacturer: String, hardware: String, software: String, serialNumber: String, datapath: String) {
        self.manufacturer = manufacturer; self.hardware = hardware; self.software = software
        self.serialNumber = serialNumber; self.datapath = datapath
    }
}

/// OFPT_MULTIPART_REQUEST bodies sipspan sends.
public enum MultipartRequest: Hashable, Sendable {
    case desc
    /// Flows in `table` (0xff = all) whose cookie matches `cookie` under `cookieMask`.
    case flow(table: UInt8, cookie: UInt64, cookieMask: UInt64, match: Match)
    case portDesc
    case other(type: UInt16, body: [UInt8])

    var type: UInt16 {
        switch self {
        case .desc: return MultipartType.desc.rawValue
        case .flow: return MultipartType.flow.rawValue
        case .portDesc: return MultipartType.portDesc.rawValue
        case let .other(t, _): return t
        }
    }
}

/// OFPT_MULTIPART_REPLY bodies sipspan reads.
public enum MultipartReply: Hashable, Sendable {
    case desc(SwitchDescription)
    case flow([FlowStats])
    case portDesc([PortDescription])
    case other(type: UInt16, body: [UInt8])
}

public let multipartFlagMore: UInt16 = 1

extension MultipartRequest {
    func encodeBody(flags: UInt16, into w: inout ByteWriter) {
        w.u16(type); w.u16(flags); w.zeros(4)
        switch self {
        case .desc, .portDesc: break
        case let .flow(table, cookie, mask, match):
            w.u8(table); w.zeros(3); w.u32(PortNumber.any); w.u32(0xffff_ffff); w.zeros(4)
            w.u64(cookie); w.u64(mask); match.encode(into: &w)
        case let .other(_, body): w.append(body)
        }
    }

    static func decodeBody(type: UInt16, _ r: inout ByteReader) throws -> MultipartRequest {
        switch MultipartType(rawValue: type) {
        case .desc: return .desc
        case .portDesc: return .portDesc
        case .flow:
            let table = try r.u8(); try r.skip(3); _ = try r.u32(); _ = try r.u32(); try r.skip(4)
            let cookie = try r.u64(), mask = try r.u64()
            return .flow(table: table, cookie: cookie, cookieMask: mask, match: try Match.decode(&r))
        case nil: return .other(type: type, body: r.rest())
        }
    }
}

extension MultipartReply {
    var type: UInt16 {
        switch self {
        case .desc: return MultipartType.desc.rawValue
        case .flow: return MultipartType.flow.rawValue
        case .portDesc: return MultipartType.portDesc.rawValue
        case let .other(t, _): return t
        }
    }

    func encodeBody(flags: UInt16, into w: inout ByteWriter) {
        w.u16(type); w.u16(flags); w.zeros(4)
        switch self {
        case let .desc(d):
            w.fixedString(d.manufacturer, 256); w.fixedString(d.hardware, 256); w.fixedString(d.software, 256)
            w.fixedString(d.serialNumber, 32); w.fixedString(d.datapath, 256)
        case let .flow(stats): for s in stats { s.encode(into: &w) }
        case let .portDesc(ports): for p in ports { p.encode(into: &w) }
        case let .other(_, body): w.append(body)
        }
    }

    static func decodeBody(type: UInt16, _ r: inout ByteReader) throws -> MultipartReply {
        switch MultipartType(rawValue: type) {
        case .desc:
            return .desc(SwitchDescription(manufacturer: try r.fixedString(256, "mfr_desc"), hardware: try r.fixedString(256, "hw_desc"),
                                           software: try r.fixedString(256, "sw_desc"), serialNumber: try r.fixedString(32, "serial_num"),
                                           datapath: try r.fixedString(256, "dp_desc")))
        case .flow:
            var stats: [FlowStats] = []
            while r.remaining > 0 { stats.append(try FlowStats.decode(&r)) }
            return .flow(stats)
        case .portDesc:
            guard r.remaining % PortDescription.size == 0 else {
                throw OpenFlowDecodeError.badLength(what: "port_desc reply", length: r.remaining)
            }
            var ports: [PortDescription] = []
            while r.remaining > 0 { ports.append(try PortDescription.decode(&r)) }
            return .portDesc(ports)
        case nil:
            return .other(type: type, body: r.rest())
        }
    }
}
