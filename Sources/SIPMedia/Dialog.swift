/// One CSeq transaction: its number and method, and the From-tag of the side that numbered it
/// (each side of a dialog keeps its own CSeq space; a response repeats its request's From).
struct Transaction: Hashable, Sendable {
    let number: UInt32
    let method: String
    let fromTag: String?

    init(_ m: SIPMessage) {
        number = m.cseq.number
        method = m.cseq.method
        fromTag = m.fromTag
    }
}

/// A message's body as offer/answer sees it: none, SDP that failed to parse, or SDP.
enum Body: Sendable {
    case none, unreadable, sdp(SessionDescription)
}

/// An offer/answer exchange in progress in one dialog (RFC 3264; RFC 6337 for where offers go).
enum Exchange: Sendable {
    /// A request (INVITE, UPDATE, PRACK) carried the offer, nil if unreadable; its 1xx/2xx answers.
    case offered(Transaction, offer: SessionDescription?)
    /// An INVITE without a body: its 18x or 2xx carries the offer.
    case awaitingOffer(Transaction)
    /// The INVITE's 18x or 2xx carried the offer: the PRACK or the ACK carries the answer.
    case responseOffered(Transaction, offer: SessionDescription)

    var transaction: Transaction {
        switch self {
        case let .offered(t, _), let .awaitingOffer(t), let .responseOffered(t, _): t
        }
    }
}

/// One dialog of a call: an early dialog per To-tag the INVITE was answered with (a fork), the
/// confirmed one after a 2xx. It holds its current negotiation and at most one exchange in progress.
struct Dialog: Sendable {
    /// The remote tag that tells this dialog from the call's other forks.
    let tag: String
    var negotiation: Negotiation?
    var exchange: Exchange?
    /// The last transaction whose exchange ended: its retransmissions change nothing.
    var completed: Transaction?

    init(tag: String, exchange: Exchange?) {
        self.tag = tag
        self.exchange = exchange
    }

    /// A request within this dialog: a new offer (INVITE, UPDATE, PRACK) or the answer to a
    /// response's offer (PRACK, ACK). An unreadable body leaves the dialog as it was.
    mutating func request(_ method: String, _ t: Transaction, _ body: Body) {
        guard t != completed, t != exchange?.transaction else { return }  // a retransmission
        switch method {
        case "ACK", "PRACK":
            if case let .responseOffered(offered, offer) = exchange, offered.fromTag == t.fromTag,
               method == "PRACK" || offered.number == t.number {
                switch body {
                case let .sdp(answer):
                    negotiation = Negotiation(offer: offer, answer: answer)
                    end(offered)
                case .unreadable:
                    end(offered)
                case .none:
                    // An ACK without the answer ends the exchange; a PRACK without a body is not the answer.
                    if method == "ACK" { end(offered) }
                }
            } else if method == "PRACK", case let .sdp(offer) = body {
                exchange = .offered(t, offer: offer)
            }
        case "INVITE", "UPDATE":
            switch body {
            case let .sdp(offer): exchange = .offered(t, offer: offer)
            case .none where method == "INVITE": exchange = .awaitingOffer(t)
            default: break  // an unreadable offer changes nothing; an UPDATE without one refreshes a session timer
            }
        default:
            break
        }
    }

    /// A response in this dialog: the answer to a request's offer, or a response's offer. A final
    /// 3xx–6xx ends the exchange and keeps the negotiation there was (RFC 3261 14.1).
    mutating func response(_ status: Int, _ t: Transaction, _ body: Body) {
        guard t != completed, let exchange, exchange.transaction == t else { return }
        let success = status < 300
        switch exchange {
        case let .offered(_, offer):
            if success, case let .sdp(answer) = body, let offer { negotiation = Negotiation(offer: offer, answer: answer) }
            if status >= 200 { end(t) }
        case .awaitingOffer:
            if success, case let .sdp(offer) = body { self.exchange = .responseOffered(t, offer: offer) }
            else if status >= 200 { end(t) }
        case .responseOffered:
            // A 2xx after an 18x's offer (or a retransmission) may repeat or replace it; the answer is still to come.
            if !success { end(t) }
            else if case let .sdp(offer) = body { self.exchange = .responseOffered(t, offer: offer) }
        }
    }

    private mutating func end(_ t: Transaction) {
        exchange = nil
        completed = t
    }
}
