// Inventory reads per check (issue 19 item 2): what one check of a pmxcfs-shaped tree costs with
// 100, 1,000 and 10,000 guests, unchanged and with one guest edited, beside a full read of the tree
// (what every check cost before). The tree carries pmxcfs's change counters (.version, .vmlist).
// Figures: file reads counted by the reader, CPU time of the checking thread (median of the runs).
import BenchSupport
import Foundation
import ProxmoxInventory

final class Tree {
    let root: String
    var vmlist: UInt64 = 1, counter: UInt64 = 0
    var versions: [UInt32: UInt64] = [:]

    init(guests: Int) throws {
        root = NSTemporaryDirectory() + "sipspan-bench-pve-\(getpid())-\(guests)"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root + "/nodes/pve1/qemu-server", withIntermediateDirectories: true)
        try put(".members", #"{"nodename": "pve1", "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}}}"#)
        try put("user.cfg", "pool:carriers::100,101::\n")
        for i in 0..<guests { try write(UInt32(100 + i), tags: "g\(i % 7)") }
        try publish()
    }

    func put(_ rel: String, _ text: String) throws { try text.write(toFile: root + "/" + rel, atomically: true, encoding: .utf8) }

    func write(_ vmid: UInt32, tags: String) throws {
        let mac = String(format: "BC:24:11:%02X:%02X:%02X", (vmid >> 16) & 0xff, (vmid >> 8) & 0xff, vmid & 0xff)
        try put("nodes/pve1/qemu-server/\(vmid).conf", "boot: order=scsi0\ncores: 2\nmemory: 4096\nname: guest-\(vmid)\nnet0: virtio=\(mac),bridge=vmbr0,firewall=1\nostype: l26\nscsi0: local-lvm:vm-\(vmid)-disk-0,size=32G\ntags: \(tags)\n")
        counter += 1; versions[vmid] = counter; vmlist += 1
    }

    func publish() throws {
        let ids = versions.keys.sorted().map { "\"\($0)\": {\"node\": \"pve1\", \"type\": \"qemu\", \"version\": \(versions[$0] ?? 0)}" }
        try put(".vmlist", "{\"version\": \(vmlist), \"ids\": {\(ids.joined(separator: ",\n"))}}\n")
        try put(".version", "{\n\"starttime\": 1700000000,\n\"clinfo\": 3,\n\"vmlist\": \(vmlist),\n\"storage.cfg\": 1,\n\"user.cfg\": 2,\n\"kvstore\": {\n\"pve1\": {\n\"node\": 9}\n}\n}\n")
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}

print("guests | full read: reads, CPU | unchanged check: reads, CPU (target ≤ 3, ≤ 1 ms) | one guest edited: reads, CPU of read + parse | edit seen")
for n in [100, 1_000, 10_000] {
    let tree = try Tree(guests: n)
    var fullReads = 0, fullCPU: [Double] = []
    var snapshot = InventorySnapshot()
    for _ in 0..<3 {
        var reads = 0
        let t = cpuNow()
        snapshot = InventoryReader.refresh(root: tree.root, previous: nil, reads: &reads).snapshot
        fullCPU.append(cpuNow() - t); fullReads = reads
    }
    var unchangedReads = 0, unchangedCPU: [Double] = []
    for _ in 0..<50 {
        var reads = 0
        let t = cpuNow()
        let (s, changed) = InventoryReader.refresh(root: tree.root, previous: snapshot, reads: &reads)
        unchangedCPU.append(cpuNow() - t)
        precondition(!changed, "nothing changed")
        snapshot = s; unchangedReads = reads
    }
    var editReads = 0, editCPU: [Double] = [], seen = true
    var previousInventory = InventoryLoader.load(files: snapshot.files, root: tree.root).inventory
    for k in 0..<5 {
        let vmid = UInt32(100 + (k * 37) % n)
        try tree.write(vmid, tags: "edited-\(k)")
        try tree.publish()
        var reads = 0
        let t = cpuNow()
        let (s, changed) = InventoryReader.refresh(root: tree.root, previous: snapshot, reads: &reads)
        let inventory = InventoryLoader.load(files: s.files, root: tree.root, previous: previousInventory,
                                             changed: ["nodes/pve1/qemu-server/\(vmid).conf"]).inventory
        editCPU.append(cpuNow() - t)
        seen = seen && changed && inventory.guests[vmid]?.tags.contains("edited-\(k)") == true
        snapshot = s; previousInventory = inventory; editReads = reads
    }
    func ms(_ s: Double) -> String { String(format: "%.3f ms", s * 1000) }
    print("\(n) | \(fullReads), \(ms(median(fullCPU))) | \(unchangedReads), \(ms(median(unchangedCPU))) | \(editReads), \(ms(median(editCPU))) | \(seen ? "yes" : "NO")")
}
