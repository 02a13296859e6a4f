/// Selects OVS ports: a Proxmox guest's NIC(s) by VM id, or any port by its exact name.
public enum PortSelector: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// A Proxmox VM or container: every NIC, or only `net<nic>`.
    case vm(UInt32, nic: UInt8?)
    /// An OVS port by its exact name.
    case port(String)

    /// Whether the OVS port called `name` belongs to this selector.
    public func matches(portName name: String) -> Bool {
        switch self {
        case let .port(p): return p == name
        case let .vm(vm, nic):
            guard let parsed = ProxmoxPortName(name) else { return false }
            return parsed.vm == vm && (nic == nil || parsed.nic == nic)
        }
    }

    public var description: String {
        switch self {
        case let .vm(vm, nil): return "vm \(vm)"
        case let .vm(vm, nic?): return "vm \(vm) nic \(nic)"
        case let .port(p): return "port \(p)"
        }
    }

    public static func < (a: PortSelector, b: PortSelector) -> Bool { a.sortKey < b.sortKey }
    private var sortKey: (Int, UInt32, Int, String) {
        switch self {
        case let .vm(vm, nic): return (0, vm, nic.map(Int.init) ?? -1, "")
        case let .port(p): return (1, 0, 0, p)
        }
    }
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

    public init(name: String, file: String, monitors: [PortSelector], watch: WatchSet, traffic: [TrafficClass] = [.sipUDP]) {
        self.name = name; self.file = file; self.monitors = monitors; self.watch = watch; self.traffic = traffic
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

    public static func == (a: PolicySet, b: PolicySet) -> Bool { a.sessions == b.sessions }
    public func hash(into h: inout Hasher) { h.combine(sessions) }

    /// Sessions naming port `name` as a monitor (indices into `sessions`).
    public func sessions(monitoring name: String) -> [Int] { monitorIndex.sessions(selecting: name, parsed: ProxmoxPortName(name)) }

    /// Sessions watching port `name` (before monitor NICs are excluded, which the planner does).
    public func sessions(watching name: String) -> [Int] { watchIndex.sessions(selecting: name, parsed: ProxmoxPortName(name)) }
}
