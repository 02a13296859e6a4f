import OpenFlow

/// What identifies a flow in a switch: table, priority and match (as `ovs-ofctl replace-flows` keys them).
public struct FlowKey: Hashable, Comparable, Sendable {
    public let table: UInt8
    public let priority: UInt16
    public let match: Match

    public init(table: UInt8, priority: UInt16, match: Match) { self.table = table; self.priority = priority; self.match = match }

    public static func < (a: FlowKey, b: FlowKey) -> Bool {
        if a.table != b.table { return a.table < b.table }
        if a.priority != b.priority { return a.priority > b.priority }
        return a.match < b.match
    }
}

/// One flow entry as sipspan wants it (or reads it back): key, cookie and instructions.
public struct Flow: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let table: UInt8
    public let priority: UInt16
    public let match: Match
    public let instructions: [Instruction]
    public let cookie: UInt64

    public init(table: UInt8 = 0, priority: UInt16, match: Match, instructions: [Instruction], cookie: UInt64) {
        self.table = table; self.priority = priority; self.match = match
        self.instructions = Instruction.canonical(instructions); self.cookie = cookie
    }

    /// A flow as the switch reports it.
    public init(stats s: FlowStats) {
        self.init(table: s.tableID, priority: s.priority, match: s.match, instructions: s.instructions, cookie: s.cookie)
    }

    public var key: FlowKey { FlowKey(table: table, priority: priority, match: match) }

    public static func < (a: Flow, b: Flow) -> Bool { a.key < b.key }

    /// `ovs-ofctl`-like text: `table=0, priority=1100, cookie=0x…, in_port=1,… actions=NORMAL,goto_table:1`.
    public var description: String {
        let actions = instructions.isEmpty ? "drop" : instructions.map(\.description).joined(separator: ",")
        return "table=\(table), priority=\(priority), cookie=0x\(String(cookie, radix: 16)), \(match) actions=\(actions)"
    }

    /// The FLOW_MOD that installs this flow (ADD replaces a flow with the same key, keeping counters).
    public var addMod: FlowMod {
        FlowMod(command: .add, cookie: cookie, tableID: table, priority: priority, match: match, instructions: instructions)
    }

    /// The FLOW_MOD that deletes exactly this flow, and only if it carries sipspan's cookie.
    public var deleteMod: FlowMod {
        FlowMod(command: .deleteStrict, cookie: FlowCookie.prefix, cookieMask: FlowCookie.prefixMask, tableID: table,
                priority: priority, match: match)
    }
}
