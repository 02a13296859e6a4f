/// The name Proxmox VE gives a guest NIC's port on an OVS bridge:
/// `tap<vm>i<nic>` (QEMU), `veth<vm>i<nic>` (LXC), `fwln<vm>o<nic>` (NIC with firewall on).
public struct ProxmoxPortName: Hashable, Sendable {
    public enum Kind: String, Sendable { case tap, veth, fwln }
    public let kind: Kind
    public let vm: UInt32
    public let nic: UInt8

    public init?(_ name: String) {
        let forms: [(Kind, Character)] = [(.tap, "i"), (.veth, "i"), (.fwln, "o")]
        for (kind, sep) in forms where name.hasPrefix(kind.rawValue) {
            let rest = name.dropFirst(kind.rawValue.count)
            guard let i = rest.firstIndex(of: sep) else { return nil }
            let vmText = rest[rest.startIndex..<i], nicText = rest[rest.index(after: i)...]
            guard !vmText.isEmpty, !nicText.isEmpty, vmText.allSatisfy(\.isASCIIDigit), nicText.allSatisfy(\.isASCIIDigit),
                  vmText.count <= 10, nicText.count <= 3,
                  let vm = UInt32(vmText), let nic = UInt8(nicText) else { return nil }
            self.kind = kind; self.vm = vm; self.nic = nic
            return
        }
        return nil
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
