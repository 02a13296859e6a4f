/// The calls of one bridge and their media, as SIP messages tell it (RFC 3261 dialogs and forks,
/// RFC 3264 offer/answer, RFC 6337 for where offers and answers go): each message in, the changes
/// to copy out. Pure; time is `now` in monotonic nanoseconds, passed in. Bounded: at most
/// `maxCalls` calls of at most `maxForks` forks, a bounded memory of ended calls, and expiry by a
/// heap rather than a scan.
public struct CallTable: Sendable {
    public struct Limits: Hashable, Sendable {
        /// Calls tracked at once, pending and answered; past it a new call is refused (`refused`).
        public var maxCalls: Int
        /// How long a call whose INVITE nobody answered (no 1xx with a To-tag, no 2xx) is kept without
        /// SIP: RFC 3261's Timer B, 64·T1. Once answered (ringing too), `answeredIdleTimeout` applies.
        public var pendingTimeout: UInt64
        /// How long an answered call is kept with no SIP seen for it (the media flows' own idle
        /// timeout is separate).
        public var answeredIdleTimeout: UInt64
        /// Early dialogs (forks) per call; a further fork's 1xx is ignored (a 2xx is not).
        public var maxForks: Int
        /// The longest Call-ID, From-tag and To-tag tracked; messages with longer ones are ignored.
        public var maxCallIDLength: Int
        /// How long messages of an ended call are ignored (a BYE's 200, retransmissions); at most
        /// `maxCalls` ended calls are remembered.
        public var endedHold: UInt64

        public init(maxCalls: Int = 4096, pendingTimeout: UInt64 = 32 * second, answeredIdleTimeout: UInt64 = 6 * 3600 * second,
                    maxForks: Int = 8, maxCallIDLength: Int = 256, endedHold: UInt64 = 32 * second) {
            self.maxCalls = maxCalls
            self.pendingTimeout = pendingTimeout
            self.answeredIdleTimeout = answeredIdleTimeout
            self.maxForks = maxForks
            self.maxCallIDLength = maxCallIDLength
            self.endedHold = endedHold
        }

        /// Nanoseconds per second.
        public static let second: UInt64 = 1_000_000_000
    }

    public let limits: Limits
    /// Calls not tracked because the table was full (one per message that would have started one).
    public private(set) var refused = 0
    /// SDP bodies that failed `SessionDescription.parse` and were ignored.
    public private(set) var sdpFailures = 0
    /// Calls tracked now.
    public var count: Int { calls.count }

    /// Whether a call with this Call-ID is tracked now.
    public func contains(callID: String) -> Bool { calls[callID] != nil }

    /// Whether the call of `message` is tracked and has the dialog its tags name (an early dialog of
    /// a fork, or the confirmed one).
    public func knowsDialog(of message: SIPMessage) -> Bool { calls[message.callID]?.hasDialog(message) ?? false }

    private var calls: [String: Call] = [:]
    private var schedule = DeadlineHeap()
    private var ended: RecentlyEnded
    private var nextSerial: UInt64 = 0

    public init(limits: Limits = Limits()) {
        var l = limits
        l.maxCalls = max(0, l.maxCalls)
        l.maxForks = max(1, l.maxForks)
        l.maxCallIDLength = max(1, l.maxCallIDLength)
        self.limits = l
        ended = RecentlyEnded(capacity: l.maxCalls, hold: l.endedHold)
    }

    /// Applies one SIP message seen on the bridge; returns what changed (nothing for a message of
    /// an unknown or recently ended call that does not start one).
    public mutating func handle(_ message: SIPMessage, now: UInt64) -> [CallChange] {
        ended.prune(now: now)
        let id = message.callID
        let bound = limits.maxCallIDLength
        guard id.utf8.count <= bound, (message.fromTag?.utf8.count ?? 0) <= bound, (message.toTag?.utf8.count ?? 0) <= bound
        else { return [] }
        var call: Call
        // Taken out while it changes (no copy of its dialogs), put back below unless it ended.
        if var existing = calls.removeValue(forKey: id) {
            if let reason = existing.handle(message, body: body(of: message), maxForks: limits.maxForks) {
                finish(id, existing, reason, now: now)
                return [.ended(callID: id, reason: reason)]
            }
            call = existing
        } else {
            if let record = ended[id], !record.allowsRestart(by: message) { return [] }
            guard Call.starts(message) else { return [] }
            guard calls.count < limits.maxCalls else {
                refused += 1
                return []
            }
            guard let started = Call(first: message, body: body(of: message), serial: nextSerial, now: now) else { return [] }
            nextSerial += 1
            ended.remove(id)
            call = started
        }
        call.lastSeen = now
        var changes: [CallChange] = []
        let negotiated = call.negotiations
        if negotiated != call.reported {
            call.reported = negotiated
            changes.append(.media(callID: id, negotiated: negotiated))
        }
        let deadline = deadline(of: call)
        if deadline < call.scheduled {
            call.scheduled = deadline
            schedule.push(.init(deadline: deadline, serial: call.serial, callID: id))
        }
        calls[id] = call
        return changes
    }

    /// Forgets the calls whose time is up (call it about once a second): `.ended(.timeout)` each.
    public mutating func expire(now: UInt64) -> [CallChange] {
        ended.prune(now: now)
        var changes: [CallChange] = []
        while let next = schedule.first, next.deadline <= now {
            schedule.removeFirst()
            guard var call = calls[next.callID], call.serial == next.serial, call.scheduled == next.deadline else { continue }
            let deadline = deadline(of: call)
            if deadline <= now {
                finish(next.callID, call, .timeout, now: now)
                changes.append(.ended(callID: next.callID, reason: .timeout))
            } else {
                call.scheduled = deadline
                calls[next.callID] = call
                schedule.push(.init(deadline: deadline, serial: call.serial, callID: next.callID))
            }
        }
        compactSchedule()
        return changes
    }

    /// Drops a call without a change: the caller's flows for it are all gone. Its later SIP is
    /// treated as for an unknown call.
    public mutating func forget(callID: String) {
        calls[callID] = nil
        compactSchedule()
    }

    /// Heap entries, live and stale (for tests of the bound).
    var scheduledCount: Int { schedule.count }

    private func deadline(of call: Call) -> UInt64 {
        call.deadline(pending: limits.pendingTimeout, answered: limits.answeredIdleTimeout)
    }

    private mutating func body(of m: SIPMessage) -> Body {
        guard let bytes = m.sdp, !bytes.isEmpty else { return .none }
        switch SessionDescription.parse(bytes) {
        case let .success(sdp): return .sdp(sdp)
        case .failure:
            sdpFailures += 1
            return .unreadable
        }
    }

    private mutating func finish(_ id: String, _ call: Call, _ reason: CallEndReason, now: UInt64) {
        calls[id] = nil
        ended.insert(id, serial: call.serial, reason: reason, initial: call.initial?.transaction, now: now)
        compactSchedule()
    }

    /// Rebuilds the schedule from the live calls when stale entries outnumber them (amortised O(1)).
    private mutating func compactSchedule() {
        guard schedule.count > 2 * calls.count + 64 else { return }
        let limits = limits
        calls = calls.mapValues { c in
            var c = c
            c.scheduled = c.deadline(pending: limits.pendingTimeout, answered: limits.answeredIdleTimeout)
            return c
        }
        schedule.rebuild(calls.map { .init(deadline: $0.value.scheduled, serial: $0.value.serial, callID: $0.key) })
    }
}
