import OpenFlow

/// sipspan's OpenFlow pipeline, declared as data: each table, and per concern (one builder each)
/// the table, cookie and priorities its flows use. The planner's flows are checked against it in tests.
public enum Pipeline {
    /// The tables, in pipeline order.
    public enum Table: UInt8, CaseIterable, Sendable {
        /// Table 0: every frame; forwards it (NORMAL) and, for SIP of watched NICs, marks the copy's
        /// delivery set in the metadata and continues to table 1.
        case classify = 0
        /// Table 1: sends the marked copy to its monitors and collectors, untagged.
        case deliver = 1
    }

    /// One concern of the flow set, built by one builder.
    public struct Concern: Sendable {
        public let name: String
        public let table: Table
        public let cookie: FlowCookie.Kind
        public let priorities: Set<UInt16>
        /// Part of a bridge's plan (false: installed per call, outside the plan).
        public var planned: Bool = true
    }

    public static let concerns: [Concern] = [
        Concern(name: "forwarding (NORMAL)", table: .classify, cookie: .forwarding, priorities: [FlowPriority.normal]),
        Concern(name: "guards (GuardFlows)", table: .classify, cookie: .guard_, priorities: [FlowPriority.guardDrop]),
        Concern(name: "SIP copies (CopyFlows.sip)", table: .classify, cookie: .copy,
                priorities: [FlowPriority.copyFromGuest, FlowPriority.copyFromGuest + 1, FlowPriority.copyToGuest, FlowPriority.copyToGuest + 1,
                             FlowPriority.copyBetweenGuests, FlowPriority.copyBetweenGuests + 1]),
        Concern(name: "fragment copies (CopyFlows.fragments)", table: .classify, cookie: .copy,
                priorities: [FlowPriority.fragmentFromGuest, FlowPriority.fragmentToGuest, FlowPriority.fragmentBetweenGuests]),
        Concern(name: "per-call media copies (MediaFlows, installed per call)", table: .classify, cookie: .media,
                priorities: [FlowPriority.mediaToGuest, FlowPriority.mediaFromGuest, FlowPriority.mediaBetweenGuests], planned: false),
        Concern(name: "MAC learning (LearningFlows)", table: .classify, cookie: .learning, priorities: [FlowPriority.learnUnknown, FlowPriority.learnKnown]),
        Concern(name: "delivery (DeliveryFlows)", table: .deliver, cookie: .delivery, priorities: [FlowPriority.deliveryTagged, FlowPriority.deliveryUntagged]),
    ]

    /// The concern a flow belongs to, nil when it fits none (a planner bug).
    public static func concern(of flow: Flow) -> Concern? {
        concerns.first { $0.table.rawValue == flow.table && FlowCookie.kind(of: flow.cookie) == $0.cookie && $0.priorities.contains(flow.priority) }
    }
}
