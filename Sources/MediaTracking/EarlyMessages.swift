import SIPMedia

/// SIP messages that reached the tracker before a message they follow, held a short while so that
/// message's arrival can place them: a response to an INVITE before the INVITE, an ACK or PRACK with
/// the answer before the response that carried the offer (`MediaTracker.cameEarly`).
///
/// On OVS's kernel datapath a copy flow's PACKET_IN is a datapath `userspace` action: the kernel
/// forwards the frame at once and queues the upcall to the handler thread of the CPU that received
/// it (per-CPU upcall dispatch). An INVITE and the 200 OK that answers it cross the bridge on
/// different CPUs, so their PACKET_INs may come to sipspan in the reverse order. Without this the
/// answer is lost and the call gets no media copies. Bounded in time (`hold`), count (`capacity`)
/// and bytes (`maxBytes`); the oldest go first.
struct EarlyMessages: Sendable {
    struct Entry: Sendable {
        let message: SIPMessage
        /// The media NICs the frame was seen on (as the tracker found them).
        let ports: [UInt32]
        let until: UInt64
        let size: Int
    }

    let capacity: Int
    let maxBytes: Int
    let hold: UInt64
    /// In arrival order from `head` on (nil: taken); `until` grows with it, re-held entries aside, so
    /// the front is the oldest.
    private var entries: [Entry?] = []
    private var head = 0
    private var byCall: [String: Int] = [:]
    private var bytes = 0

    init(capacity: Int, maxBytes: Int, hold: UInt64) {
        self.capacity = max(0, capacity)
        self.maxBytes = max(0, maxBytes)
        self.hold = hold
    }

    /// Messages held now.
    private(set) var count = 0

    /// Whether a message of this call is held.
    func holds(callID: String) -> Bool { count > 0 && byCall[callID] != nil }  // no hashing while empty (every frame asks)

    /// Holds a message until `now + hold`, dropping the oldest beyond the bounds.
    mutating func hold(_ message: SIPMessage, ports: [UInt32], now: UInt64) {
        prune(now: now)
        let (until, overflow) = now.addingReportingOverflow(hold)
        hold(Entry(message: message, ports: ports, until: overflow ? .max : until, size: 256 + message.callID.utf8.count + (message.sdp?.count ?? 0)))
    }

    /// Holds a taken entry again, until its own deadline (it may then stand behind later ones: it
    /// is forgotten a little late, never beyond the bounds).
    mutating func hold(_ e: Entry) {
        guard capacity > 0, e.size <= maxBytes else { return }
        while count > 0, count >= capacity || bytes + e.size > maxBytes { dropFirst() }
        entries.append(e)
        byCall[e.message.callID, default: 0] += 1
        bytes += e.size
        count += 1
    }

    /// The held messages of a call, in arrival order, no longer held.
    mutating func take(callID: String, now: UInt64) -> [Entry] {
        prune(now: now)
        guard byCall.removeValue(forKey: callID) != nil else { return [] }
        var taken: [Entry] = []
        for i in head..<entries.count {
            guard let e = entries[i], e.message.callID == callID else { continue }
            taken.append(e)
            entries[i] = nil
            bytes -= e.size
            count -= 1
        }
        compact()
        return taken
    }

    /// Forgets what is past its hold.
    mutating func prune(now: UInt64) {
        while head < entries.count {
            guard let first = entries[head] else { head += 1; continue }
            guard first.until <= now else { break }
            dropFirst()
        }
        compact()
    }

    /// Drops the oldest entry held.
    private mutating func dropFirst() {
        while head < entries.count {
            defer { head += 1 }
            guard let e = entries[head] else { continue }
            entries[head] = nil
            bytes -= e.size
            count -= 1
            let id = e.message.callID
            if let n = byCall[id], n > 1 { byCall[id] = n - 1 } else { byCall[id] = nil }
            return
        }
    }

    /// Gives back the slots before `head` once they are most of the array, and the holes once they
    /// outnumber the bound (amortised O(1)).
    private mutating func compact() {
        if count == 0 {
            entries.removeAll(keepingCapacity: entries.count <= 2 * capacity)
            head = 0
        } else if entries.count - head > 2 * capacity + 64 {
            // Holes left by `take` behind a live oldest entry: keep the live ones only.
            entries = entries[head...].filter { $0 != nil }
            head = 0
        } else if head > 64, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
