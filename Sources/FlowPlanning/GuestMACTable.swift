import OpenFlow

/// Guest MAC addresses learned per watched port: bounded, most recent last.
///
/// A MAC seen on a new port moves there (a VM migrated or a MAC reassigned); a port holds at most
/// `perPortLimit` MACs, the oldest evicted first, so a guest spraying source MACs cannot grow it.
public struct GuestMACTable: Hashable, Sendable {
    public static let perPortLimit = 4
    public private(set) var macs: [String: [MACAddress]] = [:]

    public init() {}

    /// Records `mac` as sent by `port`; returns whether the table changed.
    @discardableResult
    public mutating func learn(_ mac: MACAddress, on port: String) -> Bool {
        guard !mac.isMulticast, !mac.isZero else { return false }
        if macs[port]?.last == mac { return false }
        var changed = false
        for (p, list) in macs where p != port && list.contains(mac) {
            macs[p] = list.filter { $0 != mac }
            if macs[p]?.isEmpty == true { macs[p] = nil }
            changed = true
        }
        var list = macs[port] ?? []
        if let i = list.firstIndex(of: mac) {
            list.remove(at: i)
        } else {
            changed = true
        }
        list.append(mac)
        if list.count > GuestMACTable.perPortLimit { list.removeFirst(list.count - GuestMACTable.perPortLimit) }
        macs[port] = list
        return changed
    }

    /// Forgets every MAC of `port`; returns whether the table changed.
    @discardableResult
    public mutating func forget(port: String) -> Bool { macs.removeValue(forKey: port) != nil }

    public func macs(of port: String) -> [MACAddress] { macs[port] ?? [] }

    public var count: Int { macs.values.reduce(0) { $0 + $1.count } }
}
