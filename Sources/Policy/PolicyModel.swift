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

/// An L4 protocol and port whose frames count as SIP.
public struct TrafficClass: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum L4: String, Sendable, CaseIterable { case udp, tcp }
    public let proto: L4
    public let port: UInt16

    public init(_ proto: L4, _ port: UInt16) { self.proto = proto; self.port = port }

    public static let sipUDP = TrafficClass(.udp, 5060)
    public static func < (a: TrafficClass, b: TrafficClass) -> Bool { (a.proto.rawValue, a.port) < (b.proto.rawValue, b.port) }
    public var description: String { "\(proto.rawValue)/\(port)" }
}

/// One policy file: one mirror session.
public struct MirrorSession: Hashable, Sendable {
    public let name: String
    /// The file the session came from.
    public let file: String
    public let monitors: [PortSelector]
    public let watch: WatchSet
    public let traffic: [TrafficClass]
    /// Where each selector is written (for warnings about what it names).
    public let locations: [PortSelector: SourceLocation]

    public init(name: String, file: String, monitors: [PortSelector], watch: WatchSet, traffic: [TrafficClass] = [.sipUDP],
                locations: [PortSelector: SourceLocation] = [:]) {
        self.name = name; self.file = file; self.monitors = monitors; self.watch = watch; self.traffic = traffic
        self.locations = locations
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
        return MirrorSession(name: name, file: file, monitors: expand(monitors), watch: w, traffic: traffic, locations: locations)
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
        return "\(name): monitor \(monitors.map(\.description).joined(separator: ", ")); watch \(w); traffic \(traffic.map(\.description).joined(separator: ", "))"
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
