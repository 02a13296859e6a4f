import OpenFlow

/// Table 1: one pair of flows per delivery set the copy flows name; copies leave untagged.
enum DeliveryFlows {
    static func build(_ sets: Set<[DeliveryTarget]>, layout: UInt8) -> [Flow] {
        let cookie = FlowCookie.cookie(.delivery, layout: layout)
        let table = Pipeline.Table.deliver.rawValue
        return sets.flatMap { set -> [Flow] in
            let id = deliveryID(set)
            let actions = set.flatMap(\.actions)
            return [
                Flow(table: table, priority: FlowPriority.deliveryTagged, match: Match([.metadata(id), .vlanVid(0x1000, mask: 0x1000)]),
                     instructions: [.applyActions([.popVlan] + actions)], cookie: cookie),
                Flow(table: table, priority: FlowPriority.deliveryUntagged, match: Match([.metadata(id)]), instructions: [.applyActions(actions)], cookie: cookie),
            ]
        }
    }
}
