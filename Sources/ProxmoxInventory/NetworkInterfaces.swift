import Foundation

/// What sipspan reads of a node's `/etc/network/interfaces` (ifupdown2, as Proxmox writes it).
public enum NetworkInterfaces {
    /// Names of the `iface` stanzas with `ovs_type OVSBridge`.
    public static func ovsBridges(_ text: String) -> Set<String> {
        var bridges = Set<String>()
        var current: String? = nil
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            switch first {
            case "iface": current = words.count > 1 ? String(words[1]) : nil
            case "auto", "allow-hotplug", "source", "source-directory", "mapping": current = nil
            case "ovs_type" where words.count > 1 && words[1] == "OVSBridge":
                if let current { bridges.insert(current) }
            default: break
            }
        }
        return bridges
    }
}
