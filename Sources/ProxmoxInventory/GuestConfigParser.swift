import OpenFlow
import Policy

/// Parses a QEMU (`qemu-server/<vmid>.conf`) or LXC (`lxc/<vmid>.conf`) config as pmxcfs holds it.
///
/// Only the top section counts: `[PENDING]` and snapshot sections (`[name]`) describe other states.
/// Keys sipspan does not need are skipped; a malformed line that it needs (a `netN`, `tags`, `name`)
/// is a diagnostic with FILE:LINE:COLUMN. Pure: bytes in, guest or diagnostics out.
public enum GuestConfigParser {
    /// Config files larger than this are refused (real ones are a few KiB).
    public static let maximumFileSize = 512 << 10
    /// Diagnostics reported for one file at most (the rest of a broken file is not read).
    public static let maximumDiagnostics = 50
    /// QEMU NIC models: `model=MAC` is how Proxmox writes a NIC's MAC.
    static let qemuModels: Set<String> = [
        "virtio", "e1000", "e1000e", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "i82551", "i82557b", "i82559er",
        "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "vmxnet3",
    ]

    public static func parse(bytes: [UInt8], file: String, vmid: UInt32, kind: Guest.Kind, node: String) -> Result<Guest, PolicyErrors> {
        func diag(_ line: Int, _ column: Int, _ message: String) -> Diagnostic {
            Diagnostic(.error, SourceLocation(file: file, line: line, column: column), message)
        }
        guard bytes.count <= maximumFileSize else {
            return .failure(PolicyErrors([diag(1, 1, "file is \(bytes.count) bytes; guest configs are limited to \(maximumFileSize)")]))
        }
        guard !bytes.contains(0) else { return .failure(PolicyErrors([diag(1, 1, "file contains a NUL byte")])) }
        let text = String(decoding: bytes, as: UTF8.self)
        var diagnostics: [Diagnostic] = []
        var name: String? = nil
        var tags: [String] = []
        var nics: [UInt8: GuestNIC] = [:]
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            // Checked first: a `continue` below must not skip the bound.
            if diagnostics.count >= maximumDiagnostics { break }
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("[") { break } // [PENDING] or a snapshot: not the current config
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                diagnostics.append(diag(lineNumber, 1, "expected 'key: value'")); continue
            }
            let key = line[..<colon]
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            let valueColumn = line.distance(from: line.startIndex, to: value.startIndex) + 1
            switch key {
            case "name", "hostname":
                name = String(value)
            case "tags":
                tags = value.split(whereSeparator: { $0 == ";" || $0 == "," || $0 == " " }).map { $0.lowercased() }
            default:
                guard key.hasPrefix("net"), let index = UInt8(key.dropFirst(3)), index <= 31, key.count <= 5 else { continue }
                switch parseNIC(value, index: index, kind: kind, line: lineNumber) {
                case let .success(nic): nics[index] = nic
                case let .failure(problem): diagnostics.append(diag(lineNumber, valueColumn + problem.offset, "\(key): \(problem.message)"))
                }
            }
        }
        guard diagnostics.isEmpty else { return .failure(PolicyErrors(diagnostics)) }
        return .success(Guest(vmid: vmid, kind: kind, node: node, name: name, tags: tags, nics: nics))
    }

    struct Problem: Error { let offset: Int; let message: String }

    /// `virtio=BC:24:11:5E:2A:01,bridge=vmbr0,firewall=1,tag=10,trunks=10;20,link_down=1` (QEMU) or
    /// `name=eth0,bridge=vmbr0,hwaddr=BC:…,type=veth,tag=10` (LXC).
    static func parseNIC(_ value: Substring, index: UInt8, kind: Guest.Kind, line: Int = 0) -> Result<GuestNIC, Problem> {
        var mac: MACAddress? = nil, bridge: String? = nil, tag: UInt16? = nil, trunks: String? = nil
        var firewall = false, linkDown = false
        var offset = 0
        for item in value.split(separator: ",", omittingEmptySubsequences: false) {
            defer { offset += item.count + 1 }
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = String(parts[0]), v = parts.count > 1 ? String(parts[1]) : nil
            func flag(_ v: String?) -> Result<Bool, Problem> {
                switch v {
                case "1", "on", "yes", "true": return .success(true)
                case "0", "off", "no", "false": return .success(false)
                default: return .failure(Problem(offset: offset, message: "'\(k)' must be 0 or 1, found '\(v ?? "")'"))
                }
            }
            switch k {
            case _ where kind == .qemu && qemuModels.contains(k.lowercased()), "macaddr", "hwaddr":
                guard let v, !v.isEmpty else { continue } // a model without a MAC yet
                guard let m = MACAddress(v.lowercased()), !m.isMulticast else {
                    return .failure(Problem(offset: offset, message: "invalid MAC address '\(v.prefix(40))'"))
                }
                mac = m
            case "model", "name", "type", "queues", "rate", "mtu", "ip", "ip6", "gw", "gw6":
                continue
            case "bridge":
                guard let v, !v.isEmpty, v.count <= 64 else { return .failure(Problem(offset: offset, message: "empty or overlong bridge name")) }
                bridge = v
            case "tag":
                guard let v, let t = UInt16(v), (1...4094).contains(t) else {
                    return .failure(Problem(offset: offset, message: "'tag' must be a VLAN id 1..4094, found '\((v ?? "").prefix(20))'"))
                }
                tag = t
            case "trunks":
                guard let v, !v.isEmpty, v.allSatisfy({ $0.isNumber || $0 == ";" || $0 == "-" }) else {
                    return .failure(Problem(offset: offset, message: "'trunks' must look like '10;20;30-40'"))
                }
                trunks = v
            case "firewall":
                switch flag(v) { case let .success(b): firewall = b; case let .failure(p): return .failure(p) }
            case "link_down":
                switch flag(v) { case let .success(b): linkDown = b; case let .failure(p): return .failure(p) }
            default:
                continue // other options (e.g. a newer Proxmox's) do not concern sipspan
            }
        }
        return .success(GuestNIC(index: index, mac: mac, bridge: bridge, tag: tag, trunks: trunks, firewall: firewall, linkDown: linkDown, line: line))
    }
}
