import OpenFlow

/// Table 0, priorities 900/901: guest MAC learning for watched Proxmox NICs the inventory does not
/// describe. Unknown source MACs go to the controller (bounded, rate-limited there); known ones not.
enum LearningFlows {
    /// The flows and the ports whose PACKET_INs are accepted.
    static func build(_ t: BridgeTargets, packetBytes: UInt16, layout: UInt8) -> ([Flow], Set<UInt32>) {
        let cookie = FlowCookie.cookie(.learning, layout: layout)
        var flows: [Flow] = [], ports = Set<UInt32>()
        for name in t.watched where t.guestNICs.contains(name) && t.knownMACs[name] == nil {
            guard let ofport = t.ports[name], !(t.allTargets[name] ?? []).isEmpty else { continue }
            ports.insert(ofport)
            flows.append(Flow(priority: FlowPriority.learnUnknown, match: Match([.inPort(ofport)]),
                              instructions: [.applyActions([.normal, .output(port: PortNumber.controller, maxLength: packetBytes)])], cookie: cookie))
            for mac in t.guestMACs[name] ?? [] {
                flows.append(Flow(priority: FlowPriority.learnKnown, match: Match([.inPort(ofport), .ethSrc(mac)]),
                                  instructions: [.applyActions([.normal])], cookie: cookie))
            }
        }
        return (flows, ports)
    }
}
