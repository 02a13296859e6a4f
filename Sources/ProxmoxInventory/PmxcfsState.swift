/// Whether Proxmox's cluster filesystem is there to be read.
///
/// pmxcfs always serves `.members` and `.vmlist` (virtual files, on a single node too). While
/// `pve-cluster` restarts, `/etc/pve` is the bare mount-point directory: no `.members`, no `.vmlist`,
/// no guests. That is *unknown*, never "a cluster without guests": the last good view stays.
public enum PmxcfsState: Hashable, Sendable {
    case mounted
    case unavailable(reason: String)

    /// The state a reading of the tree shows (`files` as `InventoryReader.read` returns them).
    public static func of(files: [String: [UInt8]], root: String) -> PmxcfsState {
        let missing = [".members", ".vmlist"].filter { files[$0] == nil }
        guard !missing.isEmpty else { return .mounted }
        return .unavailable(reason: "\(missing.map { root + "/" + $0 }.joined(separator: " and ")) cannot be read: pmxcfs is not mounted (pve-cluster stopped or restarting)")
    }

    public var isMounted: Bool { self == .mounted }
}
