import Foundation
import Policy

/// What the last read of a pmxcfs tree found: the files an `Inventory` is built from, the problems
/// reading them, and the change counters that tell the next read what it may skip.
public struct InventorySnapshot: Sendable, Equatable {
    /// Relative path → bytes for `.vmlist`, `.members`, `user.cfg` and the guest configs.
    public private(set) var files: [String: [UInt8]] = [:]
    /// Files that could not be read, by relative path.
    var problems: [String: Diagnostic] = [:]
    /// `.version`'s counters at this read (nil: not offered, every read is a full one).
    var versions: PmxcfsVersions?
    /// Each guest's `.vmlist` entry and write counter at this read.
    var guests: [UInt32: GuestVersion] = [:]

    struct GuestVersion: Sendable, Equatable {
        let node: String
        let kind: Guest.Kind
        let version: UInt64
        var path: String { "nodes/\(node)/\(kind == .qemu ? "qemu-server" : "lxc")/" }
    }

    public init() {}

    /// The problems as diagnostics, sorted.
    public var readProblems: [Diagnostic] { problems.values.sorted() }
}

/// Reads the files an `Inventory` is built from out of a pmxcfs directory (`/etc/pve`), bounded, and
/// only what changed: pmxcfs's `.version` counters say whether `.members`, `.vmlist` or `user.cfg`
/// changed, and `.vmlist`'s per-guest counters which guest configs did. An unchanged check is one read.
public enum InventoryReader {
    /// At most this many guest configs are read (a cluster holds far fewer).
    public static let maximumConfigs = 100_000

    /// Whether pmxcfs is mounted at `root` right now: two `stat` calls, no read.
    public static func isMounted(root: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: root + "/.members") && fm.fileExists(atPath: root + "/.vmlist")
    }

    /// The whole tree, read from scratch (files that cannot be read are reported and left out).
    public static func read(root: String) -> (files: [String: [UInt8]], diagnostics: [Diagnostic]) {
        var reads = 0
        let s = refresh(root: root, previous: nil, reads: &reads).snapshot
        return (s.files, s.readProblems)
    }

    /// The tree as it is now, re-reading only what `previous` says may have changed, and whether any
    /// file's bytes (or a read problem) differ from `previous`. `reads` counts files and directories read.
    public static func refresh(root: String, previous: InventorySnapshot?, reads: inout Int) -> (snapshot: InventorySnapshot, changed: Bool) {
        var r = TreeReader(root: root)
        defer { reads += r.reads }
        let versions = r.bytes(".version", limit: PmxcfsVersions.maximumFileSize).flatMap { PmxcfsVersions.parse($0) }
        guard let versions, var s = previous, let old = s.versions, old.startTime == versions.startTime else {
            var s = r.everything()
            s.versions = versions
            return (s, previous.map { $0.files != s.files || $0.problems != s.problems } ?? true)
        }
        s.versions = versions
        if versions.clusterInfo != old.clusterInfo { r.refresh(".members", limit: ClusterFiles.maximumFileSize + 1, into: &s) }
        if versions.userCfg == nil || versions.userCfg != old.userCfg { r.refresh("user.cfg", limit: ClusterFiles.maximumFileSize + 1, into: &s) }
        if versions.vmlist != old.vmlist {
            r.refresh(".vmlist", limit: ClusterFiles.maximumFileSize + 1, into: &s)
            // A .vmlist that cannot be parsed changes no guest: the loader reports it, the last view stays.
            guard let now = r.guestVersions(s.files[".vmlist"]) else { return (s, r.changed) }
            for (vmid, g) in s.guests where now[vmid]?.path != g.path { r.drop("\(g.path)\(vmid).conf", from: &s) }
            for (vmid, g) in now.sorted(by: { $0.key < $1.key }) where s.guests[vmid] != g {
                r.refresh("\(g.path)\(vmid).conf", limit: GuestConfigParser.maximumFileSize + 1, into: &s)
            }
            s.guests = now
        }
        return (s, r.changed)
    }
}

/// Bounded reads under one root, counted.
private struct TreeReader {
    let root: String
    var reads = 0
    /// Whether a refresh changed a file's bytes or a read problem.
    var changed = false
    let fm = FileManager.default

    func path(_ rel: String) -> String { root + "/" + rel }

    mutating func bytes(_ rel: String, limit: Int) -> [UInt8]? {
        guard fm.fileExists(atPath: path(rel)) else { return nil }
        reads += 1
        return try? BoundedFile.read(path(rel), limit: limit)
    }

    /// Reads `rel` into the snapshot (or records why it cannot be read); a file that is gone is dropped.
    mutating func refresh(_ rel: String, limit: Int, into s: inout InventorySnapshot) {
        guard fm.fileExists(atPath: path(rel)) else { return drop(rel, from: &s) }
        reads += 1
        do {
            let bytes = try BoundedFile.read(path(rel), limit: limit)
            if s.files[rel] != bytes || s.problems[rel] != nil { changed = true }
            s.setFile(rel, bytes)
        } catch {
            let d = Diagnostic(.error, SourceLocation(file: path(rel), line: 1, column: 1), "cannot read \(path(rel)): \(error)")
            if s.problems[rel] != d || s.files[rel] != nil { changed = true }
            s.setProblem(rel, d)
        }
    }

    mutating func drop(_ rel: String, from s: inout InventorySnapshot) {
        if s.files[rel] != nil || s.problems[rel] != nil { changed = true }
        s.remove(rel)
    }

    /// `.vmlist`'s guests with their write counters (nil when it is missing or cannot be parsed).
    func guestVersions(_ bytes: [UInt8]?) -> [UInt32: InventorySnapshot.GuestVersion]? {
        guard let bytes, case let .success(list) = ClusterFiles.vmlistWithVersions(bytes, file: path(".vmlist")) else { return nil }
        return list.mapValues { InventorySnapshot.GuestVersion(node: $0.entry.node, kind: $0.entry.kind, version: $0.version) }
    }

    /// Every file, from scratch: the cluster files and every `nodes/*/{qemu-server,lxc}/*.conf`.
    mutating func everything() -> InventorySnapshot {
        var s = InventorySnapshot()
        for rel in [".vmlist", ".members", "user.cfg"] { refresh(rel, limit: ClusterFiles.maximumFileSize + 1, into: &s) }
        reads += 1
        let nodes = (try? fm.contentsOfDirectory(atPath: path("nodes"))) ?? []
        var count = 0
        for node in nodes.sorted() where !node.hasPrefix(".") {
            for dir in ["qemu-server", "lxc"] {
                reads += 1
                let names = (try? fm.contentsOfDirectory(atPath: path("nodes/\(node)/\(dir)"))) ?? []
                for name in names.sorted() where name.hasSuffix(".conf") && UInt32(name.dropLast(5)) != nil {
                    count += 1
                    guard count <= InventoryReader.maximumConfigs else { break }
                    refresh("nodes/\(node)/\(dir)/\(name)", limit: GuestConfigParser.maximumFileSize + 1, into: &s)
                }
            }
        }
        s.guests = guestVersions(s.files[".vmlist"]) ?? [:]
        return s
    }
}

extension InventorySnapshot {
    mutating func setFile(_ rel: String, _ bytes: [UInt8]) { files[rel] = bytes; problems[rel] = nil }
    mutating func setProblem(_ rel: String, _ d: Diagnostic) { files[rel] = nil; problems[rel] = d }
    mutating func remove(_ rel: String) { files[rel] = nil; problems[rel] = nil }
}
