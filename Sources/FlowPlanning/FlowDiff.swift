import OpenFlow

/// The minimal change from what a bridge has to what it should have.
public struct FlowDiff: Hashable, Sendable {
    /// Installed flows (with sipspan's cookie) that are not wanted: deleted strictly.
    public let deletes: [Flow]
    /// Wanted flows that are missing or differ (instructions or cookie): added (ADD replaces in place).
    public let adds: [Flow]
    /// Flows already exactly right, left untouched so their counters survive.
    public let unchanged: Int

    public var isEmpty: Bool { deletes.isEmpty && adds.isEmpty }

    /// Compares by key (table, priority, match); equal keys with equal cookie and instructions are unchanged.
    public init(installed: [Flow], desired: [Flow]) {
        var have: [FlowKey: Flow] = [:]
        for f in installed where FlowCookie.isOurs(f.cookie) { have[f.key] = f }
        var adds: [Flow] = [], unchanged = 0
        var wantedKeys = Set<FlowKey>()
        for f in desired {
            wantedKeys.insert(f.key)
            if let h = have[f.key], h.cookie == f.cookie, h.instructions == f.instructions {
                unchanged += 1
            } else {
                adds.append(f)
            }
        }
        self.deletes = have.values.filter { !wantedKeys.contains($0.key) }.sorted()
        self.adds = adds.sorted()
        self.unchanged = unchanged
    }

    /// FLOW_MODs in a safe order (for switches without bundles; in a bundle they apply at once): the
    /// NORMAL flow (table 0, priority 0) first of all, so forwarding never lapses, then the deletes,
    /// then the other adds.
    public var flowMods: [FlowMod] {
        let isNormal = { (f: Flow) in f.priority == FlowPriority.normal && f.table == 0 }
        return adds.filter(isNormal).map(\.addMod) + deletes.map(\.deleteMod) + adds.filter { !isNormal($0) }.map(\.addMod)
    }
}
