/// One completed offer/answer (RFC 3264): the two session descriptions whose media is copied
/// (`mediaEndpoints(offer:answer:selection:)`). Either side may have made the offer.
public struct Negotiation: Hashable, Sendable {
    public let offer: SessionDescription
    public let answer: SessionDescription

    public init(offer: SessionDescription, answer: SessionDescription) {
        self.offer = offer
        self.answer = answer
    }
}

/// Why a call's tracking ended.
public enum CallEndReason: Hashable, Sendable, CustomStringConvertible {
    /// A BYE, from either side.
    case bye
    /// A CANCEL of the initial INVITE before any 2xx.
    case cancel
    /// A final 3xx–6xx to the initial INVITE before any 2xx, or a 481 in the confirmed dialog
    /// (RFC 3261 12.2.1.2: the dialog does not exist).
    case rejected(status: Int)
    /// No SIP for the call within `CallTable.Limits.pendingTimeout` or `answeredIdleTimeout`.
    case timeout

    /// `bye`, `cancel`, `rejected(status: 486)`, `timeout` (the log's reason; written without the
    /// reflection a plain interpolation of an enum costs, once per ended call).
    public var description: String {
        switch self {
        case .bye: "bye"
        case .cancel: "cancel"
        case let .rejected(status): "rejected(status: \(status))"
        case .timeout: "timeout"
        }
    }
}

/// What a SIP message (or the clock) changed in the call table, for the caller to turn into flows.
public enum CallChange: Hashable, Sendable {
    /// The call's current negotiations: one per early dialog (fork) with a completed offer/answer,
    /// only the confirmed one after a 2xx. Emitted only when the list changes; an empty list means
    /// the call is still tracked but has nothing to copy now.
    case media(callID: String, negotiated: [Negotiation])
    /// The call is no longer tracked; its copies stop. Emitted once per tracked call.
    case ended(callID: String, reason: CallEndReason)
}
