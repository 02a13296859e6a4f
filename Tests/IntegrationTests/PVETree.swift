import Foundation

/// A pmxcfs-shaped `/etc/pve` in a temp dir: `.members`, `.vmlist`, `user.cfg`, `.version` and
/// `nodes/<node>/{qemu-server,lxc}/<vmid>.conf`, written atomically like pmxcfs's writes appear, with
/// pmxcfs's change counters: `.version` (starttime, clinfo, vmlist, user.cfg) and a per-guest
/// `version` in `.vmlist` from one counter bumped by every guest config write (pve-cluster status.c).
final class PVETree {
    var root: String
    private(set) var guests: [UInt32: (node: String, kind: String)] = [:]
    private var startTime = UInt64(Date().timeIntervalSince1970)
    private var clinfo: UInt64 = 1, vmlistVersion: UInt64 = 1, userCfgVersion: UInt64 = 0
    private var guestCounter: UInt64 = 0
    private var guestVersions: [UInt32: UInt64] = [:]

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

    /// Writes a file; `.members` and `user.cfg` bump their counters in `.version` as pmxcfs does.
    func write(_ relative: String, _ text: String) throws {
        try put(relative, text)
        switch relative {
        case ".members": clinfo += 1; try writeVersion()
        case "user.cfg": userCfgVersion += 1; try writeVersion()
        default: break
        }
    }

    private func put(_ relative: String, _ text: String) throws {
        let path = "\(root)/\(relative)"
        let tmp = path + ".tmp\(getpid())"
        try text.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// pmxcfs restarted (pve-cluster restart): a new starttime renumbers every counter.
    func restartPmxcfs() throws {
        startTime += 1
        try writeVersion()
    }

    private func writeVersion() throws {
        try put(".version", "{\n\"starttime\": \(startTime),\n\"clinfo\": \(clinfo),\n\"vmlist\": \(vmlistVersion),\n\"corosync.conf\": 0,\n\"user.cfg\": \(userCfgVersion),\n\"kvstore\": {\n\"pve1\": {\n\"node\": 3}\n}\n}\n")
    }

    /// Writes a QEMU guest's config (`kind: "qemu-server"`) or a container's (`"lxc"`) on `node`.
    func guest(_ vmid: UInt32, node: String = "pve1", kind: String = "qemu-server", _ config: String) throws {
        if let old = guests[vmid], old.node != node { unlink("\(root)/nodes/\(old.node)/\(old.kind)/\(vmid).conf") }
        guests[vmid] = (node, kind)
        try put("nodes/\(node)/\(kind)/\(vmid).conf", config)
        guestCounter += 1
        guestVersions[vmid] = guestCounter
        vmlistVersion += 1
        try writeVMList()
    }

    private func writeVMList() throws {
        let ids = guests.keys.sorted().map { id in
            "\"\(id)\": {\"node\": \"\(guests[id]?.node ?? "")\", \"type\": \"\(guests[id]?.kind == "lxc" ? "lxc" : "qemu")\", \"version\": \(guestVersions[id] ?? 0)}"
        }
        try put(".vmlist", "{\"version\": \(vmlistVersion), \"ids\": {\(ids.joined(separator: ", "))}}\n")
        try writeVersion()
    }
}
