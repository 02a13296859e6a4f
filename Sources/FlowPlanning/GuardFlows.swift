import OpenFlow

/// Table 0, priority 2000: nothing but copies reaches a monitor NIC (frames it sends, frames tagged
/// with the monitor VLAN), and nothing enters from a collector's tunnel port or a media feed port.
enum GuardFlows {
    static func build(_ t: BridgeTargets, monitorVLAN: UInt16, layout: UInt8) -> [Flow] {
        let cookie = FlowCookie.cookie(.guard_, layout: layout)
        var flows = (t.monitorPorts + t.tunnelPorts.sorted() + t.feedPorts).map {
            Flow(priority: FlowPriority.guardDrop, match: Match([.inPort($0)]), instructions: [], cookie: cookie)
        }
        if !t.monitorPorts.isEmpty {
            flows.append(Flow(priority: FlowPriority.guardDrop, match: Match([.vlanVid(0x1000 | monitorVLAN)]), instructions: [], cookie: cookie))
        }
        return flows
    }
}
