import Foundation
import Policy

/// Parsers for pmxcfs's cluster-wide files: `.vmlist`, `.members` (JSON) and the pools of `user.cfg`.
public enum ClusterFiles {
    public static let maximumFileSize = 4 << 20

    /// One `.vmlist` entry: where a guest's config lives.
    public struct VMListEntry: Hashable, Sendable {
        public let node: String
        public let kind: Guest.Kind
    }

    private static func json(_ bytes: [UInt8], file: String) -> Result<[String: Any], PolicyErrors> {
        let at = SourceLocation(file: file, line: 1, column: 1)
        guard bytes.count <= maximumFileSize else { return .failure(PolicyErrors([Diagnostic(.error, at, "file too large")])) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let dict = object as? [String: Any] else {
            return .failure(PolicyErrors([Diagnostic(.error, at, "not a JSON object")]))
        }
        return .success(dict)
    }

    /// `{"version": N, "ids": {"101": {"node": "pve1", "type": "qemu", "version": 7}, …}}`.
    public static func vmlist(_ bytes: [UInt8], file: String) -> Result<[UInt32: VMListEntry], PolicyErrors> {
        vmlistWithVersions(bytes, file: file).map { $0.mapValues(\.entry) }
    }

    /// `.vmlist` with each guest's write counter (pmxcfs bumps it on every write of that guest's config).
    public static func vmlistWithVersions(_ bytes: [UInt8], file: String) -> Result<[UInt32: (entry: VMListEntry, version: UInt64)], PolicyErrors> {
        json(bytes, file: file).flatMap { dict in
            guard let ids = dict["ids"] as? [String: Any] else {
                return .failure(PolicyErrors([Diagnostic(.error, SourceLocation(file: file, line: 1, column: 1), "no 'ids' object")]))
            }
            var out: [UInt32: (entry: VMListEntry, version: UInt64)] = [:]
            for (key, value) in ids {
                guard let vmid = UInt32(key), let entry = value as? [String: Any], let node = entry["node"] as? String,
                      let type = entry["type"] as? String, let kind = Guest.Kind(rawValue: type) else { continue }
                let version = (entry["version"] as? NSNumber).map { UInt64(max(0, $0.int64Value)) } ?? 0
                out[vmid] = (VMListEntry(node: node, kind: kind), version)
            }
            return .success(out)
        }
    }

    /// `{"nodename": "pve1", "cluster": {…}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.11"}, …}}`.
    public static func members(_ bytes: [UInt8], file: String) -> Result<(local: String?, nodes: [String: ClusterNode]), PolicyErrors> {
        json(bytes, file: file).map { dict in
            var nodes: [String: ClusterNode] = [:]
            for (name, value) in dict["nodelist"] as? [String: Any] ?? [:] {
                let entry = value as? [String: Any] ?? [:]
                let online = (entry["online"] as? Int ?? 0) != 0 || (entry["online"] as? Bool ?? false)
                nodes[name] = ClusterNode(name: name, ip: entry["ip"] as? String, online: online)
            }
            return (dict["nodename"] as? String, nodes)
        }
    }

    /// Pools from `user.cfg`: lines `pool:<name>:<comment>:<vmid,vmid,…>:<storage,…>:`
    /// (field order as pve-access-control's parse_user_config reads them). Other lines are ignored.
    public static func pools(_ bytes: [UInt8], file: String) -> Result<[String: Set<UInt32>], PolicyErrors> {
        guard bytes.count <= maximumFileSize else {
            return .failure(PolicyErrors([Diagnostic(.error, SourceLocation(file: file, line: 1, column: 1), "file too large")]))
        }
        var pools: [String: Set<UInt32>] = [:]
        for raw in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            guard line.hasPrefix("pool:") else { continue }
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 2, !fields[1].isEmpty else { continue }
            let vmids = fields.count > 3 ? fields[3].split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }).compactMap { UInt32($0) } : []
            pools[String(fields[1]), default: []].formUnion(vmids)
        }
        return .success(pools)
    }
}
