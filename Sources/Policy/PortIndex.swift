/// Answers "which sessions select this port?" in constant time per port, however many sessions and
/// entries the policy has: selectors are indexed by exact name, by VM id and by (VM id, NIC).
public struct PortIndex: Hashable, Sendable {
    private var byName: [String: [Int]] = [:]
    private var byVM: [UInt32: [Int]] = [:]
    private var byVMNic: [UInt64: [Int]] = [:]
    /// Sessions selecting every Proxmox guest NIC (`watch: all`).
    private var everyGuest: [Int] = []

    init() {}

    mutating func add(_ selector: PortSelector, session: Int) {
        switch selector {
        case let .port(name): byName[name, default: []].append(session)
        case let .vm(vm, nil): byVM[vm, default: []].append(session)
        case let .vm(vm, nic?): byVMNic[UInt64(vm) << 8 | UInt64(nic), default: []].append(session)
        case .tag, .pool: break // resolved to VM ids with the inventory before planning
        }
    }

    mutating func addEveryGuest(session: Int) { everyGuest.append(session) }

    /// Indices (into `PolicySet.sessions`) of the sessions selecting `name`, sorted, without repeats.
    /// `parsed` is `ProxmoxPortName(name)`, passed in so callers parse each name once.
    public func sessions(selecting name: String, parsed: ProxmoxPortName?) -> [Int] {
        var hits = byName[name] ?? []
        if let p = parsed {
            hits += byVM[p.vm] ?? []
            hits += byVMNic[UInt64(p.vm) << 8 | UInt64(p.nic)] ?? []
            hits += everyGuest
        }
        if hits.count < 2 { return hits }
        return Array(Set(hits)).sorted()
    }
}
