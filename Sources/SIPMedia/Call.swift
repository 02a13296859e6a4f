/// One call (one Call-ID) as the call table tracks it: the initial INVITE, its forks, the dialog a
/// 2xx confirmed, and when the call was last heard of. Each message is matched to its dialog by
/// tag and to its offer/answer role by CSeq (`Dialog`).
struct Call: Sendable {
    /// The initial INVITE: its transaction and its offer, which every fork answers.
    struct Initial: Sendable {
        let transaction: Transaction
        let offer: Body

        /// The exchange a new fork starts with.
        var exchange: Exchange {
            switch offer {
            case .none: .awaitingOffer(transaction)
            case .unreadable: .offered(transaction, offer: nil)
            case let .sdp(s): .offered(transaction, offer: s)
            }
        }
    }

    /// Tells this call from an earlier one with the same Call-ID.
    let serial: UInt64
    /// Nil for a call adopted from a re-INVITE or UPDATE (its start was not seen).
    private(set) var initial: Initial?
    /// The forks in the order they answered; after a 2xx only the confirmed one.
    private(set) var dialogs: [Dialog] = []
    /// The tag of the dialog a 2xx confirmed.
    private(set) var confirmed: String?
    /// The called side has answered (a 1xx with a To-tag, or a 2xx): the call is no longer pending.
    private(set) var answered = false
    /// The negotiations last reported in a `.media` change.
    var reported: [Negotiation] = []
    var lastSeen: UInt64
    /// The earliest deadline this call has in the table's schedule (`UInt64.max`: none yet).
    var scheduled = UInt64.max

    /// Whether a message for an unknown Call-ID starts a call: an INVITE outside a dialog, or an
    /// INVITE or UPDATE with SDP within one (the call is adopted, say after a restart).
    static func starts(_ m: SIPMessage) -> Bool {
        guard case let .request(method) = m.start, method == m.cseq.method else { return false }
        if m.toTag == nil { return method == "INVITE" }
        return (method == "INVITE" || method == "UPDATE") && m.sdp?.isEmpty == false
    }

    /// The call a message that `starts` one begins; nil when an adopting request's SDP is unreadable.
    init?(first m: SIPMessage, body: Body, serial: UInt64, now: UInt64) {
        self.serial = serial
        lastSeen = now
        let t = Transaction(m)
        if let tag = m.toTag {
            guard case let .sdp(offer) = body else { return nil }
            dialogs = [Dialog(tag: tag, exchange: .offered(t, offer: offer))]
            confirmed = tag
        } else {
            initial = Initial(transaction: t, offer: body)
        }
    }

    /// The negotiations to copy now.
    var negotiations: [Negotiation] { dialogs.compactMap(\.negotiation) }

    /// When the call is forgotten unless more SIP comes.
    func deadline(pending: UInt64, answered answeredTimeout: UInt64) -> UInt64 {
        let (sum, overflow) = lastSeen.addingReportingOverflow(answered ? answeredTimeout : pending)
        return overflow ? .max : sum
    }

    /// Applies one message of this call; returns why the call ended, if it did.
    mutating func handle(_ m: SIPMessage, body: Body, maxForks: Int) -> CallEndReason? {
        let t = Transaction(m)
        switch m.start {
        case let .request(method):
            guard method == t.method else { return nil }
            guard m.toTag != nil else { return outsideDialog(method, t, body) }
            if method == "BYE" {
                guard let confirmed else { return .bye }
                return m.toTag == confirmed || m.fromTag == confirmed ? .bye : nil  // else a BYE of a dropped fork
            }
            if let d = dialogIndex(m) { dialogs[d].request(method, t, body) }
            return nil
        case let .response(status):
            if let initial, t == initial.transaction { return initialResponse(status, m.toTag, t, body, maxForks) }
            guard let d = dialogIndex(m) else { return nil }
            if status == 481, dialogs[d].tag == confirmed, t.method != "CANCEL", t.method != "PRACK" {
                return .rejected(status: status)  // RFC 3261 12.2.1.2: the dialog does not exist
            }
            if (101..<300).contains(status) { answered = true }
            dialogs[d].response(status, t, body)
            return nil
        }
    }

    /// The initial INVITE's retransmission or restart, or its CANCEL.
    private mutating func outsideDialog(_ method: String, _ t: Transaction, _ body: Body) -> CallEndReason? {
        guard let initial, confirmed == nil, t.fromTag == initial.transaction.fromTag else { return nil }
        if method == "INVITE", t.number > initial.transaction.number {
            // A new initial INVITE (after a 401/407 this table did not see, say): the call starts over.
            self.initial = Initial(transaction: t, offer: body)
            dialogs = []
            answered = false
        } else if method == "CANCEL", t.number == initial.transaction.number {
            return .cancel
        }
        return nil
    }

    /// A response to the initial INVITE: a fork's 1xx, the 2xx that confirms a fork, or the
    /// 3xx–6xx that rejects the call.
    private mutating func initialResponse(_ status: Int, _ toTag: String?, _ t: Transaction, _ body: Body, _ maxForks: Int) -> CallEndReason? {
        guard let initial else { return nil }
        if status >= 300 { return confirmed == nil ? .rejected(status: status) : nil }
        guard status > 100, let tag = toTag else { return nil }
        if let confirmed, confirmed != tag { return nil }  // another fork's 2xx: the caller ACKs and BYEs it
        let d: Int
        if let existing = dialogs.firstIndex(where: { $0.tag == tag }) {
            d = existing
        } else {
            guard dialogs.count < maxForks || status >= 200 else { return nil }
            dialogs.append(Dialog(tag: tag, exchange: initial.exchange))
            d = dialogs.count - 1
        }
        answered = true
        dialogs[d].response(status, t, body)
        if status >= 200 {
            confirmed = tag
            dialogs = [dialogs[d]]
        }
        return nil
    }

    /// Whether the dialog a message names is one of this call's.
    func hasDialog(_ m: SIPMessage) -> Bool { dialogIndex(m) != nil }

    /// The dialog a message within one belongs to: its tags name it from either side.
    private func dialogIndex(_ m: SIPMessage) -> Int? {
        dialogs.firstIndex { $0.tag == m.toTag } ?? dialogs.firstIndex { $0.tag == m.fromTag }
    }
}
