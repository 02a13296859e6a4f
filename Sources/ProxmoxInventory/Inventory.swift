import OpenFlow
import Policy

/// What Proxmox knows about the cluster, read from pmxcfs (`/etc/pve`): guests and their NICs, nodes, pools.
public struct Inventory: Hashable, Sendable {
    public var guests: [UInt32: Guest] = [:]
    public var nodes: [String: ClusterNode] = [:]
    /// The node this copy of pmxcfs belongs to (`.members`' nodename).
    public var localNode: String?
    public var pools: [String: Set<UInt32>] = [:]
    public var vmlist: [UInt32: ClusterFiles.VMListEntry] = [:]

    public init() {}

    public static let empty = Inventory()

    /// Tags and pools as `tag:` / `pool:` selectors resolve them.
    public var groups: GuestGroups {
        var tags: [String: Set<UInt32>] = [:]
        for g in guests.values { for t in g.tags { tags[t, default: []].insert(g.vmid) } }
        return GuestGroups(tags: tags, pools: pools)
    }

    /// The guest and NIC behind a Proxmox port name (`tap101i0`, `veth101i0`, `fwln101o0`), if known.
    public func nic(forPort name: String) -> (guest: Guest, nic: GuestNIC)? {
        nic(forPort: ProxmoxPortName(name))
    }

    public func nic(forPort parsed: ProxmoxPortName?) -> (guest: Guest, nic: GuestNIC)? {
        guard let p = parsed, let g = guests[p.vm], let n = g.nics[p.nic] else { return nil }
        // A container's NIC never appears as tap…, a VM's never as veth….
        if (p.kind == .tap && g.kind != .qemu) || (p.kind == .veth && g.kind != .lxc) { return nil }
        return (g, n)
    }

    /// The guest MACs of the NIC behind each port name the inventory knows (nil entries are left out).
    public func macs(forPorts names: some Sequence<String>) -> [String: [MACAddress]] {
        var out: [String: [MACAddress]] = [:]
        for name in names {
            if let (_, n) = nic(forPort: name), let mac = n.mac { out[name] = [mac] }
        }
        return out
    }

    /// The node whose cluster address is `ip` (a bridge's peer address), if any.
    public func node(forAddress ip: String) -> String? {
        nodes.values.first { $0.ip == ip }?.name
    }

    /// `101 (sip-proxy-1)` for a known guest, else the id.
    public func label(_ vmid: UInt32) -> String { guests[vmid]?.label ?? String(vmid) }
}
