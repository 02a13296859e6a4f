/// OFPT_FLOW_MOD.
public struct FlowMod: Hashable, Sendable {
    public enum Command: UInt8, Sendable { case add = 0, modify = 1, modifyStrict = 2, delete = 3, deleteStrict = 4 }

    public var cookie: UInt64
    public var cookieMask: UInt64
    public var tableID: UInt8
    public var command: Command
    public var idleTimeout: UInt16
    public var hardTimeout: UInt16
    public var priority: UInt16
    public var bufferID: UInt32
    public var outPort: UInt32
    public var outGroup: UInt32
    public var flags: UInt16
    public var match: Match
    public var instructions: [Instruction]

    public init(command: Command, cookie: UInt64 = 0, cookieMask: UInt64 = 0, tableID: UInt8 = 0, priority: UInt16 = 0,
                match: Match = .any, instructions: [Instruction] = [], idleTimeout: UInt16 = 0, hardTimeout: UInt16 = 0,
                flags: UInt16 = 0, outPort: UInt32 = PortNumber.any, outGroup: UInt32 = 0xffff_ffff) {
        self.cookie = cookie; self.cookieMask = cookieMask; self.tableID = tableID; self.command = command
        self.idleTimeout = idleTimeout; self.hardTimeout = hardTimeout; self.priority = priority
        self.bufferID = 0xffff_ffff; self.outPort = outPort; self.outGroup = outGroup; self.flags = flags
        self.match = match; self.instructions = instructions
    }

    func encodeBody(into w: inout ByteWriter) {
        w.u64(cookie); w.u64(cookieMask); w.u8(tableID); w.u8(command.rawValue)
        w.u16(idleTimeout); w.u16(hardTimeout); w.u16(priority); w.u32(bufferID)
        w.u32(outPort); w.u32(outGroup); w.u16(flags); w.zeros(2)
        match.encode(into: &w)
        for i in instructions { i.encode(into: &w) }
    }

    static func decodeBody(_ r: inout ByteReader) throws -> FlowMod {
        let cookie = try r.u64(), mask = try r.u64(), table = try r.u8()
        let cmdRaw = try r.u8()
        guard let cmd = Command(rawValue: cmdRaw) else { throw OpenFlowDecodeError.unsupported("flow_mod command \(cmdRaw)") }
        let idle = try r.u16(), hard = try r.u16(), prio = try r.u16(), buffer = try r.u32()
        let outPort = try r.u32(), outGroup = try r.u32(), flags = try r.u16()
        try r.skip(2)
        let match = try Match.decode(&r)
        let instructions = try Instruction.decodeList(&r)
        var fm = FlowMod(command: cmd, cookie: cookie, cookieMask: mask, tableID: table, priority: prio, match: match,
                         instructions: instructions, idleTimeout: idle, hardTimeout: hard, flags: flags,
                         outPort: outPort, outGroup: outGroup)
        fm.bufferID = buffer
        return fm
    }
}

/// OFPFF_* flags of a FLOW_MOD.
public enum FlowModFlags {
    public static let sendFlowRemoved: UInt16 = 1 << 0
    /// Fail with OFPFMFC_OVERLAP instead of adding when a flow of the same priority could match the same packets.
    public static let checkOverlap: UInt16 = 1 << 1
}
