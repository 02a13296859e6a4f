import Foundation

/// What sipspan reads of a node's `/etc/network/interfaces` (ifupdown2, as Proxmox writes it).
public enum NetworkInterfaces {
    /// One `iface NAME …` stanza: its option lines in order (`ovs_type`, `ovs_extra`, …).
    public struct Stanza: Hashable, Sendable {
        public let name: String
        public var options: [(key: String, value: String)] = []
        public func option(_ key: String) -> String? { options.first { $0.key == key }?.value }
        public static func == (a: Stanza, b: Stanza) -> Bool { a.name == b.name && a.options.map { "\($0.key) \($0.value)" } == b.options.map { "\($0.key) \($0.value)" } }
        public func hash(into h: inout Hasher) { h.combine(name) }
    }

    /// Every `iface` stanza by name (a name repeated adds to the same stanza, as ifupdown2 merges them).
    public static func stanzas(_ text: String) -> [String: Stanza] {
        var out: [String: Stanza] = [:]
        var current: String? = nil
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).prefix(100_000) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: " ", maxSplits: 1)
            let key = String(parts[0]), value = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            switch key {
            case "iface":
                let name = String(value.split(separator: " ").first ?? "")
                current = name.isEmpty ? nil : name
                if let current, out[current] == nil { out[current] = Stanza(name: current) }
            case "auto", "allow-hotplug", "allow-ovs", "source", "source-directory", "mapping":
                current = nil
            default:
                if let current { out[current]?.options.append((key, value)) }
            }
        }
        return out
    }

    /// Names of the `iface` stanzas with `ovs_type OVSBridge`.
    public static func ovsBridges(_ text: String) -> Set<String> {
        Set(stanzas(text).values.filter { $0.option("ovs_type") == "OVSBridge" }.map(\.name))
    }
}
