import OpenFlow

/// A Proxmox guest as its config file in pmxcfs describes it (the current, top section only).
public struct Guest: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case qemu, lxc }

    public let vmid: UInt32
    public let kind: Kind
    /// The node whose directory holds the config (`nodes/<node>/…`).
    public let node: String
    /// `name:` (QEMU) or `hostname:` (LXC), if set.
    public let name: String?
    /// `tags:`, lower case, in the order written.
    public let tags: [String]
    /// NICs by index (`net0` … `net31`).
    public let nics: [UInt8: GuestNIC]

    public init(vmid: UInt32, kind: Kind, node: String, name: String?, tags: [String], nics: [UInt8: GuestNIC]) {
        self.vmid = vmid; self.kind = kind; self.node = node; self.name = name; self.tags = tags; self.nics = nics
    }

    /// `101 (sip-proxy-1)`, or `101` without a name.
    public var label: String { name.map { "\(vmid) (\($0))" } ?? String(vmid) }

    /// Where pmxcfs keeps this guest's config, under `root` (`/etc/pve`).
    public func configPath(root: String) -> String { "\(root)/nodes/\(node)/\(kind == .qemu ? "qemu-server" : "lxc")/\(vmid).conf" }
}

/// One `netN:` line of a guest config.
public struct GuestNIC: Hashable, Sendable {
    public let index: UInt8
    /// The NIC's MAC (`virtio=…`, `macaddr=…` or `hwaddr=…`); nil when Proxmox has not assigned one yet.
    public let mac: MACAddress?
    public let bridge: String?
    /// Access VLAN (`tag=`).
    public let tag: UInt16?
    /// `trunks=10;20` as written.
    public let trunks: String?
    public let firewall: Bool
    public let linkDown: Bool
    /// The config line of `netN:` (for warnings).
    public let line: Int

    public init(index: UInt8, mac: MACAddress?, bridge: String?, tag: UInt16?, trunks: String?, firewall: Bool, linkDown: Bool, line: Int = 0) {
        self.index = index; self.mac = mac; self.bridge = bridge; self.tag = tag; self.trunks = trunks
        self.firewall = firewall; self.linkDown = linkDown; self.line = line
    }

    /// The OVS port names Proxmox gives this NIC: `tapVinN`/`vethVinN`, and `fwlnVoN` with the firewall on.
    public func portNames(vmid: UInt32, kind: Guest.Kind) -> [String] {
        [kind == .qemu ? "tap\(vmid)i\(index)" : "veth\(vmid)i\(index)", "fwln\(vmid)o\(index)"]
    }
}

/// A cluster node from `.members`.
public struct ClusterNode: Hashable, Sendable {
    public let name: String
    public let ip: String?
    public let online: Bool
    public init(name: String, ip: String?, online: Bool) { self.name = name; self.ip = ip; self.online = online }
}
