import FlowPlanning
import OpenFlow
import Policy
import ProxmoxInventory
import SwitchProtocol

/// What Proxmox knows: each check of the pmxcfs files, pmxcfs going away and coming back.
extension ControllerCore {
    /// One check of the inventory files: `files` as read now when they differ from the last check
    /// (`changedFiles`), nil when nothing changed. A reading of an unmounted pmxcfs changes nothing:
    /// the last good inventory (and with it every guest MAC, tag and pool) stays in force, logged
    /// once, shown in `status`. Otherwise the files are parsed (the last good view of a guest whose
    /// config cannot be parsed stays), each new problem is logged once, and a changed view is put in force.
    public mutating func apply(inventoryFiles files: [String: [UInt8]]?, readProblems: [Diagnostic], changedFiles: [String], root: String,
                               detectedAt: UInt64, now: UInt64) -> [ControllerAction] {
        guard let files else {
            if pmxcfs.isMounted { inventoryReadAt = now }
            return []
        }
        var out: [ControllerAction] = []
        let state = PmxcfsState.of(files: files, root: root)
        switch (pmxcfs, state) {
        case let (.mounted, .unavailable(reason)):
            pmxcfs = state; pmxcfsSince = now
            return [.log(LogLine(.warning, "pmxcfs unavailable; the last inventory and policy stay in force", [
                "reason": reason, "guests": String(inventory.guests.count),
            ]))]
        case (.unavailable, .unavailable):
            pmxcfs = state
            return []
        case (.unavailable, .mounted):
            out.append(.log(LogLine(.info, "pmxcfs available again", ["pve": root, "unavailable_s": String(format1(seconds(from: pmxcfsSince, to: now)))])))
            pmxcfs = .mounted; pmxcfsSince = now
        case (.mounted, .mounted):
            break
        }
        inventoryReadAt = now
        let changed = Set(changedFiles)
        let r = InventoryLoader.load(files: files, root: root, previous: inventory, changed: changed)
        // A config that did not change was not parsed again: its problem, if it had one, still stands.
        let prefix = root.hasSuffix("/") ? root : root + "/"
        let standing = inventoryProblems.filter { d in
            let rel = d.location.file.hasPrefix(prefix) ? String(d.location.file.dropFirst(prefix.count)) : d.location.file
            return rel.hasPrefix("nodes/") && files[rel] != nil && !changed.contains(rel)
        }
        let problems = Set(readProblems + r.diagnostics).union(standing)
        out += problems.subtracting(inventoryProblems).sorted().map {
            .log(LogLine(.warning, $0.description, ["note": "the last good view of that guest stays in force"]))
        }
        inventoryProblems = problems
        guard r.inventory != inventory else { return out }
        inventory = r.inventory
        out.append(.log(LogLine(.info, "inventory changed", [
            "files": changedFiles.prefix(5).joined(separator: ",") + (changedFiles.count > 5 ? ",…" : ""),
            "guests": String(r.inventory.guests.count),
        ])))
        return tallied(out + replan(.inventory, reason: "inventory change", detectedAt: detectedAt, now: now))
    }
}
