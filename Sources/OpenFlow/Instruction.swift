/// An OpenFlow 1.3 instruction.
public enum Instruction: Hashable, Sendable, CustomStringConvertible {
    case gotoTable(UInt8)
    case writeMetadata(value: UInt64, mask: UInt64)
    case writeActions([Action])
    case applyActions([Action])
    case clearActions
    case other(type: UInt16, body: [UInt8])

    /// Execution order of the OpenFlow 1.3 pipeline (spec 5.9), used to order instructions canonically.
    var order: Int {
        switch self {
        case .applyActions: return 1
        case .clearActions: return 2
        case .writeActions: return 3
        case .writeMetadata: return 4
        case .gotoTable: return 5
        case .other: return 6
        }
    }

    public var description: String {
        switch self {
        case let .gotoTable(t): return "goto_table:\(t)"
        case let .writeMetadata(v, m): return "write_metadata:0x\(String(v, radix: 16))/0x\(String(m, radix: 16))"
        case let .writeActions(a): return "write_actions(\(a.map(\.description).joined(separator: ",")))"
        case let .applyActions(a): return a.isEmpty ? "drop" : a.map(\.description).joined(separator: ",")
        case .clearActions: return "clear_actions"
        case let .other(t, b): return "instruction(\(t),\(hexString(b)))"
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case let .gotoTable(t):
            w.u16(InstructionType.gotoTable.rawValue); w.u16(8); w.u8(t); w.zeros(3)
        case let .writeMetadata(v, m):
            w.u16(InstructionType.writeMetadata.rawValue); w.u16(24); w.zeros(4); w.u64(v); w.u64(m)
        case let .writeActions(actions), let .applyActions(actions):
            let start = w.count
            w.u16((isApply ? InstructionType.applyActions : .writeActions).rawValue); w.u16(0); w.zeros(4)
            for a in actions { a.encode(into: &w) }
            w.patchU16(at: start + 2, UInt16(w.count - start))
        case .clearActions:
            w.u16(InstructionType.clearActions.rawValue); w.u16(8); w.zeros(4)
        case let .other(t, b):
            w.u16(t); w.u16(UInt16(4 + b.count)); w.append(b)
        }
    }

    private var isApply: Bool { if case .applyActions = self { return true }; return false }

    static func decode(_ r: inout ByteReader) throws -> Instruction {
        let type = try r.u16("instruction.type")
        let len = Int(try r.u16("instruction.length"))
        guard len >= 8, len % 8 == 0 else { throw OpenFlowDecodeError.badLength(what: "instruction", length: len) }
        var body = try r.sub(len - 4, "instruction.body")
        switch InstructionType(rawValue: type) {
        case .gotoTable:
            let t = try body.u8(); return .gotoTable(t)
        case .writeMetadata:
            try body.skip(4); return .writeMetadata(value: try body.u64(), mask: try body.u64())
        case .writeActions:
            try body.skip(4); return .writeActions(try Action.decodeList(&body))
        case .applyActions:
            try body.skip(4); return .applyActions(try Action.decodeList(&body))
        case .clearActions:
            return .clearActions
        case nil:
            return .other(type: type, body: body.rest())
        }
    }

    static func decodeList(_ r: inout ByteReader) throws -> [Instruction] {
        var list: [Instruction] = []
        while r.remaining > 0 {
            guard list.count < 16 else { throw OpenFlowDecodeError.unsupported("too many instructions") }
            list.append(try decode(&r))
        }
        return list
    }

    /// Instructions in pipeline order, so equal sets compare equal.
    public static func canonical(_ list: [Instruction]) -> [Instruction] {
        list.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }.map(\.element)
    }
}
