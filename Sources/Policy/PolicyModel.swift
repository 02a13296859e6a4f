/// Selects OVS ports: a Proxmox guest's NIC(s) by VM id, by Proxmox tag or pool, or any port by name.
public enum PortSelector: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// A Proxmox VM or container: every NIC, or only `net<nic>`.
    case vm(UInt32, nic: UInt8?)
    /// Every guest whose Proxmox tags include this one (resolved with the inventory).
    case tag(String, nic: UInt8?)
    /// Every guest in this Proxmox pool (resolved with the inventory).
    case pool(String, nic: UInt8?)
    /// An OVS port by its exact name.
    case port(String)

    /// Whether the OVS port called `name` belongs to this selector (tags and pools never match
    /// before they are resolved to VM ids).
    public func matches(portName name: String) -> Bool {
        switch self {
        case let .port(p): return p == name
        case let .vm(vm, nic):
            guard let parsed = ProxmoxPortName(name) else { return false }
            return parsed.vm == vm && (nic == nil || parsed.nic == nic)
        case .tag, .pool: return false
        }
    }

    public var description: String {
        func withNIC(_ base: String, _ nic: UInt8?) -> String { nic.map { "\(base) nic \($0)" } ?? base }
        switch self {
        case let .vm(vm, nic): return withNIC("vm \(vm)", nic)
        case let .tag(t, nic): return withNIC("tag \(t)", nic)
        case let .pool(p, nic): return withNIC("pool \(p)", nic)
        case let .port(p): return "port \(p)"
        }
    }

    public static func < (a: PortSelector, b: PortSelector) -> Bool { a.sortKey < b.sortKey }
    private var sortKey: (Int, UInt32, Int, String) {
        switch self {
        case let .vm(vm, nic): return (0, vm, nic.map(Int.init) ?? -1, "")
        case let .tag(t, nic): return (1, 0, nic.map(Int.init) ?? -1, t)
        case let .pool(p, nic): return (2, 0, nic.map(Int.init) ?? -1, p)
        case let .port(p): return (3, 0, 0, p)
        }
    }
}

/// Which guests carry a Proxmox tag or belong to a pool: what `tag:` and `pool:` selectors resolve to.
public struct GuestGroups: Hashable, Sendable {
    public var tags: [String: Set<UInt32>]
    public var pools: [String: Set<UInt32>]
    public init(tags: [String: Set<UInt32>] = [:], pools: [String: Set<UInt32>] = [:]) { self.tags = tags; self.pools = pools }
    public static let none = GuestGroups()
}

/// Which ports a session watches.
public enum WatchSet: Hashable, Sendable {
    /// Every Proxmox guest NIC (tap/veth/fwln) on every bridge, except monitor NICs.
    case all
    case ports([PortSelector])
}

/// An L4 protocol and port range whose frames count as SIP (`udp/5060`, `udp/5060-5090`).
public struct TrafficClass: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum L4: String, Sendable, CaseIterable { case udp, tcp }
    public let proto: L4
    public let first: UInt16
    public let last: UInt16

    public init(_ proto: L4, _ port: UInt16) { self.proto = proto; self.first = port; self.last = port }
    /// `first <= last`.
    public init(_ proto: L4, _ first: UInt16, _ last: UInt16) { self.proto = proto; self.first = min(first, last); self.last = max(first, last) }

    public static let sipUDP = TrafficClass(.udp, 5060)
    public static func < (a: TrafficClass, b: TrafficClass) -> Bool { (a.proto.rawValue, a.first, a.last) < (b.proto.rawValue, b.first, b.last) }
    public var description: String { first == last ? "\(proto.rawValue)/\(first)" : "\(proto.rawValue)/\(first)-\(last)" }

    /// Whether two classes of one protocol share a port or touch (then they are merged).
    public func touches(_ o: TrafficClass) -> Bool {
        proto == o.proto && Int(first) <= Int(o.last) + 1 && Int(o.first) <= Int(last) + 1
    }

    /// Overlapping or adjacent entries of one protocol merged (each port belongs to one class), in
    /// the order their first member was written.
    public static func merged(_ list: [TrafficClass]) -> [TrafficClass] {
        var out: [(TrafficClass, firstIndex: Int)] = []
        for (i, t) in list.enumerated().sorted(by: { $0.element < $1.element }) {
            if let l = out.last, l.0.touches(t) {
                out[out.count - 1] = (TrafficClass(l.0.proto, l.0.first, max(l.0.last, t.last)), min(l.firstIndex, i))
            } else {
                out.append((t, i))
            }
        }
        return out.sorted { $0.firstIndex < $1.firstIndex }.map(\.0)
    }
}

/// A remote collector that receives copies through the node's tunnel port (ERSPAN or VXLAN).
public struct Collector: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The collector's IPv4 address (the tunnel's remote end).
    public let address: [UInt8]
    /// The OVS tunnel port's name on each node's bridge.
    public let tunnel: String
    /// ERSPAN session id / VXLAN VNI (`tun_id`).
    public let sessionID: UInt32

    public static let defaultTunnel = "sipspan0"

    public init(address: [UInt8], tunnel: String = Collector.defaultTunnel, sessionID: UInt32) {
        self.address = address; self.tunnel = tunnel; self.sessionID = sessionID
    }

    /// A stable default session id for a policy name: 1…1023 (valid for ERSPAN and VXLAN alike).
    public static func defaultSessionID(for name: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h % 1023 + 1
    }

    public var addressText: String { address.map(String.init).joined(separator: ".") }
    public var description: String { "collector \(addressText) via \(tunnel) session \(sessionID)" }
    public static func < (a: Collector, b: Collector) -> Bool {
        if a.address != b.address { return a.address.lexicographicallyPrecedes(b.address) }
        if a.tunnel != b.tunnel { return a.tunnel < b.tunnel }
        return a.sessionID < b.sessionID
    }
}

/// What of the watched calls' media a session copies (`media:`), besides their SIP.
public enum MediaCopy: String, Hashable, Comparable, Sendable, CaseIterable {
    /// SIP only (the default).
    case none
    /// The RTCP of each call's negotiated streams (the RTP port with rtcp-mux on both sides).
    case rtcp
    /// RTP and RTCP.
    case rtp

    public static func < (a: MediaCopy, b: MediaCopy) -> Bool { a.rank < b.rank }
    private var rank: Int { self == .none ? 0 : self == .rtcp ? 1 : 2 }
}

/// One policy file: one mirror session.
public struct MirrorSession: Hashable, Sendable {
    public let name: String
    /// The file the session came from.
    public let file: String
    public let monitors: [PortSelector]
    public let watch: WatchSet
    public let traffic: [TrafficClass]
    /// Remote collectors receiving copies through each node's tunnel port.
    public let collectors: [Collector]
    /// Per-call media copies (`media:`).
    public let media: MediaCopy
    /// Where each selector is written (for warnings about what it names).
    public let locations: [PortSelector: SourceLocation]

    public init(name: String, file: String, monitors: [PortSelector], watch: WatchSet, traffic: [TrafficClass] = [.sipUDP],
                collectors: [Collector] = [], media: MediaCopy = .none, locations: [PortSelector: SourceLocation] = [:]) {
        self.name = name; self.file = file; self.monitors = monitors; self.watch = watch; self.traffic = TrafficClass.merged(traffic)
        self.collectors = collectors; self.media = media; self.locations = locations
    }

    /// The session with `tag:` and `pool:` selectors replaced by the VMs they name now.
    public func resolved(with groups: GuestGroups) -> MirrorSession {
        func expand(_ list: [PortSelector]) -> [PortSelector] {
            var out: [PortSelector] = []
            var seen = Set<PortSelector>()
            for s in list {
                let expanded: [PortSelector]
                switch s {
                case let .tag(t, nic): expanded = (groups.tags[t] ?? []).sorted().map { .vm($0, nic: nic) }
                case let .pool(p, nic): expanded = (groups.pools[p] ?? []).sorted().map { .vm($0, nic: nic) }
                case .vm, .port: expanded = [s]
                }
                for e in expanded where seen.insert(e).inserted { out.append(e) }
            }
            return out
        }
        let w: WatchSet
        switch watch {
        case .all: w = .all
        case let .ports(list): w = .ports(expand(list))
        }
        return MirrorSession(name: name, file: file, monitors: expand(monitors), watch: w, traffic: traffic, collectors: collectors,
                             media: media, locations: locations)
    }

    /// Every selector of the session (monitors first).
    public var selectors: [PortSelector] {
        if case let .ports(list) = watch { return monitors + list }
        return monitors
    }

    /// One line for humans: name, monitors, watched entries, traffic.
    public var summary: String {
        let w: String
        switch watch {
        case .all: w = "all VM NICs"
        case let .ports(p): w = p.isEmpty ? "nothing" : p.map(\.description).joined(separator: ", ")
        }
        let m = (monitors.map(\.description) + collectors.map(\.description)).joined(separator: ", ")
        let media = self.media == .none ? "" : "; media \(self.media.rawValue)"
        return "\(name): monitor \(m); watch \(w); traffic \(traffic.map(\.description).joined(separator: ", "))\(media)"
    }
}

/// All sessions in force: the sum of every policy file, with indexes from port names to sessions.
public struct PolicySet: Hashable, Sendable {
    public let sessions: [MirrorSession]
    /// Sessions naming a port as a monitor.
    public let monitorIndex: PortIndex
    /// Sessions watching a port (before monitors are excluded).
    public let watchIndex: PortIndex

    public init(_ sessions: [MirrorSession]) {
        self.sessions = sessions.sorted { $0.name < $1.name }
        var monitors = PortIndex(), watched = PortIndex()
        for (i, s) in self.sessions.enumerated() {
            for m in s.monitors { monitors.add(m, session: i) }
            switch s.watch {
            case .all: watched.addEveryGuest(session: i)
            case let .ports(selectors): for w in selectors { watched.add(w, session: i) }
            }
        }
        monitorIndex = monitors
        watchIndex = watched
    }

    public static let empty = PolicySet([])

    /// The set with every `tag:` and `pool:` selector replaced by the VMs it names in `groups`.
    public func resolved(with groups: GuestGroups) -> PolicySet { PolicySet(sessions.map { $0.resolved(with: groups) }) }

    public static func == (a: PolicySet, b: PolicySet) -> Bool { a.sessions == b.sessions }
    public func hash(into h: inout Hasher) { h.combine(sessions) }

    /// Sessions naming port `name` as a monitor (indices into `sessions`).
    public func sessions(monitoring name: String) -> [Int] { monitorIndex.sessions(selecting: name, parsed: ProxmoxPortName(name)) }

    /// Sessions watching port `name` (before monitor NICs are excluded, which the planner does).
    public func sessions(watching name: String) -> [Int] { watchIndex.sessions(selecting: name, parsed: ProxmoxPortName(name)) }
}
