/// An OpenFlow 1.3 action (the subset sipspan uses; others are kept raw).
public enum Action: Hashable, Sendable, CustomStringConvertible {
    /// OFPAT_OUTPUT. `maxLength` matters only for the CONTROLLER port.
    case output(port: UInt32, maxLength: UInt16)
    /// OFPAT_POP_VLAN.
    case popVlan
    /// OFPAT_SET_FIELD: one OXM (e.g. Nicira's `tun_dst`, `tun_id` before an output to a tunnel port).
    case setField(OXMField)
    /// Any other action, as its type and body (after the 4-byte type/length header).
    case other(type: UInt16, body: [UInt8])

    public static func output(_ port: UInt32) -> Action { .output(port: port, maxLength: port == PortNumber.controller ? 128 : 0) }
    public static let normal = Action.output(port: PortNumber.normal, maxLength: 0)

    public var description: String {
        switch self {
        case let .output(port, maxLength):
            if port == PortNumber.controller { return "CONTROLLER:\(maxLength)" }
            if port > PortNumber.max { return PortNumber.name(port) }
            return "output:\(port)"
        case .popVlan: return "pop_vlan"
        case let .setField(f):
            let text = f.description
            guard let eq = text.firstIndex(of: "=") else { return "set_field:\(text)" }
            return "set_field:\(text[text.index(after: eq)...])->\(text[..<eq])"
        case let .other(type, body): return "action(\(type),\(hexString(body)))"
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case let .output(port, maxLength):
            w.u16(ActionType.output.rawValue); w.u16(16); w.u32(port); w.u16(maxLength); w.zeros(6)
        case .popVlan:
            w.u16(ActionType.popVlan.rawValue); w.u16(8); w.zeros(4)
        case let .setField(f):
            let oxmLength = 4 + f.value.count + (f.mask?.count ?? 0)
            let length = (4 + oxmLength + 7) / 8 * 8
            w.u16(ActionType.setField.rawValue); w.u16(UInt16(length))
            f.encode(into: &w)
            w.zeros(length - 4 - oxmLength)
        case let .other(type, body):
            w.u16(type); w.u16(UInt16(4 + body.count)); w.append(body)
        }
    }

    static func decode(_ r: inout ByteReader) throws -> Action {
        let type = try r.u16("action.type")
        let len = Int(try r.u16("action.length"))
        guard len >= 8, len % 8 == 0 else { throw OpenFlowDecodeError.badLength(what: "action", length: len) }
        var body = try r.sub(len - 4, "action.body")
        switch ActionType(rawValue: type) {
        case .output:
            guard len == 16 else { throw OpenFlowDecodeError.badLength(what: "output action", length: len) }
            let port = try body.u32(); let maxLen = try body.u16()
            return .output(port: port, maxLength: port == PortNumber.controller ? maxLen : 0)
        case .popVlan:
            return .popVlan
        case .setField:
            // One OXM, then zero padding to a multiple of 8.
            let field = try OXMField.decode(&body)
            guard body.rest().allSatisfy({ $0 == 0 }) else { throw OpenFlowDecodeError.badLength(what: "set_field padding", length: len) }
            return .setField(field)
        case nil:
            return .other(type: type, body: body.rest())
        }
    }

    static func decodeList(_ r: inout ByteReader) throws -> [Action] {
        var actions: [Action] = []
        while r.remaining > 0 {
            guard actions.count < 4096 else { throw OpenFlowDecodeError.unsupported("too many actions") }
            actions.append(try decode(&r))
        }
        return actions
    }
}
