import Policy

/// Builds an `Inventory` from the files of a pmxcfs tree, given as (path relative to the root, bytes).
///
/// Pure. A guest config that cannot be parsed is reported (FILE:LINE) and the previous view of that
/// guest is kept, so one bad edit never makes a watched VM disappear.
public enum InventoryLoader {
    public struct Result: Sendable {
        public let inventory: Inventory
        public let diagnostics: [Diagnostic]
    }

    /// `files` maps paths relative to `root` (`nodes/pve1/qemu-server/101.conf`, `.vmlist`, …) to contents.
    /// `changed`: when given, the only guest configs that differ from those `previous` was built
    /// from; the others keep their parsed view (a 10,000-guest cluster with one edit parses one config).
    public static func load(files: [String: [UInt8]], root: String, previous: Inventory? = nil, changed: Set<String>? = nil) -> Result {
        var inv = Inventory()
        var diagnostics: [Diagnostic] = []
        func display(_ rel: String) -> String { root.hasSuffix("/") ? root + rel : root + "/" + rel }
        for (rel, bytes) in files.sorted(by: { $0.key < $1.key }) {
            let parts = rel.split(separator: "/").map(String.init)
            if parts.count == 4, parts[0] == "nodes", let kind = parts[2] == "qemu-server" ? Guest.Kind.qemu : parts[2] == "lxc" ? .lxc : nil,
               parts[3].hasSuffix(".conf"), let vmid = UInt32(parts[3].dropLast(5)) {
                if let changed, !changed.contains(rel), let old = previous?.guests[vmid], old.node == parts[1], old.kind == kind {
                    inv.guests[vmid] = old
                    continue
                }
                switch GuestConfigParser.parse(bytes: bytes, file: display(rel), vmid: vmid, kind: kind, node: parts[1]) {
                case let .success(g):
                    inv.guests[vmid] = g
                case let .failure(e):
                    diagnostics += e.diagnostics
                    if let old = previous?.guests[vmid] { inv.guests[vmid] = old }
                }
            } else if rel == ".vmlist" {
                switch ClusterFiles.vmlist(bytes, file: display(rel)) {
                case let .success(v): inv.vmlist = v
                case let .failure(e): diagnostics += e.diagnostics; inv.vmlist = previous?.vmlist ?? [:]
                }
            } else if rel == ".members" {
                switch ClusterFiles.members(bytes, file: display(rel)) {
                case let .success(m): inv.localNode = m.local; inv.nodes = m.nodes
                case let .failure(e): diagnostics += e.diagnostics; inv.localNode = previous?.localNode; inv.nodes = previous?.nodes ?? [:]
                }
            } else if rel == "user.cfg" {
                switch ClusterFiles.pools(bytes, file: display(rel)) {
                case let .success(p): inv.pools = p
                case let .failure(e): diagnostics += e.diagnostics; inv.pools = previous?.pools ?? [:]
                }
            }
        }
        // A guest .vmlist lists whose config cannot be found where it says (a node directory missing,
        // a config mid-move): unknown, not gone; its last good view stays. A guest really deleted
        // leaves .vmlist too.
        for (vmid, entry) in inv.vmlist.sorted(by: { $0.key < $1.key }) where inv.guests[vmid] == nil {
            let rel = "nodes/\(entry.node)/\(entry.kind == .qemu ? "qemu-server" : "lxc")/\(vmid).conf"
            guard files[rel] == nil else { continue }   // there, but broken: its parse error says so
            let at = SourceLocation(file: display(".vmlist"), line: 1, column: 1)
            guard let old = previous?.guests[vmid] else {
                diagnostics.append(Diagnostic(.warning, at, "guest \(vmid) is listed on node \(entry.node) but \(display(rel)) cannot be read (missing, unreadable or a symlink loop); it is left out until it can be"))
                continue
            }
            inv.guests[vmid] = old
            diagnostics.append(Diagnostic(.warning, at, "guest \(vmid) is listed on node \(entry.node) but \(display(rel)) cannot be read; its last good view stays"))
        }
        // A config seen on two nodes (mid-migration): the node .vmlist names wins.
        for (vmid, entry) in inv.vmlist {
            if let g = inv.guests[vmid], g.node != entry.node,
               let bytes = files["nodes/\(entry.node)/\(entry.kind == .qemu ? "qemu-server" : "lxc")/\(vmid).conf"],
               case let .success(listed) = GuestConfigParser.parse(bytes: bytes, file: "", vmid: vmid, kind: entry.kind, node: entry.node) {
                inv.guests[vmid] = listed
            }
        }
        return Result(inventory: inv, diagnostics: diagnostics)
    }
}
