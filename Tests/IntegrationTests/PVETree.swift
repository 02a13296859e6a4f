import Foundation

/// A pmxcfs-shaped `/etc/pve` in a temp dir: `.members`, `.vmlist`, `user.cfg` and
/// `nodes/<node>/{qemu-server,lxc}/<vmid>.conf`, written atomically like pmxcfs's writes appear.
final class PVETree {
    let root: String
    private(set) var guests: [UInt32: (node: String, kind: String)] = [:]

    /// `nodes`: name → cluster address (a bridge connecting from that address belongs to the node).
    init(root: String, localNode: String = "pve1", nodes: [String: String] = ["pve1": "127.0.0.1"]) throws {
        self.root = root
        for n in nodes.keys {
            for d in ["qemu-server", "lxc"] {
                try FileManager.default.createDirectory(atPath: "\(root)/nodes/\(n)/\(d)", withIntermediateDirectories: true)
            }
        }
        let list = nodes.keys.sorted().enumerated().map { i, n in "\"\(n)\": {\"id\": \(i + 1), \"online\": 1, \"ip\": \"\(nodes[n] ?? "")\"}" }
        try write(".members", "{\"nodename\": \"\(localNode)\", \"version\": 3, \"cluster\": {\"name\": \"lab\", \"version\": 2, \"nodes\": \(nodes.count), \"quorate\": 1}, \"nodelist\": {\(list.joined(separator: ", "))}}\n")
        try write("user.cfg", "user:root@pam:1:0:::::::\n")
        try writeVMList()
    }

    func write(_ relative: String, _ text: String) throws {
        let path = "\(root)/\(relative)"
        let tmp = path + ".tmp\(getpid())"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Writes a QEMU guest's config (`kind: "qemu-server"`) or a container's (`"lxc"`) on `node`.
    func guest(_ vmid: UInt32, node: String = "pve1", kind: String = "qemu-server", _ config: String) throws {
        if let old = guests[vmid], old.node != node { unlink("\(root)/nodes/\(old.node)/\(old.kind)/\(vmid).conf") }
        guests[vmid] = (node, kind)
        try write("nodes/\(node)/\(kind)/\(vmid).conf", config)
        try writeVMList()
    }

    private func writeVMList() throws {
        let ids = guests.keys.sorted().map { id in
            "\"\(id)\": {\"node\": \"\(guests[id]?.node ?? "")\", \"type\": \"\(guests[id]?.kind == "lxc" ? "lxc" : "qemu")\", \"version\": 1}"
        }
        try write(".vmlist", "{\"version\": 1, \"ids\": {\(ids.joined(separator: ", "))}}\n")
    }
}
