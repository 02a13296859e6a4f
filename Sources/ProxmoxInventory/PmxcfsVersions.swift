import Foundation

/// The change counters pmxcfs publishes in `/etc/pve/.version` (pve-cluster `status.c`,
/// `cfs_create_version_msg`): one small read tells what changed since the last check.
///
/// - `starttime`: when pmxcfs started; a new value renumbers every counter (read everything again).
/// - `clinfo`: bumped with `.members` (membership, online state, node addresses).
/// - `vmlist`: bumped on every write, create, rename or delete of any guest config, replicated ones
///   included; `.vmlist` then carries a per-guest `version` bumped by that guest's writes.
/// - `user.cfg`: bumped on every write of that file (pools).
public struct PmxcfsVersions: Hashable, Sendable {
    public let startTime: UInt64
    public let clusterInfo: UInt64
    public let vmlist: UInt64
    public let userCfg: UInt64?

    public init(startTime: UInt64, clusterInfo: UInt64, vmlist: UInt64, userCfg: UInt64?) {
        self.startTime = startTime; self.clusterInfo = clusterInfo; self.vmlist = vmlist; self.userCfg = userCfg
    }

    /// At most this many bytes are read (the file lists a few dozen counters and the kvstore keys).
    public static let maximumFileSize = 256 << 10

    /// Parses `.version`; nil when it is not what pmxcfs writes.
    public static func parse(_ bytes: [UInt8]) -> PmxcfsVersions? {
        guard bytes.count <= maximumFileSize, let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
              let dict = object as? [String: Any] else { return nil }
        func number(_ key: String) -> UInt64? {
            guard let n = dict[key] as? NSNumber, n.int64Value >= 0 else { return nil }
            return UInt64(n.int64Value)
        }
        guard let start = number("starttime"), let clinfo = number("clinfo"), let vmlist = number("vmlist") else { return nil }
        return PmxcfsVersions(startTime: start, clusterInfo: clinfo, vmlist: vmlist, userCfg: number("user.cfg"))
    }
}
