/// OFPT_FEATURES_REPLY body.
public struct SwitchFeatures: Hashable, Sendable {
    public var datapathID: UInt64
    public var bufferCount: UInt32
    public var tableCount: UInt8
    public var auxiliaryID: UInt8
    public var capabilities: UInt32
    public init(datapathID: UInt64, bufferCount: UInt32 = 0, tableCount: UInt8 = 254, auxiliaryID: UInt8 = 0, capabilities: UInt32 = 0) {
        self.datapathID = datapathID; self.bufferCount = bufferCount; self.tableCount = tableCount
        self.auxiliaryID = auxiliaryID; self.capabilities = capabilities
    }
}

/// OFPT_PACKET_IN body.
public struct PacketIn: Hashable, Sendable {
    public var bufferID: UInt32
    public var totalLength: UInt16
    public var reason: UInt8
    public var tableID: UInt8
    public var cookie: UInt64
    public var match: Match
    public var data: [UInt8]
    public init(bufferID: UInt32 = 0xffff_ffff, totalLength: UInt16, reason: UInt8, tableID: UInt8, cookie: UInt64, match: Match, data: [UInt8]) {
        self.bufferID = bufferID; self.totalLength = totalLength; self.reason = reason; self.tableID = tableID
        self.cookie = cookie; self.match = match; self.data = data
    }
    /// The port the frame came in on (from the match), if present.
    public var inPort: UInt32? { match.inPort }
    /// The Ethernet source address of the frame, if the data holds one.
    public var ethernetSource: MACAddress? { data.count >= 12 ? MACAddress(bytes: Array(data[6..<12])) : nil }
}

/// OFPT_FLOW_REMOVED: a flow that had OFPFF_SEND_FLOW_REM left the table.
public struct FlowRemoved: Hashable, Sendable {
    /// OFPRR_*: why it was removed.
    public enum Reason: UInt8, Sendable { case idleTimeout = 0, hardTimeout = 1, delete = 2, groupDelete = 3, meterDelete = 4, eviction = 5 }
    public var cookie: UInt64
    public var priority: UInt16
    /// The raw OFPRR_* value (`Reason(rawValue:)` names the known ones).
    public var reason: UInt8
    public var tableID: UInt8
    public var durationSeconds: UInt32
    public var idleTimeout: UInt16
    public var packetCount: UInt64
    public var byteCount: UInt64
    public var match: Match
    public init(cookie: UInt64, priority: UInt16, reason: UInt8, tableID: UInt8, durationSeconds: UInt32 = 0, idleTimeout: UInt16 = 0,
                packetCount: UInt64 = 0, byteCount: UInt64 = 0, match: Match) {
        self.cookie = cookie; self.priority = priority; self.reason = reason; self.tableID = tableID
        self.durationSeconds = durationSeconds; self.idleTimeout = idleTimeout; self.packetCount = packetCount; self.byteCount = byteCount
        self.match = match
    }
}

/// OFPT_PORT_STATUS reason.
public enum PortStatusReason: UInt8, Sendable { case add = 0, delete = 1, modify = 2 }

/// An OpenFlow 1.3 message: header xid plus a typed body.
public enum Message: Hashable, Sendable {
    /// HELLO with the versions in its OFPHET_VERSIONBITMAP element (empty when absent).
    case hello(versions: Set<UInt8>)
    case error(type: UInt16, code: UInt16, data: [UInt8])
    case echoRequest([UInt8])
    case echoReply([UInt8])
    case featuresRequest
    case featuresReply(SwitchFeatures)
    case getConfigRequest
    case getConfigReply(flags: UInt16, missSendLength: UInt16)
    case setConfig(flags: UInt16, missSendLength: UInt16)
    case packetIn(PacketIn)
    case portStatus(reason: PortStatusReason, port: PortDescription)
    case flowRemoved(FlowRemoved)
    case flowMod(FlowMod)
    case multipartRequest(MultipartRequest, flags: UInt16)
    case multipartReply(MultipartReply, flags: UInt16)
    case barrierRequest
    case barrierReply
    /// OFPT_ROLE_REQUEST / OFPT_ROLE_REPLY: role and generation id.
    case roleRequest(role: ControllerRole, generationID: UInt64)
    case roleReply(role: ControllerRole, generationID: UInt64)
    /// OFPT_SET_ASYNC: the asynchronous messages this connection receives.
    case setAsync(AsyncConfiguration)
    /// ONF bundle control (open, commit, discard and their replies).
    case bundleControl(bundleID: UInt32, type: BundleControlType, flags: UInt16)
    /// ONF bundle add: `message` (a flow_mod) goes into the bundle; it carries this message's xid.
    case bundleAdd(bundleID: UInt32, flags: UInt16, message: FlowMod)
    /// A message type sipspan does not interpret: type and raw body.
    case unhandled(type: UInt8, body: [UInt8])

    public var type: UInt8 {
        switch self {
        case .hello: return MessageType.hello.rawValue
        case .error: return MessageType.error.rawValue
        case .echoRequest: return MessageType.echoRequest.rawValue
        case .echoReply: return MessageType.echoReply.rawValue
        case .featuresRequest: return MessageType.featuresRequest.rawValue
        case .featuresReply: return MessageType.featuresReply.rawValue
        case .getConfigRequest: return MessageType.getConfigRequest.rawValue
        case .getConfigReply: return MessageType.getConfigReply.rawValue
        case .setConfig: return MessageType.setConfig.rawValue
        case .packetIn: return MessageType.packetIn.rawValue
        case .portStatus: return MessageType.portStatus.rawValue
        case .flowRemoved: return MessageType.flowRemoved.rawValue
        case .flowMod: return MessageType.flowMod.rawValue
        case .multipartRequest: return MessageType.multipartRequest.rawValue
        case .multipartReply: return MessageType.multipartReply.rawValue
        case .barrierRequest: return MessageType.barrierRequest.rawValue
        case .barrierReply: return MessageType.barrierReply.rawValue
        case .bundleControl, .bundleAdd: return MessageType.experimenter.rawValue
        case .roleRequest: return MessageType.roleRequest.rawValue
        case .roleReply: return MessageType.roleReply.rawValue
        case .setAsync: return MessageType.setAsync.rawValue
        case let .unhandled(t, _): return t
        }
    }

    /// Appends the encoded message (header included) to `w`.
    public func encode(xid: UInt32, into w: inout ByteWriter) {
        let start = w.count
        w.u8(openFlow13Version); w.u8(type); w.u16(0); w.u32(xid)
        switch self {
        case let .hello(versions):
            if !versions.isEmpty {
                var bitmap: UInt32 = 0
                for v in versions where v < 32 { bitmap |= 1 << UInt32(v) }
                w.u16(1); w.u16(8); w.u32(bitmap)
            }
        case let .error(type, code, data):
            w.u16(type); w.u16(code); w.append(data.prefix(65_535 - 12))
        case let .echoRequest(d), let .echoReply(d):
            w.append(d.prefix(65_535 - 8))
        case .featuresRequest, .getConfigRequest, .barrierRequest, .barrierReply:
            break
        case let .featuresReply(f):
            w.u64(f.datapathID); w.u32(f.bufferCount); w.u8(f.tableCount); w.u8(f.auxiliaryID); w.zeros(2)
            w.u32(f.capabilities); w.u32(0)
        case let .getConfigReply(flags, len), let .setConfig(flags, len):
            w.u16(flags); w.u16(len)
        case let .packetIn(p):
            w.u32(p.bufferID); w.u16(p.totalLength); w.u8(p.reason); w.u8(p.tableID); w.u64(p.cookie)
            p.match.encode(into: &w); w.zeros(2); w.append(p.data)
        case let .portStatus(reason, port):
            w.u8(reason.rawValue); w.zeros(7); port.encode(into: &w)
        case let .flowRemoved(f):
            w.u64(f.cookie); w.u16(f.priority); w.u8(f.reason); w.u8(f.tableID)
            w.u32(f.durationSeconds); w.u32(0); w.u16(f.idleTimeout); w.u16(0)
            w.u64(f.packetCount); w.u64(f.byteCount); f.match.encode(into: &w)
        case let .flowMod(fm):
            fm.encodeBody(into: &w)
        case let .multipartRequest(req, flags):
            req.encodeBody(flags: flags, into: &w)
        case let .multipartReply(rep, flags):
            rep.encodeBody(flags: flags, into: &w)
        case let .roleRequest(role, generation), let .roleReply(role, generation):
            w.u32(role.rawValue); w.zeros(4); w.u64(generation)
        case let .setAsync(c):
            for v in [c.packetInMaster, c.packetInSlave, c.portStatusMaster, c.portStatusSlave, c.flowRemovedMaster, c.flowRemovedSlave] { w.u32(v) }
        case let .bundleControl(id, type, flags):
            w.u32(Bundle.onfExperimenter); w.u32(Bundle.controlSubtype)
            w.u32(id); w.u16(type.rawValue); w.u16(flags)
        case let .bundleAdd(id, flags, fm):
            w.u32(Bundle.onfExperimenter); w.u32(Bundle.addSubtype)
            w.u32(id); w.zeros(2); w.u16(flags)
            // The embedded message carries the bundle add's own xid (OpenFlow 1.4, 7.3.9.6).
            Message.flowMod(fm).encode(xid: xid, into: &w)
        case let .unhandled(_, body):
            w.append(body)
        }
        w.patchU16(at: start + 2, UInt16(truncatingIfNeeded: w.count - start))
    }

    /// The encoded message as bytes.
    public func encoded(xid: UInt32) -> [UInt8] {
        var w = ByteWriter()
        encode(xid: xid, into: &w)
        return w.bytes
    }

    /// Decodes one whole frame (as returned by `Framer`). Throws on any inconsistency;
    /// a message whose version is not 1.3 decodes only if it is a HELLO (version negotiation).
    public static func decode(_ frame: [UInt8]) throws -> (header: OpenFlowHeader, message: Message) {
        var r = ByteReader(frame)
        let h = try OpenFlowHeader.decode(&r)
        guard Int(h.length) == frame.count else { throw OpenFlowDecodeError.badLength(what: "message", length: Int(h.length)) }
        guard h.version == openFlow13Version || h.type == MessageType.hello.rawValue else {
            throw OpenFlowDecodeError.badVersion(h.version)
        }
        let message = try decodeBody(type: h.type, &r)
        return (h, message)
    }

    private static func decodeBody(type: UInt8, _ r: inout ByteReader) throws -> Message {
        guard let t = MessageType(rawValue: type) else { throw OpenFlowDecodeError.unknownType(type) }
        switch t {
        case .hello:
            var versions = Set<UInt8>()
            while r.remaining >= 4 {
                let et = try r.u16("hello.element.type"), el = Int(try r.u16("hello.element.length"))
                guard el >= 4 else { throw OpenFlowDecodeError.badLength(what: "hello element", length: el) }
                var body = try r.sub(el - 4, "hello.element")
                if et == 1 {
                    var word = 0
                    while body.remaining >= 4 {
                        let bits = try body.u32()
                        for b in 0..<32 where bits & (1 << UInt32(b)) != 0 && word * 32 + b < 256 {
                            versions.insert(UInt8(word * 32 + b))
                        }
                        word += 1
                    }
                }
                try r.skip((8 - el % 8) % 8 <= r.remaining ? (8 - el % 8) % 8 : r.remaining)
            }
            return .hello(versions: versions)
        case .error:
            return .error(type: try r.u16("error.type"), code: try r.u16("error.code"), data: r.rest())
        case .echoRequest: return .echoRequest(r.rest())
        case .echoReply: return .echoReply(r.rest())
        case .featuresRequest: try expectEmpty(r, "features_request"); return .featuresRequest
        case .featuresReply:
            let dpid = try r.u64("datapath_id"), nb = try r.u32(), nt = try r.u8(), aux = try r.u8()
            try r.skip(2); let caps = try r.u32(); _ = try r.u32()
            try expectEmpty(r, "features_reply")
            return .featuresReply(SwitchFeatures(datapathID: dpid, bufferCount: nb, tableCount: nt, auxiliaryID: aux, capabilities: caps))
        case .getConfigRequest: try expectEmpty(r, "get_config_request"); return .getConfigRequest
        case .getConfigReply, .setConfig:
            let flags = try r.u16(), len = try r.u16()
            try expectEmpty(r, "switch_config")
            return t == .setConfig ? .setConfig(flags: flags, missSendLength: len) : .getConfigReply(flags: flags, missSendLength: len)
        case .packetIn:
            let buffer = try r.u32(), total = try r.u16(), reason = try r.u8(), table = try r.u8(), cookie = try r.u64()
            let match = try Match.decode(&r)
            try r.skip(2)
            return .packetIn(PacketIn(bufferID: buffer, totalLength: total, reason: reason, tableID: table, cookie: cookie, match: match, data: r.rest()))
        case .portStatus:
            let reasonRaw = try r.u8("port_status.reason")
            guard let reason = PortStatusReason(rawValue: reasonRaw) else { throw OpenFlowDecodeError.unsupported("port_status reason \(reasonRaw)") }
            try r.skip(7)
            let port = try PortDescription.decode(&r)
            try expectEmpty(r, "port_status")
            return .portStatus(reason: reason, port: port)
        case .flowRemoved:
            let cookie = try r.u64("flow_removed.cookie"), priority = try r.u16(), reason = try r.u8(), table = try r.u8()
            let seconds = try r.u32(); _ = try r.u32()
            let idle = try r.u16(); _ = try r.u16()
            let packets = try r.u64(), bytes = try r.u64()
            let match = try Match.decode(&r)
            try expectEmpty(r, "flow_removed")
            return .flowRemoved(FlowRemoved(cookie: cookie, priority: priority, reason: reason, tableID: table, durationSeconds: seconds,
                                            idleTimeout: idle, packetCount: packets, byteCount: bytes, match: match))
        case .flowMod:
            let fm = try FlowMod.decodeBody(&r)
            return .flowMod(fm)
        case .multipartRequest, .multipartReply:
            let mtype = try r.u16("multipart.type"), flags = try r.u16("multipart.flags")
            try r.skip(4)
            if t == .multipartRequest { return .multipartRequest(try MultipartRequest.decodeBody(type: mtype, &r), flags: flags) }
            return .multipartReply(try MultipartReply.decodeBody(type: mtype, &r), flags: flags)
        case .barrierRequest: try expectEmpty(r, "barrier_request"); return .barrierRequest
        case .barrierReply: try expectEmpty(r, "barrier_reply"); return .barrierReply
        case .roleRequest, .roleReply:
            let raw = try r.u32("role"); try r.skip(4); let generation = try r.u64("generation_id")
            try expectEmpty(r, "role message")
            guard let role = ControllerRole(rawValue: raw) else { throw OpenFlowDecodeError.unsupported("controller role \(raw)") }
            return t == .roleRequest ? .roleRequest(role: role, generationID: generation) : .roleReply(role: role, generationID: generation)
        case .setAsync:
            let v = try (0..<6).map { _ in try r.u32("set_async") }
            try expectEmpty(r, "set_async")
            return .setAsync(AsyncConfiguration(packetInMaster: v[0], packetInSlave: v[1], portStatusMaster: v[2], portStatusSlave: v[3],
                                                flowRemovedMaster: v[4], flowRemovedSlave: v[5]))
        case .experimenter:
            var peek = r
            guard peek.remaining >= 8, try peek.u32() == Bundle.onfExperimenter else { return .unhandled(type: type, body: r.rest()) }
            let subtype = try peek.u32()
            switch subtype {
            case Bundle.controlSubtype:
                let id = try peek.u32("bundle_ctrl.bundle_id"), raw = try peek.u16("bundle_ctrl.type"), flags = try peek.u16()
                guard let ctype = BundleControlType(rawValue: raw) else { throw OpenFlowDecodeError.unsupported("bundle control type \(raw)") }
                // Properties, if any, are not used.
                return .bundleControl(bundleID: id, type: ctype, flags: flags)
            case Bundle.addSubtype:
                let id = try peek.u32("bundle_add.bundle_id"); try peek.skip(2); let flags = try peek.u16()
                // One level only: the embedded message must be a whole flow_mod (no bundle in a bundle).
                let inner = peek.rest()
                guard inner.count >= 8, inner[1] == MessageType.flowMod.rawValue else {
                    throw OpenFlowDecodeError.unsupported("bundle add of a message other than flow_mod")
                }
                let (_, message) = try Message.decode(inner)
                guard case let .flowMod(fm) = message else { throw OpenFlowDecodeError.unsupported("bundle add of a message other than flow_mod") }
                return .bundleAdd(bundleID: id, flags: flags, message: fm)
            default:
                return .unhandled(type: type, body: r.rest())
            }
        default:
            return .unhandled(type: type, body: r.rest())
        }
    }

    private static func expectEmpty(_ r: ByteReader, _ what: String) throws {
        guard r.remaining == 0 else { throw OpenFlowDecodeError.trailingBytes(what: what, count: r.remaining) }
    }
}

/// OpenFlow error types and codes sipspan sends or names in logs.
