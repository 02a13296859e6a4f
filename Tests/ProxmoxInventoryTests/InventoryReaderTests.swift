import Foundation
@testable import ProxmoxInventory
import XCTest

/// A tree with pmxcfs's change counters, written the way pmxcfs shows writes (config, then `.vmlist`,
/// then `.version`), for the reader's read counts.
final class CountedTree {
    let root: String
    var startTime: UInt64 = 1_700_000_000, clinfo: UInt64 = 1, vmlist: UInt64 = 1, userCfg: UInt64 = 1
    var counter: UInt64 = 0
    var guests: [UInt32: (node: String, version: UInt64)] = [:]

    init(guests count: Int) throws {
        root = NSTemporaryDirectory() + "sipspan-reader-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/nodes/pve1/qemu-server", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/nodes/pve2/qemu-server", withIntermediateDirectories: true)
        try put(".members", #"{"nodename": "pve1", "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}}}"#)
        try put("user.cfg", "pool:carriers::101::\n")
        for i in 0..<count { try guest(UInt32(100 + i), tag: "a", publish: false) }
        try publish()
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func put(_ rel: String, _ text: String) throws { try text.write(toFile: root + "/" + rel, atomically: true, encoding: .utf8) }

    func guest(_ vmid: UInt32, node: String = "pve1", tag: String, publish now: Bool = true) throws {
        if let old = guests[vmid], old.node != node { unlink("\(root)/nodes/\(old.node)/qemu-server/\(vmid).conf") }
        try put("nodes/\(node)/qemu-server/\(vmid).conf", "name: g\(vmid)\nnet0: virtio=BC:24:11:00:\(String(format: "%02X:%02X", vmid / 256 % 256, vmid % 256)),bridge=vmbr0\ntags: \(tag)\n")
        counter += 1
        guests[vmid] = (node, counter)
        vmlist += 1
        if now { try publish() }
    }

    func publish() throws {
        let ids = guests.keys.sorted().map { "\"\($0)\": {\"node\": \"\(guests[$0]!.node)\", \"type\": \"qemu\", \"version\": \(guests[$0]!.version)}" }
        try put(".vmlist", "{\"version\": \(vmlist), \"ids\": {\(ids.joined(separator: ", "))}}")
        try put(".version", "{\"starttime\": \(startTime), \"clinfo\": \(clinfo), \"vmlist\": \(vmlist), \"user.cfg\": \(userCfg), \"kvstore\": {\"pve1\": {\"x\": \(counter)}}}")
    }
}

final class InventoryReaderTests: XCTestCase {
    func check(_ tree: CountedTree, _ previous: InventorySnapshot?) -> (InventorySnapshot, changed: Bool, reads: Int) {
        var reads = 0
        let (s, changed) = InventoryReader.refresh(root: tree.root, previous: previous, reads: &reads)
        return (s, changed, reads)
    }

    func testAnUnchangedCheckIsOneReadWhateverTheClusterSize() throws {
        let tree = try CountedTree(guests: 300)
        let (first, changed, fullReads) = check(tree, nil)
        XCTAssertTrue(changed)
        XCTAssertEqual(first.files.count, 303)
        XCTAssertGreaterThan(fullReads, 300)
        let (again, changedAgain, reads) = check(tree, first)
        XCTAssertEqual(reads, 1, "only .version")
        XCTAssertFalse(changedAgain)
        XCTAssertEqual(again, first)
    }

    func testAGuestEditReadsThatGuestOnly() throws {
        let tree = try CountedTree(guests: 300)
        let (first, _, _) = check(tree, nil)
        try tree.guest(150, tag: "sip-proxy")
        let (s, changed, reads) = check(tree, first)
        XCTAssertTrue(changed)
        XCTAssertEqual(reads, 3, ".version, .vmlist, 150.conf")
        XCTAssertTrue(String(decoding: s.files["nodes/pve1/qemu-server/150.conf"] ?? [], as: UTF8.self).contains("sip-proxy"))
        XCTAssertEqual(s.files, check(tree, nil).0.files, "the same files a full read finds")
    }

    func testAMigratedGuestIsReadAtItsNewNodeAndDroppedAtTheOld() throws {
        let tree = try CountedTree(guests: 10)
        let (first, _, _) = check(tree, nil)
        try tree.guest(105, node: "pve2", tag: "a")
        let (s, _, reads) = check(tree, first)
        XCTAssertEqual(reads, 3)
        XCTAssertNil(s.files["nodes/pve1/qemu-server/105.conf"])
        XCTAssertNotNil(s.files["nodes/pve2/qemu-server/105.conf"])
    }

    func testPoolsAndMembersAreReadWhenTheirCountersMove() throws {
        let tree = try CountedTree(guests: 10)
        let (first, _, _) = check(tree, nil)
        try tree.put("user.cfg", "pool:carriers::101,102::\n")
        tree.userCfg += 1
        try tree.publish()
        let (s, changed, reads) = check(tree, first)
        XCTAssertEqual(reads, 2, ".version, user.cfg")
        XCTAssertTrue(changed)
        try tree.put(".members", #"{"nodename": "pve1", "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.99"}}}"#)
        tree.clinfo += 1
        try tree.publish()
        XCTAssertEqual(check(tree, s).reads, 2, ".version, .members")
    }

    func testARestartedPmxcfsIsReadInFull() throws {
        let tree = try CountedTree(guests: 20)
        let (first, _, _) = check(tree, nil)
        tree.startTime += 60
        try tree.publish()
        let (_, changed, reads) = check(tree, first)
        XCTAssertGreaterThan(reads, 20, "new starttime: every counter was renumbered")
        XCTAssertFalse(changed, "same content")
    }

    func testABrokenVMListChangesNoGuest() throws {
        let tree = try CountedTree(guests: 20)
        let (first, _, _) = check(tree, nil)
        try tree.put(".vmlist", "{ not json")
        tree.vmlist += 1
        try tree.put(".version", "{\"starttime\": \(tree.startTime), \"clinfo\": 1, \"vmlist\": \(tree.vmlist), \"user.cfg\": 1}")
        let (s, _, _) = check(tree, first)
        XCTAssertEqual(s.files.keys.filter { $0.hasPrefix("nodes/") }.count, 20, "every guest config stays")
    }

    func testATreeWithoutVersionCountersIsReadInFullEachTime() throws {
        let tree = try CountedTree(guests: 5)
        unlink(tree.root + "/.version")
        let (first, _, _) = check(tree, nil)
        let (_, changed, reads) = check(tree, first)
        XCTAssertFalse(changed)
        XCTAssertGreaterThan(reads, 5)
    }

    func testAnUnmountedTreeIsSeenAsSuch() throws {
        let tree = try CountedTree(guests: 5)
        let (first, _, _) = check(tree, nil)
        let gone = tree.root + ".gone"
        XCTAssertEqual(rename(tree.root, gone), 0)
        try FileManager.default.createDirectory(atPath: tree.root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: gone) }
        let (s, changed, _) = check(tree, first)
        XCTAssertTrue(changed)
        XCTAssertEqual(PmxcfsState.of(files: s.files, root: tree.root).isMounted, false)
        XCTAssertFalse(InventoryReader.isMounted(root: tree.root))
    }
}

final class InventoryLoaderSafetyTests: XCTestCase {
    /// .vmlist naming a node whose directory (or the config) is missing: the guest is unknown, not
    /// gone; a guest removed from .vmlist is gone.
    func testAGuestListedWhereItsConfigIsMissingKeepsItsLastGoodView() throws {
        let tree = try CountedTree(guests: 3)
        var reads = 0
        let first = InventoryReader.refresh(root: tree.root, previous: nil, reads: &reads).snapshot
        let before = InventoryLoader.load(files: first.files, root: tree.root).inventory
        XCTAssertNotNil(before.guests[101])
        // .vmlist says 101 is on pve3, whose directory does not exist.
        tree.guests[101] = (node: "pve3", version: 99)
        tree.vmlist += 1
        try tree.publish()
        let s = InventoryReader.refresh(root: tree.root, previous: first, reads: &reads).snapshot
        let r = InventoryLoader.load(files: s.files, root: tree.root, previous: before)
        XCTAssertEqual(r.inventory.guests[101], before.guests[101], "the last good view stays")
        XCTAssertTrue(r.diagnostics.contains { $0.message.contains("guest 101 is listed on node pve3") }, "\(r.diagnostics)")
        // Really deleted: gone from .vmlist and its config gone.
        unlink(tree.root + "/nodes/pve1/qemu-server/102.conf")
        tree.guests[102] = nil
        tree.vmlist += 1
        try tree.publish()
        let s2 = InventoryReader.refresh(root: tree.root, previous: s, reads: &reads).snapshot
        XCTAssertNil(InventoryLoader.load(files: s2.files, root: tree.root, previous: r.inventory).inventory.guests[102])
    }
}
