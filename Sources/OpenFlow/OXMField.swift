/// One OXM TLV of a match: class, field, value and optional mask.
///
/// Unknown classes and fields are kept as raw bytes, so a flow that OVS reports with a field this
/// codec does not name still round-trips and compares exactly.
public struct OXMField: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let oxmClass: UInt16
    public let field: UInt8
    public let value: [UInt8]
    public let mask: [UInt8]?

    /// An all-ones mask is dropped: it means an exact match, which is how switches report it back.
    public init(oxmClass: UInt16 = OXMField.openFlowBasic, field: UInt8, value: [UInt8], mask: [UInt8]? = nil) {
        self.oxmClass = oxmClass; self.field = field; self.value = value
        self.mask = mask.flatMap { $0.allSatisfy { $0 == 0xff } ? nil : $0 }
    }

    public static let openFlowBasic: UInt16 = 0x8000
    /// Open vSwitch's NXM_1 class, usable inside OpenFlow 1.3 OXM matches.
    public static let nxm1: UInt16 = 0x0001
    /// NXM_NX_IP_FRAG: bit 0 = a fragment, bit 1 = not the first fragment.
    public static let nxIPFrag: UInt8 = 26

    /// `ip_frag=later`: the second and following fragments of an IP datagram (no L4 header). Both
    /// bits of this 2-bit field are matched, so it is written unmasked, as OVS reports it back.
    public static let ipFragLater = OXMField(oxmClass: nxm1, field: nxIPFrag, value: [3], mask: nil)

    /// OFPXMT_OFB_* field numbers used by sipspan.
    public enum Basic: UInt8, CaseIterable, Sendable {
        case inPort = 0, metadata = 2, ethDst = 3, ethSrc = 4, ethType = 5, vlanVid = 6
        case ipProto = 10, ipv4Src = 11, ipv4Dst = 12, tcpSrc = 13, tcpDst = 14, udpSrc = 15, udpDst = 16
        case ipv6Src = 26, ipv6Dst = 27
        /// OXM_OF_TUNNEL_ID (OVS's `tun_id`; it reports a set_field of tun_id with this header in OpenFlow 1.3).
        case tunnelID = 38

        /// Payload width in bytes (without mask).
        public var width: Int {
            switch self {
            case .inPort, .ipv4Src, .ipv4Dst: return 4
            case .metadata, .tunnelID: return 8
            case .ethDst, .ethSrc: return 6
            case .ethType, .vlanVid, .tcpSrc, .tcpDst, .udpSrc, .udpDst: return 2
            case .ipProto: return 1
            case .ipv6Src, .ipv6Dst: return 16
            }
        }
        /// Bitwise-maskable in Open vSwitch (L4 ports too: OVS accepts them masked in OpenFlow 1.2+).
        public var maskable: Bool {
            switch self {
            case .metadata, .ethDst, .ethSrc, .vlanVid, .ipv4Src, .ipv4Dst, .ipv6Src, .ipv6Dst, .tcpSrc, .tcpDst, .udpSrc, .udpDst, .tunnelID: return true
            default: return false
            }
        }
        public var name: String {
            switch self {
            case .inPort: return "in_port"
            case .metadata: return "metadata"
            case .ethDst: return "eth_dst"
            case .ethSrc: return "eth_src"
            case .ethType: return "eth_type"
            case .vlanVid: return "vlan_vid"
            case .ipProto: return "ip_proto"
            case .ipv4Src: return "ipv4_src"
            case .ipv4Dst: return "ipv4_dst"
            case .tcpSrc: return "tcp_src"
            case .tcpDst: return "tcp_dst"
            case .udpSrc: return "udp_src"
            case .udpDst: return "udp_dst"
            case .ipv6Src: return "ipv6_src"
            case .ipv6Dst: return "ipv6_dst"
            case .tunnelID: return "tun_id"
            }
        }
    }

    public var basic: Basic? { oxmClass == OXMField.openFlowBasic ? Basic(rawValue: field) : nil }

    /// Open vSwitch NXM_1 fields sipspan uses (in matches or `set_field`).
    public enum Nicira: UInt8, CaseIterable, Sendable {
        /// NXM_NX_IP_FRAG.
        case ipFrag = 26
        /// NXM_NX_TUN_IPV4_DST: the tunnel's remote (outer destination) IPv4 address.
        case tunIPv4Dst = 32

        public var width: Int {
            switch self {
            case .ipFrag: return 1
            case .tunIPv4Dst: return 4
            }
        }
        public var name: String {
            switch self {
            case .ipFrag: return "ip_frag"
            case .tunIPv4Dst: return "tun_dst"
            }
        }
    }

    public var nicira: Nicira? { oxmClass == OXMField.nxm1 ? Nicira(rawValue: field) : nil }

    /// The tunnel key (VXLAN VNI; ERSPAN session id in its low 10 bits), as OXM_OF_TUNNEL_ID.
    public static func tunID(_ id: UInt64) -> OXMField { .init(field: Basic.tunnelID.rawValue, value: be(id, 8)) }
    public static func tunIPv4Dst(_ a: [UInt8]) -> OXMField { .init(oxmClass: nxm1, field: Nicira.tunIPv4Dst.rawValue, value: a) }

    // Typed constructors.
    public static func inPort(_ p: UInt32) -> OXMField { .init(field: Basic.inPort.rawValue, value: be(UInt64(p), 4)) }
    public static func metadata(_ m: UInt64) -> OXMField { .init(field: Basic.metadata.rawValue, value: be(m, 8)) }
    public static func ethDst(_ m: MACAddress) -> OXMField { .init(field: Basic.ethDst.rawValue, value: m.bytes) }
    public static func ethDst(_ m: MACAddress, mask: MACAddress) -> OXMField { .init(field: Basic.ethDst.rawValue, value: m.bytes, mask: mask.bytes) }
    public static func ethSrc(_ m: MACAddress) -> OXMField { .init(field: Basic.ethSrc.rawValue, value: m.bytes) }
    public static func ethType(_ t: UInt16) -> OXMField { .init(field: Basic.ethType.rawValue, value: be(UInt64(t), 2)) }
    /// `vid` includes OFPVID_PRESENT (0x1000) when a tag must be present.
    public static func vlanVid(_ vid: UInt16, mask: UInt16? = nil) -> OXMField {
        .init(field: Basic.vlanVid.rawValue, value: be(UInt64(vid), 2), mask: mask.map { be(UInt64($0), 2) })
    }
    public static func ipProto(_ p: UInt8) -> OXMField { .init(field: Basic.ipProto.rawValue, value: [p]) }
    public static func ipv4Src(_ a: [UInt8]) -> OXMField { .init(field: Basic.ipv4Src.rawValue, value: a) }
    public static func ipv4Dst(_ a: [UInt8]) -> OXMField { .init(field: Basic.ipv4Dst.rawValue, value: a) }
    public static func ipv6Src(_ a: [UInt8]) -> OXMField { .init(field: Basic.ipv6Src.rawValue, value: a) }
    public static func ipv6Dst(_ a: [UInt8]) -> OXMField { .init(field: Basic.ipv6Dst.rawValue, value: a) }
    public static func tcpSrc(_ p: UInt16) -> OXMField { .init(field: Basic.tcpSrc.rawValue, value: be(UInt64(p), 2)) }
    public static func tcpDst(_ p: UInt16) -> OXMField { .init(field: Basic.tcpDst.rawValue, value: be(UInt64(p), 2)) }
    public static func udpSrc(_ p: UInt16) -> OXMField { .init(field: Basic.udpSrc.rawValue, value: be(UInt64(p), 2)) }
    public static func udpDst(_ p: UInt16) -> OXMField { .init(field: Basic.udpDst.rawValue, value: be(UInt64(p), 2)) }

    /// A TCP or UDP source or destination port under a bitwise mask (one prefix of a port range).
    public static func l4Port(_ field: Basic, _ value: UInt16, mask: UInt16) -> OXMField {
        .init(field: field.rawValue, value: be(UInt64(value), 2), mask: mask == 0xffff ? nil : be(UInt64(mask), 2))
    }

    /// The value as an unsigned integer (fields up to 8 bytes).
    public var integer: UInt64 { value.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

    /// OpenFlow-basic fields first, in field-number order (which puts every prerequisite before the
    /// fields that need it: eth_type < ip_proto < udp_dst), then other classes.
    public static func < (a: OXMField, b: OXMField) -> Bool {
        if a.oxmClass != b.oxmClass {
            if a.oxmClass == openFlowBasic || b.oxmClass == openFlowBasic { return a.oxmClass == openFlowBasic }
            return a.oxmClass < b.oxmClass
        }
        if a.field != b.field { return a.field < b.field }
        return a.value.lexicographicallyPrecedes(b.value)
    }

    public var description: String {
        if self == OXMField.ipFragLater { return "ip_frag=later" }
        let name = basic?.name ?? nicira?.name ?? "oxm(\(String(oxmClass, radix: 16)):\(field))"
        let v: String
        if nicira == .tunIPv4Dst { return "\(name)=" + value.map { String($0) }.joined(separator: ".") }
        if basic == .tunnelID { return "\(name)=0x" + String(integer, radix: 16) }
        switch basic {
        case .ethDst?, .ethSrc?: v = MACAddress(bytes: value)?.description ?? hexString(value)
        case .ethType?, .vlanVid?, .metadata?: v = "0x" + String(integer, radix: 16)
        case .ipv4Src?, .ipv4Dst?: v = value.map { String($0) }.joined(separator: ".")
        case .ipv6Src?, .ipv6Dst?: v = hexString(value)
        case nil: v = hexString(value)
        default: v = String(integer)
        }
        if let mask { return "\(name)=\(v)/\(hexString(mask))" }
        return "\(name)=\(v)"
    }

    // MARK: wire

    func encode(into w: inout ByteWriter) {
        w.u16(oxmClass)
        w.u8(field << 1 | (mask == nil ? 0 : 1))
        w.u8(UInt8(value.count + (mask?.count ?? 0)))
        w.append(value)
        if let mask { w.append(mask) }
    }

    static func decode(_ r: inout ByteReader) throws -> OXMField {
        let cls = try r.u16("oxm.class")
        let fh = try r.u8("oxm.field")
        let len = Int(try r.u8("oxm.length"))
        let hasMask = fh & 1 == 1
        let field = fh >> 1
        if cls == 0xffff {
            // Experimenter OXM: the experimenter id is part of the payload; keep it raw.
            return OXMField(oxmClass: cls, field: field, value: try r.take(len, "oxm.experimenter"), mask: nil)
        }
        if hasMask {
            guard len % 2 == 0, len > 0 else { throw OpenFlowDecodeError.badLength(what: "masked oxm", length: len) }
            let v = try r.take(len / 2, "oxm.value")
            let m = try r.take(len / 2, "oxm.mask")
            try checkWidth(cls: cls, field: field, width: len / 2)
            return OXMField(oxmClass: cls, field: field, value: v, mask: m)
        }
        let v = try r.take(len, "oxm.value")
        try checkWidth(cls: cls, field: field, width: len)
        return OXMField(oxmClass: cls, field: field, value: v, mask: nil)
    }

    private static func checkWidth(cls: UInt16, field: UInt8, width: Int) throws {
        if cls == openFlowBasic, let b = Basic(rawValue: field), b.width != width {
            throw OpenFlowDecodeError.badLength(what: "oxm \(b.name)", length: width)
        }
        if cls == nxm1, let n = Nicira(rawValue: field), n.width != width {
            throw OpenFlowDecodeError.badLength(what: "nxm \(n.name)", length: width)
        }
    }
}

func be(_ v: UInt64, _ width: Int) -> [UInt8] {
    (0..<width).map { UInt8((v >> UInt64(8 * (width - 1 - $0))) & 0xff) }
}

func hexString(_ b: [UInt8]) -> String { b.map { hex2($0) }.joined() }
