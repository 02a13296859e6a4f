import Policy
import ProxmoxInventory

/// The read-only checks of `sipspan doctor`: a node's OVS, its ifupdown2 configuration and, where
/// present, what Proxmox and the policies say about its guests. Pure: everything is passed in.
public struct Doctor: Sendable {
    /// The controller target the guide uses (`unix:/var/run/openvswitch/sipspan.sock` in per-node mode).
    public var controller: String
    public var monitorVLAN: UInt16
    public var interfacesPath: String

    public init(controller: String = "unix:/var/run/openvswitch/sipspan.sock", monitorVLAN: UInt16 = 4094, interfacesPath: String = "/etc/network/interfaces") {
        self.controller = controller; self.monitorVLAN = monitorVLAN; self.interfacesPath = interfacesPath
    }

    /// - Parameters:
    ///   - interfaces: the text of /etc/network/interfaces, nil when it could not be read.
    ///   - inventory/policy: nil when /etc/pve or the policies are absent (guest checks are skipped).
    public func findings(ovs: OVSSnapshot, interfaces: String?, inventory: Inventory?, policy: PolicySet?, localNode: String?) -> [Finding] {
        var out: [Finding] = []
        let stanzas = interfaces.map(NetworkInterfaces.stanzas) ?? [:]
        let persistent = "in the stanza 'iface BRIDGE' of \(interfacesPath), then ifreload -a"
        let bridgeSettings = { (b: String) in "ovs_extra set bridge \(b) fail-mode=standalone protocols=OpenFlow10,OpenFlow13" }
        // Bridges sipspan should control: the OVSBridge stanzas, else every bridge with guest ports.
        let ovsBridgesInFile = Set(stanzas.filter { $0.value.option("ovs_type") == "OVSBridge" }.keys)
        let managed = ovs.bridges.filter { b in
            ovsBridgesInFile.contains(b.name) || b.ports.contains { ProxmoxPortName($0.name) != nil }
        }
        for b in managed {
            let here = persistent.replacingOccurrences(of: "BRIDGE", with: b.name)
            let extras = stanzas[b.name]?.options.filter { $0.key == "ovs_extra" }.map(\.value) ?? []
            if b.controllers.isEmpty {
                out.append(Finding(b.name, "no controller: sipspan does not program this bridge, nothing is copied",
                                   fix: "ovs_extra set-controller \(b.name) \(controller) -- set controller \(b.name) max_backoff=1000   (\(here))"))
            } else if interfaces != nil, !extras.contains(where: { $0.contains("set-controller") }) {
                out.append(Finding(b.name, "controller \(b.controllers.joined(separator: " ")) is not set by an ovs_extra line: the next ifreload -a (Apply Configuration in the Proxmox UI, an SDN apply) removes it and copies stop silently",
                                   fix: "ovs_extra set-controller \(b.name) \(b.controllers.joined(separator: " "))   (\(here))"))
            }
            // ovs-vswitchd connects to a unix: controller only under its own run directory, compared as
            // text ("possibility for remote exploit" otherwise): such a bridge is never programmed.
            for c in b.controllers where c.hasPrefix("unix:") && !c.hasPrefix("unix:/var/run/openvswitch/") {
                out.append(Finding(b.name, "controller \(c) is refused by ovs-vswitchd: it connects to unix: controllers only under /var/run/openvswitch/ (literally), so this bridge is never programmed and fails open",
                                   fix: "ovs_extra set-controller \(b.name) \(controller)   (\(here)); serve --listen \(controller)"))
            }
            if b.failMode == "secure" {
                out.append(Finding(b.name, "fail_mode=secure: without its controller this bridge forwards nothing (with no flows) instead of falling back to NORMAL",
                                   fix: "\(bridgeSettings(b.name))   (\(here))"))
            }
            if !b.protocols.isEmpty && !b.protocols.contains("OpenFlow13") {
                out.append(Finding(b.name, "protocols=\(b.protocols.joined(separator: ",")) lacks OpenFlow13: sipspan speaks OpenFlow 1.3 only and refuses the connection",
                                   fix: "\(bridgeSettings(b.name))   (\(here))"))
            }
            // A media feed port: an internal port on the monitor VLAN, or sipspan cannot read it (another
            // type) or reads every frame NORMAL floods into it.
            for p in b.ports where MediaFeedName.matches(p.name) {
                let stanza = "the guide's 'iface \(p.name)' stanza (ovs_type OVSIntPort, ovs_bridge \(b.name), ovs_options tag=\(monitorVLAN)) and \(p.name) in the ovs_ports of 'iface \(b.name)' in \(interfacesPath), then ifreload -a"
                if p.type != "internal" {
                    out.append(Finding("port \(p.name)", "media feed port of type '\(p.type.isEmpty ? "system" : p.type)': sipspan reads only an internal port (OVSIntPort) of this node", fix: stanza))
                } else if p.tag != Int(monitorVLAN) {
                    out.append(Finding("port \(p.name)", "media feed port not on the monitor VLAN \(monitorVLAN) (\(p.tag.map { "tag=\($0)" } ?? "untagged")): NORMAL floods the guests' broadcasts and unknown unicast into it",
                                       fix: "ovs-vsctl set port \(p.name) tag=\(monitorVLAN)   (persist: ovs_options tag=\(monitorVLAN) in 'iface \(p.name)' of \(interfacesPath))"))
                }
            }
            for p in b.ports where !p.trunks.isEmpty && !p.trunks.contains(0) && p.tag == nil {
                out.append(Finding("port \(p.name)", "trunks exclude VLAN 0: OVS drops every untagged frame on this port (management, corosync, untagged guests)",
                                   fix: "ovs-vsctl set port \(p.name) trunks=0-4093   (persist: trunks=0-4093 on the ovs_options line of 'iface \(p.name)' in \(interfacesPath))"))
            }
        }
        guard let policy else { return out }
        let inv = inventory ?? .empty
        let resolved = policy.resolved(with: inv.groups)
        // Monitor NICs on this node's bridges, as port names.
        var monitorPorts = Set<String>()
        for b in managed {
            for p in b.ports where !resolved.sessions(monitoring: p.name).isEmpty {
                monitorPorts.insert(p.name)
                let guestFix = qmSet(p.name, inventory: inv, bridge: b.name, tag: monitorVLAN, firewall: false)
                if p.tag != Int(monitorVLAN) {
                    out.append(Finding("monitor \(p.name)", "not on the monitor VLAN \(monitorVLAN) (\(p.tag.map { "tag=\($0)" } ?? "untagged")): NORMAL floods other traffic into the monitor",
                                       fix: guestFix ?? "ovs-vsctl set port \(p.name) tag=\(monitorVLAN)"))
                }
                let firewallOn = p.name.hasPrefix("fwln") || (inv.nic(forPort: p.name)?.nic.firewall ?? false)
                if firewallOn {
                    out.append(Finding("monitor \(p.name)", "the guest firewall is on: copies cross the firewall bridge and conntrack, which can drop them",
                                       fix: guestFix ?? "turn the firewall off on this NIC (Proxmox UI: Hardware, Network Device, Firewall)"))
                }
            }
        }
        for b in managed {
            for p in b.ports where p.tag == Int(monitorVLAN) && !monitorPorts.contains(p.name) && !MediaFeedName.matches(p.name) {
                out.append(Finding("port \(p.name)", "on the monitor VLAN \(monitorVLAN) but no monitor: NORMAL floods its frames into the monitor NICs",
                                   fix: qmSet(p.name, inventory: inv, bridge: b.name, tag: nil, firewall: nil, note: "another VLAN than \(monitorVLAN)")
                                       ?? "ovs-vsctl set port \(p.name) tag=<another VLAN>"))
            }
        }
        // Collectors need their tunnel port on every bridge, with a per-flow destination and key.
        let tunnels = Set(resolved.sessions.flatMap(\.collectors).map(\.tunnel))
        for b in managed {
            for t in tunnels.sorted() {
                let line = "ovs_extra --may-exist add-port \(b.name) \(t) -- set interface \(t) type=erspan options:remote_ip=flow options:key=flow options:erspan_ver=1   (in the stanza 'iface \(b.name)' of \(interfacesPath), then ifreload -a; type=vxlan for a VXLAN collector)"
                guard let p = b.ports.first(where: { $0.name == t }) else {
                    out.append(Finding(b.name, "no tunnel port '\(t)': copies for the collector(s) of the policy are not sent from this node", fix: line))
                    continue
                }
                if !["erspan", "vxlan", "ip6erspan", "gre"].contains(p.type) || p.options["remote_ip"] != "flow" || p.options["key"] != "flow" {
                    out.append(Finding("port \(t)", "tunnel port of type '\(p.type)' with remote_ip=\(p.options["remote_ip"] ?? "-") key=\(p.options["key"] ?? "-"): sipspan sets the destination and key per flow, so both must be 'flow'", fix: line))
                }
            }
        }
        // Watched guests of this node whose NIC is not on an OVS bridge here.
        if let localNode {
            let bridges = Set(ovs.bridges.map(\.name))
            for g in inv.guests.values.sorted(by: { $0.vmid < $1.vmid }) where g.node == localNode {
                for (_, n) in g.nics.sorted(by: { $0.key < $1.key }) {
                    let names = n.portNames(vmid: g.vmid, kind: g.kind)
                    guard names.contains(where: { !resolved.sessions(watching: $0).isEmpty }), let bridge = n.bridge, !bridges.contains(bridge) else { continue }
                    let model = g.kind == .qemu ? "virtio=\(n.mac?.description.uppercased() ?? "MAC")" : "name=eth\(n.index),hwaddr=\(n.mac?.description.uppercased() ?? "MAC")"
                    out.append(Finding("VM \(g.label) net\(n.index)", "watched, but on bridge '\(bridge)', which is not an Open vSwitch bridge of this node: its SIP cannot be copied",
                                       fix: "\(g.kind == .qemu ? "qm" : "pct") set \(g.vmid) --net\(n.index) \(model),bridge=\(managed.first?.name ?? "vmbr0")\(n.tag.map { ",tag=\($0)" } ?? "")"))
                }
            }
        }
        return out
    }

    /// `qm set 900 --net1 virtio=MAC,bridge=vmbr0,tag=4094,firewall=0` for a guest port the inventory knows.
    private func qmSet(_ port: String, inventory: Inventory, bridge: String, tag: UInt16?, firewall: Bool?, note: String? = nil) -> String? {
        guard let (g, n) = inventory.nic(forPort: port) else { return nil }
        let mac = n.mac?.description.uppercased() ?? "MAC"
        var line = g.kind == .qemu ? "qm set \(g.vmid) --net\(n.index) virtio=\(mac),bridge=\(bridge)" : "pct set \(g.vmid) --net\(n.index) name=eth\(n.index),hwaddr=\(mac),bridge=\(bridge)"
        if let tag { line += ",tag=\(tag)" } else if let note { line += ",tag=<\(note)>" }
        if let firewall { line += ",firewall=\(firewall ? 1 : 0)" } else if n.firewall { line += ",firewall=1" }
        return line
    }
}
