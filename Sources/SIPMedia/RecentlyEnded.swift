/// Calls that ended a short while ago, so that a BYE's 200, a CANCEL's 487 or a retransmission does
/// not start them again. Bounded in time (`hold`) and in count (`capacity`); entries come in time
/// order, so the oldest is always at the front.
struct RecentlyEnded: Sendable {
    struct Record: Sendable {
        let serial: UInt64
        let reason: CallEndReason
        /// The ended call's initial INVITE (nil for an adopted call).
        let initial: Transaction?
        let until: UInt64

        /// A call rejected with 3xx–6xx may start again: the caller retries (after a 401/407, a 3xx
        /// or a 422) with the same Call-ID and From-tag and a higher CSeq (RFC 3261 8.1.3.4, 22.2).
        func allowsRestart(by m: SIPMessage) -> Bool {
            guard case .rejected = reason, case .request(method: "INVITE") = m.start, m.toTag == nil, let initial else { return false }
            return m.fromTag == initial.fromTag && m.cseq.number > initial.number
        }
    }

    let capacity: Int
    let hold: UInt64
    private var records: [String: Record] = [:]
    private var order: [(callID: String, serial: UInt64)] = []
    private var head = 0

    init(capacity: Int, hold: UInt64) {
        self.capacity = max(1, capacity)
        self.hold = hold
    }

    subscript(callID: String) -> Record? { records[callID] }

    mutating func insert(_ callID: String, serial: UInt64, reason: CallEndReason, initial: Transaction?, now: UInt64) {
        let (until, overflow) = now.addingReportingOverflow(hold)
        records[callID] = Record(serial: serial, reason: reason, initial: initial, until: overflow ? .max : until)
        order.append((callID, serial))
        prune(now: now)
    }

    mutating func remove(_ callID: String) { records[callID] = nil }

    /// Forgets what is past its hold, and the oldest beyond the capacity.
    mutating func prune(now: UInt64) {
        while head < order.count {
            let front = order[head]
            let record = records[front.callID].flatMap { $0.serial == front.serial ? $0 : nil }
            if let record, record.until > now, records.count <= capacity, order.count - head <= 2 * capacity { break }
            if record != nil { records[front.callID] = nil }
            head += 1
        }
        if head > 64, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
